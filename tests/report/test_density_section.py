"""The density section: Table 1 for the data sets present, Figure 6 only with both inits."""

from types import SimpleNamespace

from propensity.report.density_section import density_part, missing_side
from tests.analysis.synthetic import make_tables


def test_figure_6_is_left_out_with_a_note_when_he_runs_are_missing(tmp_path):
    tables = make_tables(widths=(0.5, 1.0), init_seeds=(0, 1), inits=("glorot",), broken=False)
    part = density_part(tables, tmp_path)
    assert "fig6_ed_by_init" not in part.figures and not (tmp_path / "fig6_ed_by_init.png").exists()
    note = "Figure 6 (Glorot vs He) is left out: no complete He runs (add them with `init=glorot,he`)."
    assert note in [b for b in part.blocks if isinstance(b, str)]
    both = make_tables(widths=(0.5, 1.0), init_seeds=(0, 1), broken=False)
    assert missing_side(both.runs, "fig6_ed_by_init") == ""


def test_table1_compares_with_the_paper_only_for_the_data_sets_present(tmp_path):
    tables = make_tables(widths=(0.5, 1.0), init_seeds=(0, 1), broken=False)
    digits = density_part(tables, tmp_path).render()
    assert "the paper's Table 1 is not compared here" in digits
    runs = tables.runs.copy()
    runs.loc[runs["model"] == "mlp", "data"] = "mnist"
    text = density_part(SimpleNamespace(runs=runs, trajectories=tables.trajectories,
                                        histories=tables.histories), tmp_path).render()
    assert "Beside the paper's Table 1" in text
    assert "| mlp | 0.1 | 1x28x28 |" in text and "| conv2 |" not in text.split("Beside the paper")[1]

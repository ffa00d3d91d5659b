"""`build_report` end to end on hand-made tables: Markdown, figures and CSVs, all consistent."""

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from propensity.analysis import ANOVA_MARK, method_summary, table2
from propensity.mechanisms.artifacts import (
    ACTIVATIONS,
    CORRECTNESS,
    WEIGHTS_FINAL,
    WEIGHTS_INIT,
    artifact_path,
    save_activation_statistics,
    save_correctness,
    save_weights,
)
from propensity.report import FIGURES, build_report, markdown_table
from propensity.report import parts as report_parts
from propensity.report.mechanisms_section import mechanisms_part
from tests.analysis.synthetic import make_tables
from tests.report.test_layout import layout_problems


@pytest.fixture(scope="module")
def report_dir(tables, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    build_report(tables, out, source="hand-made")
    return out


def test_report_has_every_table_and_figure(report_dir):
    text = (report_dir / "report.md").read_text()
    for heading in ("Table 1", "Table 2", "One-way ANOVA", "Pairing with the 1x twin"):
        assert heading in text
    assert f"MLP/SGD · digits {ANOVA_MARK}" in text
    assert "98 runs, 96 of them complete" in text
    for stem, _, _ in FIGURES:
        assert (report_dir / "figures" / f"{stem}.png").stat().st_size > 1000
        assert (report_dir / "figures" / f"{stem}.pdf").is_file()
        assert f"](figures/{stem}.png)" in text


def test_csv_tables_hold_the_analysis_numbers(report_dir, tables):
    saved = pd.read_csv(report_dir / "tables" / "table2.csv")
    expected = table2(tables.runs)
    assert saved["mean_ed"].to_numpy() == pytest.approx(expected["mean_ed"].to_numpy())
    assert saved["p_holm"].to_numpy() == pytest.approx(
        expected["p_holm"].to_numpy(), nan_ok=True
    )
    counts = pd.read_csv(report_dir / "tables" / "status_counts.csv")
    assert counts[["failed", "diverged"]].to_numpy().sum() == 2


def test_report_on_one_run_says_what_could_not_be_tested(degenerate, tmp_path):
    text = build_report(degenerate, tmp_path).read_text()
    assert "ANOVA needs >= 2" in text
    assert "1 run: no std" in text


def test_markdown_table_escapes_pipes_and_shows_missing_values():
    frame = pd.DataFrame({"a": ["x|y", None], "b": [1.5, float("nan")]})
    assert markdown_table(frame).splitlines() == [
        "| a | b |",
        "|---|---|",
        "| x\\|y | 1.5 |",
        "| n/a | n/a |",
    ]


# --- Pruning methods and section 5, from real artifact files in tmp run dirs ---

ENABLE = "artifacts.weights=true artifacts.correctness=true artifacts.activations=true"
LAYERS = {"fc1.weight": (30, 64), "fc2.weight": (10, 30), "proj.weight": (10, 10)}
IMAGES = 40


def _write_artifacts(run_dir, width: float, seed: int) -> None:
    """Weights whose 40% overlap is known per width, width-determined correctness, activations.

    0.5x: final weights = initial ones (overlap 40%); 1x: magnitudes reversed (overlap 0%);
    2x: independent draws. A width fixes the first 0, 4 or 8 images' correctness and the
    seed one more image, so two runs differ on 2 images within a width and on 4 or 8 more
    across widths. (No two vectors are equal: exact duplicates make sklearn's Barnes-Hut
    t-SNE take tens of seconds.)
    """
    rng = torch.Generator().manual_seed(seed)
    initial = {name: torch.rand(shape, generator=rng) + 0.01 for name, shape in LAYERS.items()}
    if width == 0.5:
        final = {name: w.clone() for name, w in initial.items()}
    elif width == 1.0:
        final = {name: 1.0 / w for name, w in initial.items()}
    else:
        final = {name: torch.rand(w.shape, generator=rng) for name, w in initial.items()}
    save_weights(artifact_path(run_dir, WEIGHTS_INIT), initial)
    save_weights(artifact_path(run_dir, WEIGHTS_FINAL), final)
    correct = torch.ones(IMAGES, dtype=torch.bool)
    correct[: {0.5: 8, 1.0: 4, 2.0: 0}[width]] = False  # 0.5x vs 2x differ on 8 images
    correct[20 + seed] = False
    save_correctness(artifact_path(run_dir, CORRECTNESS), correct, torch.zeros(IMAGES, dtype=torch.long))
    units = {"fc1": 30, "fc2": 10}
    stats = {
        layer: {
            "hoyer": np.r_[np.full(n - 1, width / 4), np.nan],  # one dead unit per layer
            "selectivity": np.full(n, 2.0 * width),
            "selectivity_normalized": np.r_[np.full(n - 1, 0.5), np.nan],
            "class_means": np.ones((n, 10)),
        }
        for layer, n in units.items()
    }
    save_activation_statistics(artifact_path(run_dir, ACTIVATIONS), stats)


@pytest.fixture(scope="module")
def artifact_tables(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    made = make_tables(
        widths=(0.5, 1.0, 2.0),
        init_seeds=(0, 1, 2),
        data_seeds=(0,),
        inits=("glorot",),
        model_types=(("mlp", "sgd"),),
        broken=False,
    )
    runs = made.runs.copy()
    runs["run_dir"] = [str(base / key) for key in runs["run_key"]]
    runs["effective_density_magnitude"] = runs["effective_density"]
    runs["unpruned_weights_magnitude"] = runs["unpruned_weights"]
    runs["effective_density_random"] = (runs["effective_density"] + 0.3).clip(upper=1.0)
    runs["unpruned_weights_random"] = (runs["effective_density_random"] * runs["total_weights"]).round()
    for _, run in runs.iterrows():
        _write_artifacts(run["run_dir"], run["width"], run["init_seed"])
    random = made.trajectories.assign(method="random", val_acc=made.trajectories["val_acc"] - 0.1)
    trajectories = pd.concat([made.trajectories, random], ignore_index=True)
    return SimpleNamespace(runs=runs, trajectories=trajectories, histories=made.histories)


@pytest.fixture(scope="module")
def artifact_report(artifact_tables, tmp_path_factory):
    """The report with methods and section 5; also every figure it saved and every warning."""
    out = tmp_path_factory.mktemp("report5")
    figures = {}
    real = report_parts.save_figure

    def keep(fig, figures_dir, stem):
        figures[stem] = fig
        real(fig, figures_dir, stem)

    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings(record=True) as caught:
        patch.setattr(report_parts, "save_figure", keep)
        warnings.simplefilter("always")
        text = build_report(artifact_tables, out, source="hand-made with artifacts").read_text()
    return text, out, SimpleNamespace(figures=figures, warnings=[str(w.message) for w in caught])


def test_report_with_every_section_warns_nothing_and_every_figure_is_legible(artifact_report):
    *_, rendered = artifact_report
    assert rendered.warnings == []
    assert [p for stem, fig in rendered.figures.items() for p in layout_problems(fig, stem)] == []
    tsne = rendered.figures["fig7_8_tsne"]
    assert len([ax for ax in tsne.axes if ax.get_visible()]) == 1
    assert tsne.get_suptitle().replace("\n", " ").startswith(
        "t-SNE of correctness, MLP/SGD · digits, glorot"
    )


def test_report_compares_pruning_methods(artifact_report, artifact_tables):
    text, out, _ = artifact_report
    assert "## Pruning methods" in text and "Methods: magnitude, random." in text
    saved = pd.read_csv(out / "tables" / "methods_summary.csv")
    expected = method_summary(artifact_tables.runs)
    assert saved["n"].tolist() == [3] * 6
    assert saved["mean_ed"].to_numpy() == pytest.approx(expected["mean_ed"].to_numpy())
    paired = pd.read_csv(out / "tables" / "methods_paired.csv")
    assert paired["n_pairs"].tolist() == [3, 3, 3] and set(paired["method"]) == {"random"}
    for stem in ("methods_ed_by_width", "methods_trajectories_random"):
        assert (out / "figures" / f"{stem}.png").stat().st_size > 1000
        assert f"](figures/{stem}.png)" in text


def test_report_section5_overlap_tables_with_chance_line(artifact_report):
    text, out, _ = artifact_report
    assert "## Why density? (section 5)" in text and ENABLE not in text
    assert "**MLP/SGD · digits, glorot** (9 runs)" in text
    assert "| 0.5 | 40.0 | 40.0 | 40.0 | 3 |" in text
    assert "| 1 | 0.0 | 0.0 | 0.0 | 3 |" in text
    assert "| chance | 16.0 | 16.0 | 16.0 |  |" in text
    frame = pd.read_csv(out / "tables" / "section5_overlap_runs.csv")
    assert len(frame) == 9 * 3


def test_report_section5_hamming_distances_and_tsne(artifact_report):
    text, out, _ = artifact_report
    hamming = pd.read_csv(out / "tables" / "section5_hamming.csv").iloc[0]
    assert hamming["models"] == 9 and hamming["images"] == IMAGES and hamming["data_seed"] == 0
    assert hamming["within"] == 2
    # Per width pair 9 pairs, 6 of them of different seeds (+2): widths add 4, 8 or 4.
    assert hamming["across"] == pytest.approx(16 / 3 + 2 * 6 / 9)
    # Only relabellings that keep the three groups of runs reach the observed difference:
    # 3! of the 9! / 3!^3 = 1680 distinct labellings, so p is about 6/1680 (seeded test).
    assert hamming["p_value"] < 0.01
    by_width = pd.read_csv(out / "tables" / "section5_hamming_by_width.csv").set_index("width")
    assert by_width.loc[0.5, "2x"] == pytest.approx(8 + 2 * 6 / 9) and by_width.loc[1.0, "1x"] == 2
    assert (out / "figures" / "fig7_8_tsne.png").stat().st_size > 1000
    assert "](figures/fig7_8_tsne.png)" in text


def test_report_section5_activation_summary(artifact_report):
    text, out, _ = artifact_report
    summary = pd.read_csv(out / "tables" / "section5_activations.csv").set_index(["layer", "width"])
    fc1 = summary.loc[("fc1", 2.0)]
    assert fc1["runs"] == 3 and fc1["hoyer"] == pytest.approx(0.5)
    assert fc1["dead_fraction"] == pytest.approx(1 / 30) and fc1["selectivity"] == pytest.approx(4.0)
    assert "### 5.3 Activation sparsity and class selectivity" in text


def test_report_without_artifacts_says_how_to_enable_them(report_dir):
    text = (report_dir / "report.md").read_text()
    assert f"No section-5 artifacts in these 96 runs; enable them with `{ENABLE}`." in text
    assert "Only magnitude pruning was run" in text
    assert not (report_dir / "tables" / "section5_overlap_runs.csv").exists()


def test_section5_with_only_some_artifacts_names_the_missing_override(artifact_tables, tmp_path):
    runs = artifact_tables.runs.copy()
    for i, run_dir in enumerate(runs["run_dir"]):  # copies of the runs with correctness only
        target = artifact_path(tmp_path / str(i), CORRECTNESS)
        target.parent.mkdir(parents=True)
        target.write_bytes(artifact_path(run_dir, CORRECTNESS).read_bytes())
        runs.loc[runs.index[i], "run_dir"] = str(tmp_path / str(i))
    part = mechanisms_part(SimpleNamespace(runs=runs), tmp_path / "figures")
    text = "\n".join(s for s in part.sections if isinstance(s, str))
    assert "No weight artifacts: enable them with `artifacts.weights=true`." in text
    assert "No activation artifacts: enable them with `artifacts.activations=true`." in text
    assert part.figures == ["fig7_8_tsne"] and set(part.csvs) == {
        "section5_hamming",
        "section5_hamming_by_width",
    }


def _outside(fig) -> list[str]:
    """The titles of `fig` (its suptitle, every visible axes' title) whose drawn extent leaves
    the canvas, after a draw (the constrained layout places them then)."""
    fig.draw_without_rendering()
    canvas = fig.bbox
    texts = [fig._suptitle] if fig._suptitle is not None else []
    texts += [ax.title for ax in fig.axes if ax.get_visible() and ax.title.get_text()]
    # half a pixel: the extent is rounded to whole pixels by the renderer
    return [
        t.get_text() for t in texts
        if (box := t.get_window_extent()).x0 < canvas.x0 - 0.5 or box.x1 > canvas.x1 + 0.5
        or box.y0 < canvas.y0 - 0.5 or box.y1 > canvas.y1 + 0.5
    ]


def test_every_figure_title_fits_inside_its_canvas(artifact_tables, tmp_path, monkeypatch):
    """One model type gives one-panel figures, the narrowest canvas a long title meets."""
    from propensity.report import parts

    drawn = {}
    save = parts.save_figure

    def keep(fig, figures_dir, stem):
        drawn[stem] = fig
        save(fig, figures_dir, stem)

    monkeypatch.setattr(parts, "save_figure", keep)
    build_report(artifact_tables, tmp_path, source="titles")
    assert {"fig3_pruning_trajectories", "exponent", "fig7_8_tsne"} <= set(drawn)
    assert {stem: cut for stem, fig in drawn.items() if (cut := _outside(fig))} == {}


def test_report_leads_with_the_exponent_and_saves_its_table_and_figure(report_dir, tables):
    from propensity.analysis.exponent import exponent_table

    text = (report_dir / "report.md").read_text()
    findings = text[text.index("## Key findings"):text.index("## Runs")]
    assert findings.index("propensity exponent b = ") < findings.index("Row by row")
    assert findings.count("Verdict: ") == len(exponent_table(tables.runs))  # one per init and type
    assert "Row tests against the exponent: " in findings
    assert text.index("### The propensity exponent") < text.index("### Table 2")
    assert "What entered the fit." in text and "never degraded / zero core" in text
    assert "](figures/exponent.png)" in text and "What the exponent cannot tell" in text
    saved = pd.read_csv(report_dir / "tables" / "exponent.csv")
    expected = exponent_table(tables.runs)
    np.testing.assert_allclose(saved["b"], expected["b"], rtol=1e-12)
    np.testing.assert_allclose(saved["ci_low"], expected["ci_low"], rtol=1e-12)
    assert list(saved["verdict"]) == list(expected["verdict"])
    sensitivity = pd.read_csv(report_dir / "tables" / "exponent_sensitivity.csv")
    assert sensitivity["measure"].str.endswith("-point threshold").sum() == 4 * len(expected)

"""The null-hypothesis ED: pairing with the 1x twin by seeds and init, and the 100% cap."""

import numpy as np
import pandas as pd
import pytest

from propensity.analysis.null_hypothesis import NO_TWIN, PAIRED, pair_with_reference
from tests.analysis.synthetic import run_row


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame([run_row(**r) for r in rows])


def paired_by_key(runs: pd.DataFrame) -> pd.DataFrame:
    return pair_with_reference(runs).set_index("run_key")


def test_null_ed_is_the_twins_unpruned_count_over_this_total():
    out = paired_by_key(
        frame(
            dict(run_key="ref", width=1.0, total_weights=1000, unpruned_weights=600),
            dict(run_key="wide", width=2.0, total_weights=2000, unpruned_weights=900),
        )
    )
    assert out.loc["wide", "null_ed"] == pytest.approx(600 / 2000)
    assert out.loc["wide", "ref_run_key"] == "ref"
    assert out.loc["wide", "pairing"] == PAIRED
    assert not out.loc["wide", "null_capped"]
    # the 1x run is its own twin
    assert out.loc["ref", "null_ed"] == pytest.approx(0.6)


def test_null_ed_is_capped_at_100_percent():
    out = paired_by_key(
        frame(
            dict(run_key="ref", width=1.0, total_weights=1000, unpruned_weights=600),
            dict(run_key="narrow", width=0.5, total_weights=400, unpruned_weights=300),
        )
    )
    assert out.loc["narrow", "null_ed"] == 1.0
    assert out.loc["narrow", "null_capped"]


@pytest.mark.parametrize(
    "mismatch",
    [{"data_seed": 1}, {"init_seed": 7}, {"init": "he"}, {"optim": "adam"}, {"data": "mnist"}],
)
def test_a_run_without_a_matching_1x_twin_is_not_paired(mismatch):
    out = paired_by_key(
        frame(
            dict(run_key="ref", width=1.0, total_weights=1000, unpruned_weights=600),
            dict(run_key="wide", width=2.0, total_weights=2000, unpruned_weights=900, **mismatch),
        )
    )
    assert out.loc["wide", "pairing"] == NO_TWIN
    assert np.isnan(out.loc["wide", "null_ed"])


def test_pairs_by_seeds_among_several_twins():
    out = paired_by_key(
        frame(
            dict(run_key="ref0", width=1.0, data_seed=0, total_weights=1000, unpruned_weights=600),
            dict(run_key="ref1", width=1.0, data_seed=1, total_weights=1000, unpruned_weights=200),
            dict(run_key="w0", width=2.0, data_seed=0, total_weights=2000, unpruned_weights=900),
            dict(run_key="w1", width=2.0, data_seed=1, total_weights=2000, unpruned_weights=900),
        )
    )
    assert out.loc["w0", "ref_run_key"] == "ref0" and out.loc["w0", "null_ed"] == 0.3
    assert out.loc["w1", "ref_run_key"] == "ref1" and out.loc["w1", "null_ed"] == 0.1


def test_two_candidate_twins_make_the_pairing_ambiguous_not_arbitrary():
    out = paired_by_key(
        frame(
            dict(run_key="refA", width=1.0, total_weights=1000, unpruned_weights=600),
            dict(run_key="refB", width=1.0, total_weights=1000, unpruned_weights=500),
            dict(run_key="wide", width=2.0, total_weights=2000, unpruned_weights=900),
        )
    )
    assert out.loc["wide", "pairing"].startswith("2 1x runs")
    assert np.isnan(out.loc["wide", "null_ed"])


def test_runs_without_an_ed_are_left_out():
    out = paired_by_key(
        frame(
            dict(run_key="ref", width=1.0, total_weights=1000, unpruned_weights=600),
            dict(run_key="failed", status="failed", width=2.0, effective_density=None),
            dict(run_key="diverged", status="diverged", width=1.0, effective_density=None),
        )
    )
    assert list(out.index) == ["ref"]

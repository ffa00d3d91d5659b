"""Grouping a multirun's jobs into cohorts of seeds."""

from __future__ import annotations

import pytest

from propensity.launch.grouping import group_jobs


def test_jobs_differing_only_in_seeds_become_cohorts() -> None:
    jobs = [[f"width={w}", f"init_seed={i}", f"data_seed={d}"]
            for w in (0.1, 0.5) for i in range(3) for d in range(2)]
    grouped = group_jobs(jobs, cohort=4)
    assert len(grouped) == 4  # per width: 6 seed pairs -> cohorts of 4 and 2
    # members taken by data seed, so a cohort shares as few splits as possible
    assert grouped[0] == ["width=0.1", "init_seed=0", "data_seed=0",
                          "+cohort_members=[[0,0],[1,0],[2,0],[0,1]]"]
    assert grouped[1][-1] == "+cohort_members=[[1,1],[2,1]]"
    assert grouped[2][0] == "width=0.5"


def test_cohort_of_one_keeps_the_jobs_and_unswept_seeds_are_null() -> None:
    jobs = [["init_seed=0"], ["init_seed=1"], ["init_seed=2"]]
    assert group_jobs(jobs, cohort=1) == jobs
    assert group_jobs(jobs, cohort=2) == [["init_seed=0", "+cohort_members=[[0,null],[1,null]]"],
                                          ["init_seed=2"]]


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_bad_cohort_is_one_line(bad: object) -> None:
    with pytest.raises(ValueError, match=f"cohort={bad!r} must be a positive integer"):
        group_jobs([["init_seed=0"]], cohort=bad)  # type: ignore[arg-type]

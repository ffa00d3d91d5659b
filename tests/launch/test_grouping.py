"""Grouping a multirun's jobs into cohorts of seeds."""

from __future__ import annotations

import pytest

from propensity.launch.grouping import group_jobs, readable_job_line


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


@pytest.mark.parametrize(("line", "readable"), [
    ("\t#0 : experiment=quickstart width=0.1 init_seed=0 +cohort_members=[[0,null],[1,null],[2,null]]",
     "\t#0 : experiment=quickstart width=0.1 init_seed=0,1,2 (a cohort of 3)"),
    ("\t#1 : width=1 init_seed=4 data_seed=0 +cohort_members=[[4,0],[4,1]]",
     "\t#1 : width=1 init_seed=4 data_seed=0,1 (a cohort of 2)"),
    ("\t#2 : init_seed=0 data_seed=0 +cohort_members=[[0,0],[1,0],[0,1]]",
     "\t#2 : (init_seed,data_seed)=(0,0),(1,0),(0,1) (a cohort of 3)"),
    ("\t#3 : width=0.5 init_seed=7", "\t#3 : width=0.5 init_seed=7"),
])
def test_the_launch_line_names_a_cohorts_seeds_not_the_internal_key(line: str, readable: str) -> None:
    assert readable_job_line(line) == readable


def test_every_grouped_job_reads_without_the_internal_key() -> None:
    jobs = [[f"width={w}", f"init_seed={i}", f"data_seed={d}"]
            for w in (0.1, 1) for d in (0, 1) for i in range(3)]
    for job in group_jobs(jobs, 4):
        line = readable_job_line("\t#0 : " + " ".join(job))
        assert "cohort_members" not in line and line.count("width=") == 1, line

"""Section 3's training figures: where each run stopped."""

from propensity.analysis.training import stopping_points


def test_stop_points_sit_at_each_runs_stop_epoch(tables):
    points = stopping_points(tables.runs, tables.histories)
    done = tables.runs[tables.runs["status"] == "finished"].set_index("run_key")
    assert len(points) == len(done)
    assert (
        points["epoch"].to_numpy() == done.loc[points["run_key"], "stop_epoch"].to_numpy()
    ).all()

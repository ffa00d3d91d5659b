"""``python -m propensity.collect RESULTS_DIR [--out DIR] [--wandb ENTITY/PROJECT]``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from propensity.collect.local import collect
from propensity.collect.tables import one_line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m propensity.collect",
        description="Gather run records into runs/trajectories/histories parquet tables.",
    )
    parser.add_argument(
        "results_dir", type=Path, help="results directory to scan (with --wandb: where to write)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="write the tables here instead of RESULTS_DIR"
    )
    parser.add_argument(
        "--wandb",
        metavar="ENTITY/PROJECT",
        default=None,
        help="build the tables from this W&B project instead of RESULTS_DIR",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the collection; 0 on success, 1 if W&B or writing failed, 2 on a bad argument."""
    args = _parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    out = args.out if args.out is not None else args.results_dir
    if args.wandb is None:
        if not args.results_dir.is_dir():
            return _fail(f"results directory {args.results_dir} does not exist", 2)
        try:
            results = collect(args.results_dir, out)
        except OSError as error:
            return _fail(f"cannot write to {out}: {one_line(error)}", 1)
    else:
        if args.wandb.count("/") != 1 or not all(args.wandb.split("/")):
            return _fail(f"--wandb expects ENTITY/PROJECT, got {args.wandb!r}", 2)
        from propensity.collect.from_wandb import collect_wandb

        try:
            results = collect_wandb(args.wandb, out)
        except Exception as error:  # network, authentication, no such project: one line
            return _fail(f"cannot read W&B project {args.wandb}: {one_line(error)}", 1)
    print(results.summary())
    return 0


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code

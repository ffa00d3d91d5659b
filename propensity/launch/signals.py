"""SIGTERM and Ctrl-C as a visible `Interrupted`: a run's record says ``interrupted``, never nothing.

A scheduler preempting a job sends SIGTERM; a user presses Ctrl-C. Either way the run in
progress must stop at once, its records must say ``interrupted`` (so a rerun resumes it from
its checkpoint) and the process must exit with 128 + the signal number.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


class Interrupted(BaseException):
    """SIGTERM or SIGINT arrived: the run stops at once and its record says ``interrupted``.

    A `BaseException`, like `KeyboardInterrupt`, so no ``except Exception`` swallows it.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Raise `Interrupted` on SIGTERM/SIGINT while the block runs.

    Only where the handler is still Python's own: a launcher that handles signals itself
    (submitit checkpoints and requeues preempted SLURM jobs) keeps its handlers. Lightning's
    SIGTERM handler, installed during ``fit``, calls this one after its own.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    ours = {signal.SIGTERM: signal.SIG_DFL, signal.SIGINT: signal.default_int_handler}
    previous = {s: signal.getsignal(s) for s in ours}
    replaced = [s for s, default in ours.items() if previous[s] is default]
    for s in replaced:
        signal.signal(s, _raise_interrupted)
    try:
        yield
    finally:
        for s in replaced:
            signal.signal(s, previous[s])

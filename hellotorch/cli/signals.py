"""SIGTERM handled as Ctrl-C by every command (:func:`hellotorch.cli.main`), so a cancelled CI job stops as an interrupted run does.

A CI runner cancels a job with SIGTERM, and ``hellotorch ab`` stops a side's
``hellotorch bench`` with it. Python's default for SIGTERM ends the process
at once: its pytest child, which did not get the signal, would go on
benchmarking with no one to read it. As a ``KeyboardInterrupt`` it takes the
interrupted path instead: the child is stopped, finished cases are kept,
worktrees are removed, and the exit status is 130.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt``; the previous handler comes back after it.

    Signal handlers belong to the main thread: called from another one
    (the CLI run inside a worker thread), it changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

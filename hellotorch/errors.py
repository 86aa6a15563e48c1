"""The exit-code contract and the errors that map onto it.

Every command, and ``make`` around them, keeps one contract:

====  =====================================================================
0     done, or the check passed
1     the check failed: a regression, a parity failure, failed cases, a
      training run that diverged or whose step raised
2     bad input or environment: an option, an unreadable, corrupt or foreign
      file, a path that cannot be written, nothing to run, CUDA where there
      is none
70    an internal error of hellotorch itself (a bug; ``EX_SOFTWARE``)
130   interrupted (Ctrl-C)
====  =====================================================================

The library raises; :mod:`hellotorch.cli` alone turns exceptions into these
codes. ``ValueError`` (and its subclasses here) is bad input, because every
registry and configuration raises it with the culprit named.
"""

from __future__ import annotations

from enum import IntEnum


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none): what one error line shows."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def describe(error: BaseException, *, limit: int = 300) -> str:
    """``Type: first line`` of an exception, cut to ``limit`` characters: a recorded failure reason."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:limit]}" if text else type(error).__name__


class ExitCode(IntEnum):
    OK = 0
    CHECK_FAILED = 1
    BAD_INPUT = 2
    INTERNAL_ERROR = 70
    INTERRUPTED = 130


class BadInput(ValueError):
    """Input or environment that cannot be used; the message names the culprit."""


class NothingToRun(BadInput):
    """A request that selects no case that can run here."""


class CheckFailed(RuntimeError):
    """The work ran and its verdict is negative (exit 1); the message says why."""


class StepFailed(CheckFailed):
    """A training step raised (a compile error, out of memory) or its loss stopped being finite."""

    def __init__(self, message: str, *, step: int) -> None:
        super().__init__(message)
        #: 1-based index of the step that failed.
        self.step = step

"""Progress of long work: which item of how many is running, and about how long is left.

``bench`` (in its pytest child), ``ab``, ``calibrate`` and ``parity
--matrix`` report through one :class:`Progress`. It knows each item's
estimate from the plan (:meth:`hellotorch.profiles.cases.Profile.case_seconds`
for a case) and corrects it by what the finished items really took: the time
left is the estimate of the items left, each kind of item (eager, compiled,
cache states) times the ratio of the time its finished items took to their
estimate. A kind with no item finished keeps the plan's estimate.

Two styles, picked by where the output goes (:func:`style_for`):

- ``bar``: one updating line on a terminal, drawn by ``tqdm``;
- ``lines``: plain lines, one per finished item, for CI logs and files: no
  escape codes, no carriage returns.

``HELLOTORCH_PROGRESS`` (``bar``, ``lines`` or ``off``) overrides the choice.
``tqdm`` is imported only for the bar, so a machine without it still gets
the lines. A ground-floor module: no torch, no other hellotorch package.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO

STYLES = ("bar", "lines", "off")
ENV = "HELLOTORCH_PROGRESS"


def style_for(stream: IO[str] | None = None) -> str:
    """``bar`` on a terminal where tqdm imports, else ``lines``; ``HELLOTORCH_PROGRESS`` decides when set."""
    chosen = os.environ.get(ENV, "").strip().lower()
    if chosen:
        if chosen not in STYLES:
            raise ValueError(f"{ENV}={chosen!r}: use one of {', '.join(STYLES)}")
        return chosen
    stream = stream or sys.stderr
    if not (hasattr(stream, "isatty") and stream.isatty()) or os.environ.get("TERM") == "dumb":
        return "lines"
    try:
        if os.get_terminal_size(stream.fileno()).columns == 0:
            return "lines"  # a terminal with no width (some pseudo-terminals): a bar would draw nothing
    except (OSError, ValueError, AttributeError):
        return "lines"
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return "lines"
    return "bar"


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``: short enough for one line."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """``what`` items, each named with its planned seconds; :meth:`start` and :meth:`finish` each by name.

    ``write`` takes one plain line (``lines`` style); the bar goes to ``stream``.
    ``kinds`` names each item's kind (an eager case, a compiled one, one that
    measures its cache states): each kind's estimate is corrected by its own
    finished items, and a kind none of whose items has finished keeps the
    plan's. ``planned=False``: the estimates are only weights (every side of an A/B
    alike, say), so nothing is said about the time left until an item has
    finished. ``clock`` is injectable so the estimate can be tested without waiting.
    """

    def __init__(
        self,
        what: str,
        estimates: Mapping[str, float],
        *,
        style: str = "lines",
        write: Callable[[str], None] | None = None,
        stream: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        unit: str = "cases",
        planned: bool = True,
        kinds: Mapping[str, str] | None = None,
    ) -> None:
        if style not in STYLES:
            raise ValueError(f"progress style {style!r}: use one of {', '.join(STYLES)}")
        self.what, self.unit, self.style, self.clock, self.planned = what, unit, style, clock, planned
        self.estimates = {name: max(float(seconds), 0.001) for name, seconds in estimates.items()}
        self.kinds = dict(kinds or {})
        #: each finished item's seconds, from its start (or the previous finish) to its finish.
        self.spent: dict[str, float] = {}
        self._started: dict[str, float] = {}
        self.write = write or (lambda line: print(line, flush=True))
        self.started_at = self._last_finish = clock()
        self.current = ""
        self._bar = None
        if style == "bar":
            from tqdm import tqdm

            self._bar = tqdm(
                total=len(self.estimates),
                desc=what,
                unit=unit,
                file=stream or sys.stderr,
                bar_format="{desc}: {n_fmt}/{total_fmt} {unit} |{bar:20}| {elapsed}{postfix}",
                dynamic_ncols=True,
            )
        elif style == "lines":
            plan = f", about {duration(sum(self.estimates.values()))} by the plan" if planned else ""
            self.write(f"{what}: {self.total} {unit}{plan}")

    @property
    def total(self) -> int:
        return len(self.estimates)

    @property
    def done(self) -> int:
        return len(self.spent)

    def elapsed(self) -> float:
        return self.clock() - self.started_at

    def _scale(self, kind: str) -> float:
        """How the finished items of ``kind`` compared with their plan (all items alike when unplanned)."""
        names = [name for name in self.spent if not self.planned or self.kinds.get(name, "") == kind]
        planned = sum(self.estimates.get(name, 0.0) for name in names)
        return sum(self.spent[name] for name in names) / planned if planned > 0 else 1.0

    def seconds_left(self) -> float:
        """The plan's estimate of what is left, each kind scaled by how its finished items compared with theirs."""
        now = self.clock()
        left = 0.0
        for name, planned in self.estimates.items():
            if name in self.spent:
                continue
            expected = planned * self._scale(self.kinds.get(name, ""))
            if name == self.current:
                expected = max(expected - (now - self._started.get(name, self._last_finish)), 0.0)
            left += expected
        return left

    def left(self) -> str:
        """The time left in words: ``about 3m05s left``, or ``estimating`` while an unplanned run has no item done."""
        if not self.planned and not self.done:
            return "estimating the time left"
        return f"about {duration(self.seconds_left())} left"

    def extend(self, estimates: Mapping[str, float]) -> None:
        """More items than planned (an A/B's extra pair): the total grows, the estimate follows."""
        for name, seconds in estimates.items():
            self.estimates.setdefault(name, max(float(seconds), 0.001))
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def say(self, line: str) -> None:
        """A line of the work's own (a result), printed without breaking the bar."""
        if self._bar is not None:
            self._bar.write(line)
        else:
            self.write(line)

    def start(self, name: str) -> None:
        self.current = name
        self._started[name] = self.clock()
        if self._bar is not None:
            self._bar.set_postfix_str(f"{name}, {self.left()}", refresh=True)

    def finish(self, name: str | None = None) -> None:
        name = name or self.current
        now = self.clock()
        if name not in self.spent:
            self.spent[name] = now - self._started.get(name, self._last_finish)
        self._last_finish = now
        if name == self.current:
            self.current = ""
        left = self.left()
        if self._bar is not None:
            self._bar.set_postfix_str(left, refresh=False)
            self._bar.update(1)
        elif self.style == "lines":
            self.write(
                f"{self.what}: {self.done}/{self.total} {self.unit} done ({name}), "
                f"{duration(self.elapsed())} elapsed, {left}"
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

"""The kinds of a record's fields, and the fields that say what the machine was doing while a case was measured.

:mod:`hellotorch.record` assembles a case record's schema from these; this
module holds :class:`Field` (a declared key with its type, range and meaning)
and the condition fields: the CPU threads' state
(:mod:`hellotorch.measuring.thread_state`) and the machine's load
(:mod:`hellotorch.measuring.host_load`), which decide whether a case's
numbers are results or a disturbed measurement, and the host's speed
(:mod:`hellotorch.measuring.host_speed`), which tells runs on a slower host
apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


class RecordError(ValueError):
    """A stored record that cannot be trusted; the message names where and which field."""


#: The CPU threads' state a measurement was made in (hellotorch.measuring.thread_state): "unprobed" where nothing probes it.
THREAD_STATES = ("fast", "slow", "unprobed")


@dataclass(frozen=True)
class Field:
    """One key of a case record."""

    name: str
    kind: type
    meaning: str
    #: allowed values of a text field.
    choices: tuple[str, ...] = ()
    #: inclusive lower bound of a number.
    minimum: float | None = None
    #: NaN stands for "not measured" and is allowed.
    nan_ok: bool = False
    #: +inf is allowed (e.g. "never breaks even").
    inf_ok: bool = False

    def check(self, value: Any, *, where: str) -> Any:
        culprit = f"{where}: field '{self.name}'"
        if self.kind is bool:
            if not isinstance(value, bool):
                raise RecordError(f"{culprit} must be true or false, got {value!r:.40}")
            return value
        if self.kind is str:
            if not isinstance(value, str):
                raise RecordError(f"{culprit} must be text, got {value!r:.40}")
            if self.choices and value not in self.choices:
                raise RecordError(f"{culprit} is {value!r:.40}; expected one of: {', '.join(self.choices)}")
            return value
        wanted = (int,) if self.kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, wanted):
            kind = "a whole number" if self.kind is int else "a number"
            raise RecordError(f"{culprit} must be {kind}, got {value!r:.40}")
        if isinstance(value, float) and math.isnan(value):
            if not self.nan_ok:
                raise RecordError(f"{culprit} is NaN")
            return value
        if isinstance(value, float) and math.isinf(value) and not (self.inf_ok and value > 0):
            raise RecordError(f"{culprit} is {value}, not a finite number")
        if self.minimum is not None and value < self.minimum:
            raise RecordError(f"{culprit} is {value}, below its minimum {self.minimum:g}")
        return value


#: Whether the machine was fit to measure on while a case was measured (hellotorch.measuring.host_load):
#: "fit" (no contention seen, or it was waited out), "disturbed" (it never cleared: the numbers are not results),
#: "unprobed" (the machine's counters could not be read).
HOST_STATES = ("fit", "disturbed", "unprobed")

CONDITION_FIELDS = (
    Field(
        "parallel_region_us",
        float,
        "cost of one parallel region (threads fork and join), the slower of the probes before and after the pairs",
        minimum=0,
    ),
    Field(
        "parallel_region_fastest_us",
        float,
        "the fastest parallel region the bench process had measured by the end of the pairs: the fast state's level",
        minimum=0,
    ),
    Field(
        "speedup_slow_state_pairs",
        int,
        "pairs left out of the speedup: a probe around them read the slow state",
        minimum=0,
    ),
    Field(
        "rounds_thread_state",
        str,
        "threads' state around pytest-benchmark's rounds: fast, slow (met or never left), unprobed",
        choices=THREAD_STATES,
    ),
    Field("rounds_state_wait_s", float, "seconds the case waited for the fast state before its rounds", minimum=0),
    Field(
        "thread_state",
        str,
        "state the speedup was read in: fast (fast-state pairs only), slow (too few of them: all pairs), unprobed",
        choices=THREAD_STATES,
    ),
    Field(
        "host_state",
        str,
        "whether the machine was fit to measure on: fit, disturbed (contention never cleared: not a result), unprobed",
        choices=HOST_STATES,
    ),
    Field("host_evidence", str, "what the machine was seen doing, where it was disturbed"),
    Field("host_others_cores", float, "CPU time other processes took while the case was measured, in cores", minimum=0),
    Field("host_runnable_max", int, "most runnable tasks seen while the case was measured", minimum=0),
    Field("host_load1", float, "largest 1-minute load average seen while the case was measured", minimum=0),
    Field("host_steal", float, "largest share of CPU time the hypervisor stole in a window of the case", minimum=0),
    Field("host_cores", float, "cores this process could use (affinity, capped by a cgroup quota)", minimum=0),
    Field("host_wait_s", float, "seconds the case waited for the machine to be fit", minimum=0),
    Field(
        "host_contended_pairs", int, "pairs left out of the speedup: other processes took CPU during them", minimum=0
    ),
    Field(
        "host_speed_ms",
        float,
        "the host's speed: ms per call of a fixed pure-Python loop, mean of a reading before the timed rounds "
        "and one after the last timed step (CPU cases)",
        minimum=0,
    ),
    Field(
        "speedup_quiet",
        float,
        "uncontended reading: median ratio of the quietest tenth of the fit pairs (reads high; beside the headline)",
        minimum=0,
    ),
)

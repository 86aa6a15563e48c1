"""One case's verdict on the machine it was measured on: fit, or disturbed with its evidence.

The policy (:mod:`hellotorch.measuring.host_load` reads the machine): before
a case, wait (up to ``host_wait_seconds``) for no other process to take CPU;
around pytest-benchmark's rounds, read the load, since rounds cannot be
redone; during the pairs, leave out the rounds that were contended and pair
on (:func:`hellotorch.measuring.paired.paired_speedup`). A case is
**disturbed** when its rounds were contended, or when too few of its pairs
were measured on a fit machine: its numbers are recorded with the evidence
and are never shown as a result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hellotorch import record
from hellotorch.measuring.host_load import HostMonitor, LoadTally
from hellotorch.measuring.pair_statistics import PairedSpeedup

T = TypeVar("T")


@dataclass
class CaseConditions:
    """What the machine did while one case was measured; ``monitor`` None: not probed."""

    monitor: HostMonitor | None
    wait_seconds: float
    waited: float = 0.0
    tally: LoadTally = field(default_factory=LoadTally)
    #: why the case is disturbed, one clause per phase that was.
    disturbances: list[str] = field(default_factory=list)
    probed: bool = False

    def wait_until_fit(self) -> bool:
        """Wait (bounded) for the machine to be fit; whether it was. A machine still busy is noted, not refused."""
        if self.monitor is None or self.wait_seconds <= 0:
            return True
        # One budget per case, shared by every wait (before the rounds, before the pairs).
        fit, waited, load = self.monitor.wait_until_fit(max_seconds=max(0.0, self.wait_seconds - self.waited))
        self.waited += waited
        self.probed = self.probed or load is not None
        return fit

    def around_rounds(self, run: Callable[[], T]) -> T:
        """Run pytest-benchmark's rounds, reading the machine before and after: rounds cannot be redone."""
        if self.monitor is None:
            return run()
        before = self.monitor.read()
        result = run()
        load = self.monitor.between(before, self.monitor.read())
        contended = self.monitor.is_contended(load)
        self.tally.add(load, is_contended=contended)
        self.probed = self.probed or load is not None
        if contended:
            self.disturbances.append(f"during the timed rounds {load.describe()}")
        return result

    def after_pairs(self, paired: PairedSpeedup) -> None:
        if paired.host is None:
            return
        self.probed = self.probed or paired.host.windows > 0
        self.tally.merge(paired.host)
        if paired.disturbed and paired.host.worst is not None:
            waited = f"; waited {self.waited:.0f} s for it to clear" if self.waited else ""
            self.disturbances.append(
                f"in {paired.contended_pairs} of {paired.pairs} pairs {paired.host.worst.describe()}{waited}"
            )

    @property
    def wait_left(self) -> float:
        """What is left of the case's budget for a busy machine: the pairs may excuse this much contended time."""
        return max(0.0, self.wait_seconds - self.waited)

    @property
    def state(self) -> str:
        if self.disturbances:
            return "disturbed"
        return "fit" if self.probed else "unprobed"

    def fields(self) -> dict[str, Any]:
        """The declared record fields (:data:`hellotorch.record_schema.CONDITION_FIELDS`) for this case."""
        if self.monitor is None:
            return record.fields(host_state="unprobed")
        values: dict[str, Any] = dict(
            host_state=self.state,
            host_cores=self.monitor.cores,
            host_wait_s=self.waited,
            host_runnable_max=self.tally.runnable_max,
            host_load1=self.tally.load1_max,
            host_steal=self.tally.steal_max,
        )
        if self.tally.seconds:
            values["host_others_cores"] = self.tally.others_cores
        if self.disturbances:
            values["host_evidence"] = "; ".join(self.disturbances)
        return record.fields(**values)

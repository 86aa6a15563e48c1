"""The machine's load while a case is measured, by direct evidence rather than by its effect on the step.

A paired ratio hides a neighbour's load only when the load is steady and
falls on both arms alike; a burst, a compile or a second PyTorch process
competing for two cores moves it by up to 5x in either direction. This
module reads what the kernel says, at a cost of tens of microseconds a
reading (no dependency; Linux's ``/proc``):

- the CPU time every process used (``/proc/stat``'s ``cpu`` line), minus this
  process's own (``time.process_time``): what *others* took, in cores;
- steal time, which a hypervisor took from this VM;
- runnable tasks (``procs_running``) and the 1-minute load average;
- the cores this process may use: its affinity, capped by a cgroup CPU quota.

:class:`HostLoad` is what happened between two :class:`HostSample` readings;
:func:`contended` is the one rule that calls it too busy to measure. Where
``/proc`` cannot be read (not Linux), readings are None and nothing is
judged: the record says ``unprobed``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: CPU time others may take during a measurement, in cores, before it is contended. A quiet 2-core VM
#: measured 0.00-0.04 cores of others over 0.5 s windows (the shell, the kernel); a spinner takes 0.5-1.0.
OTHERS_CORES_LIMIT = 0.2
#: Steal time, as a fraction of the machine's cores, before the hypervisor counts as a neighbour.
STEAL_LIMIT = 0.05
#: A reading window shorter than this says too little about the rate (the kernel counts in 10 ms ticks) ...
MIN_WINDOW_S = 0.05
#: ... and a round of pairs is judged over a window of at least this much around it: on a quiet 2-core VM,
#: 0.5 s windows read 0.00-0.04 cores of others (idle or under this process's own 2-thread load), 50 ms
#: windows up to 0.19; with a pure-Python spinner beside a 2-thread step, 0.46-0.86.
JUDGE_WINDOW_S = 0.5


@dataclass(frozen=True)
class HostSample:
    """One reading of the machine's counters."""

    #: ``time.monotonic()`` when read.
    wall_s: float
    #: CPU seconds every CPU spent busy since boot (user, nice, system, irq, softirq).
    busy_s: float
    #: CPU seconds the hypervisor stole since boot.
    steal_s: float
    #: this process's CPU seconds, all its threads.
    own_s: float
    #: tasks runnable at the moment of reading (this process's running threads included).
    procs_running: int
    load1: float


@dataclass(frozen=True)
class HostLoad:
    """What the machine did between two samples."""

    seconds: float
    #: CPU time other processes took, per wall second: in cores.
    others_cores: float
    #: stolen CPU time per wall second, as a fraction of the available cores.
    steal_fraction: float
    #: the larger of the two samples' runnable tasks.
    runnable: int
    load1: float
    #: the cores this process may use.
    cores: float

    def describe(self) -> str:
        parts = [f"others used {self.others_cores:.2f} of {self.cores:g} cores"]
        if self.runnable > self.cores:
            parts.append(f"{self.runnable} runnable tasks on {self.cores:g} cores")
        if self.steal_fraction >= STEAL_LIMIT:
            parts.append(f"{self.steal_fraction:.0%} stolen by the hypervisor")
        return ", ".join(parts)


def contended(load: HostLoad, *, others_limit: float = OTHERS_CORES_LIMIT) -> bool:
    """Whether ``load`` is too busy a machine to measure on: others took CPU, or the hypervisor did."""
    return load.others_cores > others_limit or load.steal_fraction >= STEAL_LIMIT


def _cgroup_quota() -> float | None:
    """Cores a cgroup CPU quota allows (v2 ``cpu.max``, or v1 ``cfs_quota_us``), None where unlimited."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def cores_available() -> float:
    """The cores this process may run on: its affinity, capped by a cgroup quota."""
    try:
        cores = float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        cores = float(os.cpu_count() or 1)
    quota = _cgroup_quota()
    return min(cores, quota) if quota else cores


def _ticks_per_second() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        return 100


def read_sample(*, stat: Path = Path("/proc/stat"), loadavg: Path = Path("/proc/loadavg")) -> HostSample | None:
    """The machine's counters now, or None where they cannot be read."""
    try:
        lines = stat.read_text().splitlines()
        load1 = float(loadavg.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    fields = {line.split()[0]: line.split()[1:] for line in lines if line}
    try:
        # user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user)
        cpu = [int(value) for value in fields["cpu"]]
        busy = cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6]
        steal = cpu[7] if len(cpu) > 7 else 0
        running = int(fields["procs_running"][0])
    except (KeyError, ValueError, IndexError):
        return None
    tick = _ticks_per_second()
    return HostSample(time.monotonic(), busy / tick, steal / tick, time.process_time(), running, load1)


def load_between(before: HostSample, after: HostSample, *, cores: float) -> HostLoad | None:
    """What happened between two samples; None when the window is too short to say."""
    seconds = after.wall_s - before.wall_s
    if seconds < MIN_WINDOW_S:
        return None
    others = max(0.0, (after.busy_s - before.busy_s) - (after.own_s - before.own_s))
    steal = max(0.0, after.steal_s - before.steal_s)
    return HostLoad(
        seconds=seconds,
        others_cores=others / seconds,
        steal_fraction=steal / seconds / max(cores, 1.0),
        runnable=max(before.procs_running, after.procs_running),
        load1=after.load1,
        cores=cores,
    )


@dataclass
class HostMonitor:
    """Readings of the machine's load for one bench process; reading and sleeping are injectable for tests."""

    read: Callable[[], HostSample | None] = read_sample
    sleep: Callable[[float], None] = time.sleep
    cores: float = 0.0
    others_limit: float = OTHERS_CORES_LIMIT

    def __post_init__(self) -> None:
        if not self.cores:
            self.cores = cores_available()

    def between(self, before: HostSample | None, after: HostSample | None) -> HostLoad | None:
        if before is None or after is None:
            return None
        return load_between(before, after, cores=self.cores)

    def around(self, samples: list[HostSample | None], first: int, last: int) -> tuple[HostLoad | None, bool]:
        """The load over samples ``first``..``last`` widened to :data:`JUDGE_WINDOW_S`, and whether it got that wide.

        A window too short to judge is widened on both sides as far as the
        samples go; the caller caches only a complete judgement.
        """
        if last >= len(samples):
            return None, False
        while samples[first] is not None and samples[last] is not None:
            if samples[last].wall_s - samples[first].wall_s >= JUDGE_WINDOW_S:
                return self.between(samples[first], samples[last]), True
            if first == 0 and last == len(samples) - 1:
                break
            first, last = max(0, first - 1), min(len(samples) - 1, last + 1)
        return self.between(samples[first], samples[last]), False

    def is_contended(self, load: HostLoad | None) -> bool:
        return load is not None and contended(load, others_limit=self.others_limit)

    def idle_load(self, *, window_s: float = 0.25) -> HostLoad | None:
        """The machine's load over ``window_s`` while this process sleeps: the others' alone."""
        before = self.read()
        self.sleep(window_s)
        return self.between(before, self.read())

    def wait_until_fit(self, *, max_seconds: float, window_s: float = 0.25) -> tuple[bool, float, HostLoad | None]:
        """Wait (bounded) until a window shows no contention: (fit, seconds waited, the last window's load).

        A machine that cannot be read is fit (unprobed): nothing can be judged.
        """
        waited = 0.0
        while True:
            load = self.idle_load(window_s=window_s)
            if load is None or not self.is_contended(load):
                return True, waited, load
            if waited >= max_seconds:
                return False, waited, load
            pause = min(1.0, max(0.0, max_seconds - waited))
            self.sleep(pause)
            waited += window_s + pause


@dataclass
class LoadTally:
    """The load over a case's windows: how many were contended, and the worst evidence seen."""

    windows: int = 0
    contended: int = 0
    others_core_seconds: float = 0.0
    seconds: float = 0.0
    runnable_max: int = 0
    steal_max: float = 0.0
    load1_max: float = 0.0
    worst: HostLoad | None = None

    def add(self, load: HostLoad | None, *, is_contended: bool) -> None:
        if load is None:
            return
        self.windows += 1
        self.contended += int(is_contended)
        self.others_core_seconds += load.others_cores * load.seconds
        self.seconds += load.seconds
        self.runnable_max = max(self.runnable_max, load.runnable)
        self.steal_max = max(self.steal_max, load.steal_fraction)
        self.load1_max = max(self.load1_max, load.load1)
        if self.worst is None or load.others_cores > self.worst.others_cores:
            self.worst = load

    def merge(self, other: LoadTally) -> None:
        """Add ``other``'s windows to this tally (a case's rounds, then its pairs)."""
        self.windows += other.windows
        self.contended += other.contended
        self.others_core_seconds += other.others_core_seconds
        self.seconds += other.seconds
        self.runnable_max = max(self.runnable_max, other.runnable_max)
        self.steal_max = max(self.steal_max, other.steal_max)
        self.load1_max = max(self.load1_max, other.load1_max)
        if other.worst is not None and (self.worst is None or other.worst.others_cores > self.worst.others_cores):
            self.worst = other.worst

    @property
    def others_cores(self) -> float:
        return self.others_core_seconds / self.seconds if self.seconds else math.nan

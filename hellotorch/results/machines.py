"""Which machine measured what: a machine's label, and each case's machine in a hardware-comparison merge.

A *machine* is the facts that change a measurement (:data:`FLEET_FACTS`).
A run measured on one machine names it in its ``machine_info``; a run
merged from shards of different machines (``merge --machines-differ``)
keeps each shard's facts and cases in ``hellotorch.shards``, from which
:func:`case_machines` tells each case's machine back. The report groups
such a run by machine, and the fleet view (:mod:`hellotorch.results.fleet`)
splits it into its machines.

The same machine is not always the same host: a tenant outside a VM slows
it without a trace in its load counters. Each CPU case reads the host's
speed (``host_speed_ms``); :func:`host_speed_line` gives a run's range
for its summary and :func:`host_speed_difference` names runs whose hosts
differed, for ``compare``.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from hellotorch.results.runs import Run

#: the facts that make two machines different machines.
FLEET_FACTS = ("cpu", "gpu", "threads", "torch")


def machine_label(facts: dict[str, Any]) -> str:
    """Short enough for a legend: ``Intel Xeon ..., 2 threads, torch 2.13.0`` (and the GPU where there is one)."""
    cpu = str(facts.get("cpu") or "?").replace("(R)", "").replace("(TM)", "")
    gpu = facts.get("gpu")
    parts = [cpu[:32].strip(), f"{facts.get('threads', '?')} threads"]
    if gpu and str(gpu).lower() not in ("none", "no gpu"):
        parts.append(str(gpu)[:28])
    parts.append(f"torch {facts.get('torch', '?')}")
    return ", ".join(parts)


def run_machines(run: Run) -> list[tuple[dict[str, Any], set[str] | None]]:
    """The run's machines, each with its facts and its cases (``None``: every case of the run)."""
    shards = run.meta.get("shards")
    if (
        isinstance(shards, list)
        and shards
        and all(isinstance(s, dict) and isinstance(s.get("cases"), list) for s in shards)
    ):
        machines: dict[str, tuple[dict[str, Any], set[str]]] = {}
        for shard in shards:
            facts = {**shard, "torch": run.torch_version}
            label = machine_label(facts)
            machines.setdefault(label, (facts, set()))[1].update(str(case) for case in shard["cases"])
        if len(machines) > 1:
            return list(machines.values())
    return [({**run.machine, "torch": run.torch_version}, None)]


def case_machines(run: Run) -> dict[str, str]:
    """Each case's machine label, for a run measured on several machines; empty for a run of one machine."""
    machines = run_machines(run)
    if len(machines) < 2:
        return {}
    return {case: machine_label(facts) for facts, cases in machines for case in cases or ()}


#: Runs whose hosts' speeds (the median reading of each) differ past this are named: speedups moved by up to
#: 9 % with a 4-49 % slower host (docs/methodology.md). Three quiet runs of one hour read 3.5 % apart.
HOST_SPEED_CHANGE_NOTE = 0.10
#: A run whose thirds' median readings differ past this is named: one quiet run's thirds read 9.3 % apart
#: (docs/results/quick_xeon-2core-vm_2026-12-07-late.md, set E), so the bar is above it.
HOST_SPEED_DRIFT_NOTE = 0.15
#: With fewer readings a run's drift is not judged: each third of the run needs a median of its own.
HOST_SPEED_MIN_READINGS = 6


def _read(readings: Iterable[float]) -> list[float]:
    """The readings of the cases that took one (NaN: a case that did not, off CPU or from an older run)."""
    return [float(value) for value in readings if value == value]


def host_speed_change(readings: list[float]) -> float | None:
    """How much slower the host ran in the slowest third of a run than in the fastest, by each third's median.

    ``readings`` in the order the cases ran. One case's reading can be off (the work just before it); a third's
    median is not, so only a change that lasted a third of the run counts. None: too few readings to tell.
    """
    if len(readings) < HOST_SPEED_MIN_READINGS:
        return None
    count = len(readings)
    thirds = (readings[: count // 3], readings[count // 3 : 2 * count // 3], readings[2 * count // 3 :])
    medians = [statistics.median(third) for third in thirds]
    return max(medians) / min(medians) - 1


def host_speed_line(readings: Iterable[float]) -> str | None:
    """A run's host speed over its cases (``host_speed_ms``, in run order); None where no case read it."""
    values = _read(readings)
    if not values:
        return None
    line = (
        f"host speed: a fixed Python loop took {statistics.median(values) * 1e3:.1f} µs a call "
        f"(median over the cases; {min(values) * 1e3:.1f}-{max(values) * 1e3:.1f})"
    )
    change = host_speed_change(values)
    if change is not None and change > HOST_SPEED_DRIFT_NOTE:
        line += (
            f"; the host ran {change:.0%} slower in one third of the run than in another, which no load check sees "
            "(a tenant outside this machine): speedups moved by up to 9 % with such a change, so compare runs on "
            "a host of the same speed"
        )
    return line


def host_speed_difference(readings: list[Iterable[float]], labels: list[str]) -> str | None:
    """A line naming runs whose hosts' speeds differ by more than :data:`HOST_SPEED_CHANGE_NOTE`; None otherwise."""
    medians = []
    for run_readings in readings:
        values = _read(run_readings)
        if not values:
            return None  # a run that never read it (older, or on a GPU): nothing to compare
        medians.append(statistics.median(values))
    if max(medians) / min(medians) - 1 <= HOST_SPEED_CHANGE_NOTE:
        return None
    first = medians[0]
    return "host speed differs (a fixed Python loop, median µs a call over the cases): " + "; ".join(
        f"{label}: {median * 1e3:.1f}" + (f" ({median / first - 1:+.0%})" if index else "")
        for index, (label, median) in enumerate(zip(labels, medians))
    )

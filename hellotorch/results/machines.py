"""Which machine measured what: a machine's label, and each case's machine in a hardware-comparison merge.

A *machine* is the facts that change a measurement (:data:`FLEET_FACTS`).
A run measured on one machine names it in its ``machine_info``; a run
merged from shards of different machines (``merge --machines-differ``)
keeps each shard's facts and cases in ``hellotorch.shards``, from which
:func:`case_machines` tells each case's machine back. The report groups
such a run by machine, and the fleet view (:mod:`hellotorch.results.fleet`)
splits it into its machines.
"""

from __future__ import annotations

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

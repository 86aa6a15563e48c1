"""``hellotorch merge``: the run folders of a sharded plan (``bench --shard I/N``) made one run again.

Folders travel, one host merges: each shard's run folder is copied back (a
CI artifact, a shared volume, SLURM's output folder) and merged here, never
a SQLite history shared over a network file system. The shards must be all
N of one matrix, each once, of one profile, commit and torch; a case may
appear in one shard only. Machines must match too, unless the matrix is a
hardware comparison (``--machines-differ``); the merged run lists each
shard's machine facts (``hellotorch.shards``). Any refusal is one line naming
the shard or run (exit 2). The merged folder holds one ``benchmark.json``
(and the shards' curves and compile costs), which ``report``, ``compare``,
``gate`` and ``history`` read like any run.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

from hellotorch.errors import BadInput
from hellotorch.results.runs import Run
from hellotorch.runfiles import COMPILE_COSTS, CURVES

#: machine facts that make two shards "the same machine".
MACHINE_FACTS = ("cpu", "cpu_count", "gpu", "gpu_count", "gpu_driver", "threads")


def _shard(run: Run) -> dict[str, Any]:
    shard = run.meta.get("shard")
    ok = isinstance(shard, dict) and all(isinstance(shard.get(key), int) for key in ("index", "count"))
    if not ok or not isinstance(shard.get("matrix_id"), str):
        raise BadInput(f"merge: run {run.label} is not a shard (it ran without bench --shard I/N)")
    return shard


def check_shards(runs: list[Run], *, machines_may_differ: bool = False) -> dict[str, Any]:
    """The matrix the runs make, or a :class:`BadInput` naming the missing, doubled or mismatched shard."""
    if not runs:
        raise BadInput("merge: name the run folders of the shards")
    shards = [_shard(run) for run in runs]
    matrix, count = shards[0]["matrix_id"], shards[0]["count"]
    for run, shard in zip(runs, shards):
        if shard["matrix_id"] != matrix or shard["count"] != count:
            raise BadInput(
                f"merge: run {run.label} is shard {shard['index'] + 1}/{shard['count']} of matrix "
                f"{shard['matrix_id']}, not of {matrix} ({count} shards)"
            )
    seen: dict[int, str] = {}
    for run, shard in zip(runs, shards):
        if shard["index"] in seen:
            raise BadInput(
                f"merge: shard {shard['index'] + 1}/{count} is given twice ({seen[shard['index']]}, {run.label})"
            )
        seen[shard["index"]] = run.label
    missing = [index + 1 for index in range(count) if index not in seen]
    if missing:
        raise BadInput(f"merge: shard {missing[0]}/{count} of matrix {matrix} is missing ({len(missing)} missing)")
    first = runs[0]
    checks = {
        "profile": lambda run: run.meta.get("profile"),
        "commit": lambda run: run.machine.get("git_commit"),
        "torch": lambda run: run.torch_version,
    }
    if not machines_may_differ:
        checks["machine"] = lambda run: tuple(run.machine.get(fact) for fact in MACHINE_FACTS)
    for what, read in checks.items():
        for run in runs[1:]:
            if read(run) != read(first):
                hint = "; pass --machines-differ for a hardware-comparison matrix" if what == "machine" else ""
                raise BadInput(
                    f"merge: run {run.label} has {what} {read(run)!r}, run {first.label} {read(first)!r}{hint}"
                )
    owner: dict[str, str] = {}
    for run in runs:
        for record in [*run.records, *run.failed]:
            if record["id"] in owner and owner[record["id"]] != run.label:
                raise BadInput(f"merge: case {record['id']} is in two shards ({owner[record['id']]}, {run.label})")
            owner[record["id"]] = run.label
    return {"matrix_id": matrix, "count": count}


def merged_json(runs: list[Run], *, machines_may_differ: bool = False) -> dict[str, Any]:
    """One pytest-benchmark JSON holding every shard's cases (each keeps its machine when machines differ)."""
    matrix = check_shards(runs, machines_may_differ=machines_may_differ)
    runs = sorted(runs, key=lambda run: run.meta["shard"]["index"])
    merged = copy.deepcopy(runs[0].raw or {})
    merged["benchmarks"] = []
    for run in runs:
        merged["benchmarks"] += copy.deepcopy((run.raw or {}).get("benchmarks", []))
    meta = merged.setdefault("hellotorch", {})
    for key in ("cases_planned", "cases_finished"):
        meta[key] = sum(int(run.meta.get(key, 0)) for run in runs)
    for key in ("failed", "parity_failed"):
        meta[key] = [item for run in runs for item in run.meta.get(key, [])]
    meta["interrupted"] = any(run.meta.get("interrupted") for run in runs)
    meta.pop("interrupted_case", None)
    meta.pop("shard", None)
    meta["merged_from"] = [run.label for run in runs]
    meta["shards"] = [
        {
            "run": run.label,
            **{fact: run.machine.get(fact) for fact in MACHINE_FACTS},
            "cases": sorted({record["id"] for record in [*run.records, *run.failed]}),
        }
        for run in runs
    ]
    meta["matrix"] = matrix
    ids = "".join(str(run.meta.get("run_id", run.label)) for run in runs)
    meta["run_id"] = hashlib.sha256(ids.encode()).hexdigest()[:32]  # the same shards merge to the same run
    return merged


def shard_files(runs: list[Run]) -> dict[str, str]:
    """The shards' curves and compile costs, each joined in shard order (a CSV's header once)."""
    joined: dict[str, str] = {}
    runs = sorted(runs, key=lambda run: _shard(run)["index"])
    for name in (CURVES, COMPILE_COSTS):
        parts = [Path(run.folder, name) for run in runs if Path(run.folder, name).is_file()]
        texts = [part.read_text() for part in parts]
        if name == CURVES and texts:  # each shard's CSV has the header: keep the first one's
            texts = [texts[0]] + ["".join(text.splitlines(keepends=True)[1:]) for text in texts[1:]]
        if texts:
            joined[name] = "".join(texts)
    return joined

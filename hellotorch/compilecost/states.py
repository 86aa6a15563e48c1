"""What compiling a case costs in each cache state, measured in fresh processes.

States, each measured in ``processes`` fresh processes (3 by default; the
median and the spread are reported):

- ``cold``: every compile cache off (``TORCHINDUCTOR_FORCE_DISABLE_CACHES=1``,
  PyTorch's own switch) and an empty cache folder;
- ``warm``: the local on-disk caches (FX graph, AOTAutograd, Inductor's code
  cache) populated by an earlier process in the same folder;
- ``portable``: ``torch.compiler.save_cache_artifacts()`` in one process,
  ``load_cache_artifacts()`` in each fresh process with an empty cache
  folder: the hot start a CI job or a fleet gets. Its compile time includes
  the load, which is also reported on its own.

Each state is measured for the case as it is (variant ``whole``) and, where
the model has repeated blocks, compiled block by block (variant
``regional``, PyTorch's regional-compilation recipe), whose steady step time
is reported too since it may run slower. Every process's sample, with its
phase split from PyTorch's compile metrics, is one row of the run folder's
``compile_costs.jsonl`` (:data:`hellotorch.runfiles.COST_FIELDS`); the case's record carries the
medians.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import torch

from hellotorch import record
from hellotorch.children import ChildTimedOut, run_child
from hellotorch.measuring.thread_state import unbound_child
from hellotorch.profiles.cases import BenchCase
from hellotorch.runfiles import COST_FIELDS, PHASES, STATES

DEFAULT_PROCESSES = 3
WORKER_TIMEOUT_S = 900


class CompileCostFailed(RuntimeError):
    """A compile worker that failed; the message is its last line of error output."""


def _worker(case: BenchCase, role: str, *, cache_dir: str, cold: bool = False, artifacts: str | None = None) -> dict:
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache_dir, TRITON_CACHE_DIR=os.path.join(cache_dir, "triton"))
    env["HELLOTORCH_THREADS"] = str(torch.get_num_threads())
    env.pop("TORCHINDUCTOR_FORCE_DISABLE_CACHES", None)
    if cold:
        env["TORCHINDUCTOR_FORCE_DISABLE_CACHES"] = "1"
    env, preexec = unbound_child(env)  # a bound bench process's one core is not the worker's
    fields = {k: v for k, v in case.as_dict().items() if k not in ("id", "compiled")}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as request:
        json.dump({"case": fields, "role": role, "artifacts": artifacts}, request)
    try:
        done = run_child(
            [sys.executable, "-m", "hellotorch.compilecost.worker", request.name],
            capture=True,
            env=env,
            preexec=preexec,
            timeout_s=WORKER_TIMEOUT_S,
        )
    except ChildTimedOut as error:
        raise CompileCostFailed(f"{role} compile of {case.id} {error}") from None
    finally:
        os.unlink(request.name)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no error output"])[-1]
        raise CompileCostFailed(f"{role} compile of {case.id} failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compile_in_fresh_process(case: BenchCase, *, cold: bool = True) -> dict:
    """One compile in a fresh process with an empty cache folder (``cold``: every cache off as well)."""
    with tempfile.TemporaryDirectory(prefix="hellotorch-compile-") as cache:
        return _worker(case, "compile", cache_dir=cache, cold=cold)


def _row(case: BenchCase, variant: str, state: str, process: int, sample: dict) -> dict[str, Any]:
    row = {
        "id": case.id,  # the regional variant's rows belong to the case they were measured for
        "variant": variant,
        "state": state,
        "process": process,
        "compile_s": sample["compile_s"],
        "steady_s": sample["steady_s"],
        "load_s": sample["load_s"],
        **{f"phase_{phase}_s": sample["phases"][phase] for phase in PHASES},
        **sample["cache"],
    }
    return {field: row[field] for field in COST_FIELDS}


def regional_variant(case: BenchCase) -> BenchCase | None:
    """The case compiled block by block, or None when its model has no repeated blocks (or it already is)."""
    if case.scope == "blocks" or case.run_config().model_spec.blocks is None:
        return None
    return dataclasses.replace(case, scope="blocks", cold_compile=False, cache_states=False)


def _state_samples(case: BenchCase, state: str, processes: int) -> list[dict]:
    if state == "cold":
        return [compile_in_fresh_process(case, cold=True) for _ in range(processes)]
    with tempfile.TemporaryDirectory(prefix="hellotorch-compile-") as shared:
        if state == "warm":
            _worker(case, "compile", cache_dir=shared)  # populates the caches; not a sample
            return [_worker(case, "compile", cache_dir=shared) for _ in range(processes)]
        artifacts = os.path.join(shared, "artifacts.bin")
        _worker(case, "save", cache_dir=os.path.join(shared, "saving"), artifacts=artifacts)
        samples = []
        for _ in range(processes):
            with tempfile.TemporaryDirectory(prefix="hellotorch-compile-") as empty:
                samples.append(_worker(case, "load", cache_dir=empty, artifacts=artifacts))
        return samples


def measure_cache_states(
    case: BenchCase,
    *,
    processes: int = DEFAULT_PROCESSES,
    regional: bool = True,
    on_rows: Callable[[list[dict[str, Any]]], None] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every state of ``case`` and of its regional variant; the record fields of the medians.

    ``on_rows`` receives each state's rows as soon as they are measured (the
    run folder keeps them even if a later state fails).
    """
    fields: dict[str, Any] = {}
    variants = [("whole", case)]
    blockwise = regional_variant(case) if regional else None
    if blockwise is not None:
        variants.append(("regional", blockwise))
    for variant, measured in variants:
        for state in STATES:
            if on_progress is not None:
                on_progress(f"{case.id}: {variant} compile, {state} cache, {processes} fresh processes")
            samples = _state_samples(measured, state, processes)
            rows = [_row(case, variant, state, index, sample) for index, sample in enumerate(samples)]
            if on_rows is not None:
                on_rows(rows)
            fields.update(_summary(variant, state, samples))
        if variant == "regional":
            steady = statistics.median(sample["steady_s"] for sample in samples)
            fields["regional_step_ms"] = steady * 1e3
    return record.fields(**fields)


def _summary(variant: str, state: str, samples: list[dict]) -> dict[str, float]:
    prefix = "" if variant == "whole" else "regional_"
    times = [sample["compile_s"] for sample in samples]
    summary = {
        f"{prefix}{state}_compile_s": statistics.median(times),
        f"{prefix}{state}_compile_spread_s": max(times) - min(times),
    }
    if state == "portable" and variant == "whole":
        summary["portable_load_s"] = statistics.median(sample["load_s"] for sample in samples)
    return summary

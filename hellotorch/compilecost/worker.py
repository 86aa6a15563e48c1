"""Worker: compile one case in this fresh process, in a given cache state, and print what it cost as JSON.

Started by :mod:`hellotorch.compilecost.states`, which sets the environment that
makes the state (an empty or populated ``TORCHINDUCTOR_CACHE_DIR``, and
``TORCHINDUCTOR_FORCE_DISABLE_CACHES=1`` for a cold compile). A compile
cannot be measured in a process that has compiled the same graphs before,
hence a process per sample. Roles:

- ``compile``: compile and time it (cold, warm, or the populating run);
- ``save``: compile, then ``torch.compiler.save_cache_artifacts()`` to a file;
- ``load``: ``torch.compiler.load_cache_artifacts()`` from that file, then
  compile (the portable hot start; the load is timed on its own).

The phases come from PyTorch's own compile metrics
(``torch._dynamo.utils.get_compilation_metrics()``), never from timers of
ours around guessed boundaries. Usage: ``python -m hellotorch.compilecost.worker
REQUEST.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from hellotorch.measuring.clock import synchronized_clock
from hellotorch.measuring.paired import steady_step_seconds, time_call
from hellotorch.profiles.cases import BenchCase
from hellotorch.runfiles import PHASES
from hellotorch.training.devices import set_threads
from hellotorch.training.loops import prepare


def compile_phases() -> dict[str, float]:
    """Seconds per phase, summed over every frame compiled in this process.

    Each cumulative time includes the ones below it (Dynamo's includes
    AOTAutograd's, which includes Inductor's, which includes code generation
    and the C++/Triton compile), so each phase is the difference. A lazily
    compiled backward graph has no Dynamo time of its own; its
    ``backward_cumulative_compile_time_us`` plays AOTAutograd's part.
    """
    totals = dict.fromkeys(PHASES, 0.0)
    for metrics in torch._dynamo.utils.get_compilation_metrics():
        dynamo = metrics.dynamo_cumulative_compile_time_us or 0
        aot = metrics.aot_autograd_cumulative_compile_time_us or 0
        backward = getattr(metrics, "backward_cumulative_compile_time_us", None) or 0
        inductor = metrics.inductor_cumulative_compile_time_us or 0
        codegen = metrics.inductor_code_gen_cumulative_compile_time_us or 0
        totals["dynamo"] += max(0, dynamo - aot) / 1e6
        totals["aot_autograd"] += max(0, (aot or backward) - inductor) / 1e6
        totals["inductor_lowering"] += max(0, inductor - codegen) / 1e6
        totals["codegen_and_compile"] += codegen / 1e6
    return totals


def cache_counts() -> dict[str, int]:
    """Hits and misses of the FX-graph and AOTAutograd caches during this process's compiles."""
    counts = {"fx_hits": 0, "fx_misses": 0, "aot_hits": 0, "aot_misses": 0}
    for metrics in torch._dynamo.utils.get_compilation_metrics():
        counts["fx_hits"] += metrics.inductor_fx_local_cache_hit_count or 0
        counts["fx_misses"] += metrics.inductor_fx_local_cache_miss_count or 0
        counts["aot_hits"] += metrics.aotautograd_local_cache_hit_count or 0
        counts["aot_misses"] += metrics.aotautograd_local_cache_miss_count or 0
    return counts


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[0]).read_text())
    case = BenchCase(**request["case"])
    role, artifacts = request["role"], request.get("artifacts")
    set_threads(None)  # HELLOTORCH_THREADS, as the parent process set it
    load_s = 0.0
    if role == "load":
        start = synchronized_clock()
        torch.compiler.load_cache_artifacts(Path(artifacts).read_bytes())
        load_s = synchronized_clock() - start
    setup = prepare(case.run_config(), case.finetune_config())
    first, _ = time_call(setup.step, setup.batch)
    setup.step.check_captured()
    setup.step(setup.batch)
    steady = steady_step_seconds(setup.step, setup.batch)
    if role == "save":
        saved = torch.compiler.save_cache_artifacts()
        if saved is None:
            raise RuntimeError("torch.compiler.save_cache_artifacts() returned nothing to save")
        Path(artifacts).write_bytes(saved[0])
    print(
        json.dumps(
            {
                "id": case.id,
                # The first call also ran one step; what is left over is compiling.
                "compile_s": max(0.0, first - steady),
                "steady_s": steady,
                "load_s": load_s,
                "phases": compile_phases(),
                "cache": cache_counts(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

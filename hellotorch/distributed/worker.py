"""Worker: one rank of a distributed case, started by ``torchrun`` (see :mod:`hellotorch.distributed.torchrun`).

Every rank builds the case's step through :func:`hellotorch.training.loops.prepare`
with its :class:`~hellotorch.distributed.strategies.Parallelism`, then, in step with the
others:

1. runs the parity curve from the seeded start; its first call is the
   compile (timed per rank), and each step's loss is averaged over the ranks,
   which is the loss of the global batch;
2. times a fixed number of steady rounds (the count agreed by all ranks, or
   the collectives would hang);
3. for a compiled case, measures the paired speedup against the eager twin
   with a clock that waits for every rank, so each block is the slowest
   rank's;
4. measures its peak memory, and sends its facts to rank 0, which writes
   ``report.json``.

A rank that fails writes ``rank<N>.error`` with the reason before exiting;
each rank keeps ``rank<N>.phase`` current so a hang can be located.
Usage: ``torchrun ... -m hellotorch.distributed.worker REQUEST.json``.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from hellotorch.children import watch_process
from hellotorch.distributed.strategies import Parallelism
from hellotorch.errors import describe
from hellotorch.files import write_text_atomic
from hellotorch.measuring.allocator import apply_allocator_policy
from hellotorch.measuring.clock import synchronized_clock
from hellotorch.measuring.flops_memory import peak_memory
from hellotorch.measuring.paired import block_steps, paired_speedup_as_planned, steady_step_seconds, time_call
from hellotorch.profiles.cases import BenchCase
from hellotorch.settings import Measurement
from hellotorch.training.devices import set_threads
from hellotorch.training.loops import TrainingSetup, prepare

WARMUP_STEPS = 5


def all_ranks_clock() -> float:
    """The time once every rank has arrived, the same number on every rank: the largest reading.

    An interval read with it is the slowest rank's; and since every rank reads
    the same times, adaptive pairing (``speedup_ci``, ``max_pair_seconds``)
    stops after the same pair on all of them, or the collectives would hang.
    """
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    reading = torch.tensor([synchronized_clock()], dtype=torch.float64, device=device)
    dist.all_reduce(reading, op=dist.ReduceOp.MAX)
    return float(reading.item())


class Rank:
    """This process's place in the run, and where it reports."""

    def __init__(self, out_dir: Path) -> None:
        self.rank, self.world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        self.local_rank = int(os.environ.get("LOCAL_RANK", self.rank))
        self.out_dir = out_dir

    def phase(self, text: str) -> None:
        write_text_atomic(self.out_dir / f"rank{self.rank}.phase", text)

    def mean(self, values: list[float]) -> list[float]:
        """Each value averaged over the ranks."""
        tensor = torch.tensor(values, dtype=torch.float64)
        if dist.get_backend() == "nccl":
            tensor = tensor.cuda()
        dist.all_reduce(tensor)
        return (tensor / self.world_size).cpu().tolist()

    def max(self, value: float) -> float:
        return max(self.gather(value))

    def gather(self, value: Any) -> list[Any]:
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values


def _parity_curve(rank: Rank, setup: TrainingSetup, steps: int) -> tuple[float, list[float]]:
    """Run ``steps`` steps from the seeded start; the first call's time and the global loss per step."""
    first, loss = time_call(setup.step, setup.batch)
    if setup.run.compile.compiled:
        setup.step.check_captured()
    losses = [loss] + [setup.step(setup.batch) for _ in range(steps - 1)]
    return first, rank.mean(torch.stack(losses).double().cpu().tolist())


def _curve_report(rank: Rank, case: BenchCase, first: float, stats, losses: list[float]) -> dict[str, Any] | None:
    """``hellotorch train/parity --nproc``: the loss curve and each rank's first-call time, no timing."""
    facts = rank.gather({"first_call_s": first, "graph_breaks": stats.graph_breaks, "recompiles": stats.recompiles})
    rank.phase("done")
    return {"ranks": facts, "losses": losses} if rank.rank == 0 else None


def measure_rank(
    rank: Rank, case: BenchCase, measurement: Measurement, *, curve_only: bool = False
) -> dict[str, Any] | None:
    """This rank's part of the case; rank 0 returns the report."""
    parallel = Parallelism(case.strategy, rank.rank, rank.world_size)
    run, finetune = case.run_config(), case.finetune_config()
    rank.phase("building and compiling")
    torch.manual_seed(run.seed)
    setup = prepare(run, finetune, parallel)
    rank.phase("parity curve (the first step compiles)")
    first, global_losses = _parity_curve(rank, setup, measurement.parity_steps)
    stats = setup.step.graph_stats()
    if curve_only:
        return _curve_report(rank, case, first, stats, global_losses)
    rank.phase("timing")
    for _ in range(WARMUP_STEPS):
        setup.step(setup.batch)
    steady = steady_step_seconds(setup.step, setup.batch)
    rounds = max(measurement.min_rounds, math.ceil(measurement.max_time / max(rank.max(steady), 1e-6)))
    durations = [time_call(setup.step, setup.batch)[0] for _ in range(rounds)]
    paired = None
    if case.compiled:
        rank.phase("paired speedup")
        twin = case.eager_twin()
        eager = prepare(twin.run_config(), finetune, Parallelism(twin.strategy, rank.rank, rank.world_size))
        for _ in range(WARMUP_STEPS):
            eager.step(eager.batch)
        # Every rank must run the same number of steps per block, or the collectives hang.
        steps = block_steps(rank.max(min(steady, steady_step_seconds(eager.step, eager.batch))))
        paired = paired_speedup_as_planned(
            eager.step,
            eager.batch,
            setup.step,
            setup.batch,
            measurement=measurement,
            steps_per_block=steps,
            clock=all_ranks_clock,
        )
    rank.phase("peak memory")
    memory = peak_memory(setup.step, setup.batch, model=setup.model, optimizer=setup.optimizer, device=case.device)
    facts = rank.gather(
        {
            "compile_s": max(0.0, first - steady) if case.compiled else 0.0,
            "graph_breaks": stats.graph_breaks,
            "recompiles": stats.recompiles,
            "unique_graphs": stats.unique_graphs,
            "peak_memory_bytes": memory.bytes,
            "durations": durations,
        }
    )
    rank.phase("done")
    if rank.rank != 0:
        return None
    return {
        "ranks": facts,
        # The step is as slow as its slowest rank: the per-round maximum.
        "round_seconds": [max(times) for times in zip(*(fact["durations"] for fact in facts))],
        "losses": global_losses,
        "paired": None if paired is None else paired.as_fields(),
        "memory_method": memory.method,
        "threads": torch.get_num_threads(),
        "compile_cache": stats.compile_cache,
    }


def read_request(request: dict[str, Any]) -> tuple[BenchCase, Measurement]:
    """The case and the measurement settings :func:`hellotorch.distributed.torchrun.request_payload` sent."""
    return BenchCase(**request["case"]), Measurement.from_json(request["measurement"])


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[0]).read_text())
    # A rank never outlives hellotorch, whatever stopped it, nor leaves its launcher's temporary folder behind.
    watch_process(request["launcher_pid"], leftovers=Path(request["out_dir"]))
    rank = Rank(Path(request["out_dir"]))
    try:
        case, measurement = read_request(request)
        if case.device == "cuda":
            torch.cuda.set_device(rank.local_rank)
        set_threads(None)  # HELLOTORCH_THREADS, as the launcher shared out the cores
        apply_allocator_policy(measurement.steady_allocator)
        dist.init_process_group(
            "nccl" if case.device == "cuda" else "gloo",
            timeout=datetime.timedelta(seconds=request["collective_timeout_s"]),
        )
        report = measure_rank(rank, case, measurement, curve_only=request["curve_only"])
        if report is not None:
            write_text_atomic(rank.out_dir / "report.json", json.dumps(report))
        dist.destroy_process_group()
    except BaseException as error:
        write_text_atomic(rank.out_dir / f"rank{rank.rank}.error", describe(error))
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

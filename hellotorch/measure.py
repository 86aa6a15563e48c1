"""Measurements around a bound step that pytest-benchmark does not make.

pytest-benchmark times the steady-state rounds; this module measures what
sits beside them: compile time (first call minus a steady step, never inside
timed rounds), the paired eager/compiled speedup (the two arms interleaved in
one process, the number that holds on a noisy machine), FLOPs per step, and
peak memory. All clocks are :func:`hellotorch.timing.synchronized_clock`.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from hellotorch import record
from hellotorch.models import Batch
from hellotorch.timing import synchronized_clock

Step = Callable[[Batch], torch.Tensor]
Clock = Callable[[], float]


def time_call(step: Step, batch: Batch, *, clock: Clock = synchronized_clock) -> tuple[float, torch.Tensor]:
    start = clock()
    loss = step(batch)
    return clock() - start, loss


def steady_step_seconds(step: Step, batch: Batch, *, repeats: int = 5, clock: Clock = synchronized_clock) -> float:
    """Median of ``repeats`` single-step timings (after warm-up)."""
    return statistics.median(time_call(step, batch, clock=clock)[0] for _ in range(repeats))


def quantiles(values: list[float]) -> tuple[float, float, float]:
    """First quartile, median, third quartile."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


@dataclass(frozen=True)
class PairedSpeedup:
    """eager time / compiled time, over interleaved blocks of steps."""

    median: float
    q1: float
    q3: float
    pairs: int
    steps_per_block: int
    eager_ms: float
    compiled_ms: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def as_fields(self) -> dict[str, float | int]:
        """This measurement as the declared record fields (:mod:`hellotorch.record`)."""
        return record.fields(
            speedup=self.median,
            speedup_q1=self.q1,
            speedup_q3=self.q3,
            speedup_pairs=self.pairs,
            speedup_steps_per_block=self.steps_per_block,
            paired_eager_ms=self.eager_ms,
            paired_compiled_ms=self.compiled_ms,
        )


def block_steps(step_seconds: float, *, block_seconds: float = 0.01) -> int:
    """Steps per timed block: enough that a block lasts about ``block_seconds``."""
    return max(1, round(block_seconds / max(1e-6, step_seconds)))


def paired_speedup(
    eager: Step,
    eager_batch: Batch,
    compiled: Step,
    compiled_batch: Batch,
    *,
    pairs: int,
    block_seconds: float = 0.01,
    steps_per_block: int | None = None,
    clock: Clock = synchronized_clock,
) -> PairedSpeedup:
    """Interleave blocks of eager and compiled steps; return the ratio's quartiles.

    A neighbour's load hits both arms of a pair alike, so the ratio holds
    where absolute times swing by 10x. The order alternates (EC, CE, ...)
    so a drift within a pair does not favour one arm.
    """
    if pairs < 1:
        raise ValueError(f"pairs must be positive, got {pairs}")
    steps = steps_per_block or block_steps(
        min(
            steady_step_seconds(eager, eager_batch, clock=clock),
            steady_step_seconds(compiled, compiled_batch, clock=clock),
        ),
        block_seconds=block_seconds,
    )

    def block(step: Step, batch: Batch) -> float:
        start = clock()
        for _ in range(steps):
            step(batch)
        return (clock() - start) / steps

    ratios, eager_times, compiled_times = [], [], []
    for index in range(pairs):
        if index % 2 == 0:
            eager_time = block(eager, eager_batch)
            compiled_time = block(compiled, compiled_batch)
        else:
            compiled_time = block(compiled, compiled_batch)
            eager_time = block(eager, eager_batch)
        ratios.append(eager_time / compiled_time)
        eager_times.append(eager_time)
        compiled_times.append(compiled_time)
    q1, median, q3 = quantiles(ratios)
    return PairedSpeedup(
        median=median,
        q1=q1,
        q3=q3,
        pairs=pairs,
        steps_per_block=steps,
        eager_ms=statistics.median(eager_times) * 1e3,
        compiled_ms=statistics.median(compiled_times) * 1e3,
    )


def flops_per_step(step: Step, batch: Batch) -> int:
    """FLOPs of one step as ``torch.utils.flop_counter`` counts them (matmuls, attention, convs)."""
    with FlopCounterMode(display=False) as counter:
        step(batch)
    return int(counter.get_total_flops())


@dataclass(frozen=True)
class PeakMemory:
    bytes: int
    #: how it was measured, stored with the number.
    method: str


def _state_bytes(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
    tensors = list(model.parameters()) + list(model.buffers())
    tensors += [v for state in optimizer.state.values() for v in state.values() if torch.is_tensor(v)]
    # A sharded (FSDP2) parameter is a DTensor: this rank holds its local shard only.
    local = [t.to_local() if hasattr(t, "to_local") else t for t in tensors]
    return sum(t.numel() * t.element_size() for t in local)


def peak_memory(
    step: Step, batch: Batch, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: str
) -> PeakMemory:
    """Peak memory of one warm step.

    CUDA: ``max_memory_allocated`` after ``reset_peak_memory_stats``. CPU has
    no allocator statistics: the measure is the bytes of parameters, buffers
    and optimizer state plus the peak of the step's transient allocations as
    the PyTorch profiler records them (``profile_memory=True``).
    """
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        step(batch)
        torch.cuda.synchronize()
        return PeakMemory(torch.cuda.max_memory_allocated(), "cuda max_memory_allocated")
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step(batch)
    running = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        running += event.self_cpu_memory_usage
        peak = max(peak, running)
    return PeakMemory(_state_bytes(model, optimizer) + peak, "cpu state + profiler transient peak")

"""What one step uses besides time: its FLOPs and its peak memory, each measured on a warm step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from hellotorch.models import Batch

Step = Callable[[Batch], torch.Tensor]


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

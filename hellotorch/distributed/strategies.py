"""Data-parallel strategies by name: DDP (with and without Dynamo's graph splitting) and FSDP2.

A strategy wraps the model of one rank and keeps its slice of the global
batch; the training step itself (:func:`hellotorch.training.step.train_step`) does not
change. Strategies:

- ``ddp``: ``DistributedDataParallel``. Compiled, Dynamo splits the graph at
  the gradient-bucket boundaries so all-reduces overlap the backward
  (DDPOptimizer, PyTorch's default).
- ``ddp-ca``: the same wrapper compiled without that splitting: compiled
  autograd traces the whole backward and DDP's reducer runs in Python
  (``optimize_ddp="python_reducer"``), PyTorch's alternative.
- ``fsdp2``: ``torch.distributed.fsdp.fully_shard`` on each repeated block,
  then on the root, as PyTorch's training recipes (torchtitan) do; compiled,
  each block is compiled (scope ``blocks``) so FSDP2's all-gather hooks stay
  outside the compiled regions.

``none`` is one process. :func:`check_strategy` refuses what a device or a
model cannot run, before any process starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from hellotorch.models import Batch, get_model_spec

SINGLE_PROCESS = "none"


@dataclass(frozen=True)
class StrategySpec:
    name: str
    description: str
    #: scopes a compiled case may use with this strategy.
    scopes: tuple[str, ...]
    #: Dynamo settings the compiled step needs (set once per rank process).
    dynamo: tuple[tuple[str, object], ...] = ()
    compiled_only: bool = False


STRATEGIES: dict[str, StrategySpec] = {
    SINGLE_PROCESS: StrategySpec(SINGLE_PROCESS, "one process", ("step", "model", "blocks")),
    "ddp": StrategySpec(
        "ddp",
        "DistributedDataParallel; compiled graphs split at gradient buckets (PyTorch's default)",
        ("step", "model"),
    ),
    "ddp-ca": StrategySpec(
        "ddp-ca",
        "DistributedDataParallel compiled without graph splitting: compiled autograd, Python reducer",
        ("step", "model"),
        dynamo=(("optimize_ddp", "python_reducer"), ("compiled_autograd", True)),
        compiled_only=True,
    ),
    "fsdp2": StrategySpec(
        "fsdp2", "fully_shard on each repeated block, then the root; compiled: each block compiled", ("blocks",)
    ),
}


def get_strategy(name: str) -> StrategySpec:
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


def check_strategy(
    name: str, *, world_size: int, device: str, model: str, batch_size: int, mode: str, scope: str
) -> None:
    """Refuse, with one line naming the culprit, a case the strategy cannot run."""
    spec = get_strategy(name)
    if world_size < 1:
        raise ValueError(f"--nproc must be a positive number of processes, got {world_size}")
    if name == SINGLE_PROCESS:
        if world_size != 1:
            raise ValueError(f"--nproc {world_size} needs a strategy ({', '.join(list(STRATEGIES)[1:])})")
        return
    if batch_size % world_size:
        raise ValueError(f"batch size {batch_size} does not split evenly over --nproc {world_size} ranks")
    compiled = mode != "eager"
    if spec.compiled_only and not compiled:
        raise ValueError(f"strategy {name} differs from ddp only when compiled; use ddp for the eager arm")
    if compiled and scope not in spec.scopes:
        raise ValueError(f"strategy {name} compiles with scope {', '.join(spec.scopes)}, not {scope}")
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in _meta_model(model).modules()):
        # Each rank would normalise with its own slice's statistics: not the one-process step.
        raise ValueError(f"model {model} has BatchNorm, whose per-rank statistics break parity with one process")


def check_ranks_fit(*, device: str, world_size: int) -> None:
    """Refuse, before launching, more CUDA ranks than GPUs (NCCL needs one GPU per rank).

    Apart from :func:`check_strategy` because a profile lists its CUDA cases
    on any machine (they skip where CUDA is absent); this is checked where a
    run is about to start.
    """
    if device == "cuda" and torch.cuda.is_available() and world_size > torch.cuda.device_count():
        raise ValueError(
            f"--nproc {world_size}: NCCL needs a GPU per rank and this machine has {torch.cuda.device_count()}"
        )
    cpus = os.cpu_count() or 1
    if device == "cpu" and world_size > cpus:
        # Each rank needs a core of its own: 64 ranks on 2 cores measure the scheduler, not the step.
        raise ValueError(f"--nproc {world_size}: more CPU ranks than this machine's {cpus} logical CPUs")


def _meta_model(model: str) -> nn.Module:
    spec = get_model_spec(model)
    with torch.device("meta"):
        backbone, _ = spec.build_backbone(spec.default_config)
    return backbone


@dataclass(frozen=True)
class Parallelism:
    """One rank's view of a data-parallel run."""

    strategy: str
    rank: int
    world_size: int

    def __post_init__(self) -> None:
        get_strategy(self.strategy)
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} outside world size {self.world_size}")

    def shard(self, batch: Batch) -> Batch:
        """This rank's equal slice of the global batch (a mean loss over slices is the global mean)."""
        return tuple(tensor.chunk(self.world_size)[self.rank] for tensor in batch)  # type: ignore[return-value]

    @property
    def dynamo_settings(self) -> dict[str, object]:
        """``torch._dynamo.config`` values this strategy's compiled step runs under."""
        return dict(get_strategy(self.strategy).dynamo)

    def wrap(self, model: nn.Module, *, blocks: nn.Module | None) -> nn.Module:
        """The module the step runs: ``model`` wrapped (DDP) or sharded in place (FSDP2)."""
        if self.strategy in ("ddp", "ddp-ca"):
            from torch.nn.parallel import DistributedDataParallel

            device_ids = [torch.cuda.current_device()] if next(model.parameters()).is_cuda else None
            # DDP picks its reducer (C++ or Python) when built, from the Dynamo settings then in force.
            with torch._dynamo.config.patch(**self.dynamo_settings):
                return DistributedDataParallel(model, device_ids=device_ids)
        if self.strategy == "fsdp2":
            from torch.distributed.fsdp import fully_shard

            for block in blocks if blocks is not None else ():
                fully_shard(block)
            fully_shard(model)
            return model
        return model


def remap_param_groups(before: dict[int, str], groups: list[dict], model: nn.Module) -> list[dict]:
    """Parameter groups rebuilt from names: FSDP2 replaces the parameters it shards."""
    params = dict(model.named_parameters())
    return [{**group, "params": [params[before[id(param)]] for param in group["params"]]} for group in groups]

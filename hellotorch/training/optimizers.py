"""The optimizer registry: names, implementations, and what PyTorch supports.

An optimizer is chosen by name (``sgd``, ``momentum``, ``adam``, ...) and by
implementation: ``forloop`` (one parameter at a time, PyTorch's CPU default),
``foreach`` (multi-tensor), ``fused`` (one kernel, where PyTorch has it) or
``default`` (let PyTorch choose). A combination PyTorch does not implement is
a ``ValueError`` that says which ones exist, raised before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

IMPLEMENTATIONS = ("default", "forloop", "foreach", "fused")


@dataclass(frozen=True)
class OptimizerSpec:
    """A registered optimizer: its class, fixed arguments and implementations."""

    name: str
    cls: type[torch.optim.Optimizer]
    #: hyper-parameters besides the learning rate (momentum, weight decay, ...).
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: whether PyTorch has a fused kernel for it (CPU and CUDA alike).
    fused: bool = False
    #: the family its parity tolerance is chosen by (``sgd`` or ``adaptive``).
    family: str = "sgd"

    @property
    def default_lr(self) -> float:
        """The learning rate benchmarks and parity checks use when none is given."""
        return 1e-3 if self.family == "adaptive" else 1e-2

    @property
    def implementations(self) -> tuple[str, ...]:
        return tuple(impl for impl in IMPLEMENTATIONS if impl != "fused" or self.fused)


OPTIMIZERS: dict[str, OptimizerSpec] = {
    spec.name: spec
    for spec in (
        OptimizerSpec("sgd", torch.optim.SGD, fused=True),
        OptimizerSpec("momentum", torch.optim.SGD, {"momentum": 0.9}, fused=True),
        OptimizerSpec("nesterov", torch.optim.SGD, {"momentum": 0.9, "nesterov": True}, fused=True),
        OptimizerSpec("adam", torch.optim.Adam, fused=True, family="adaptive"),
        OptimizerSpec("adamw", torch.optim.AdamW, {"weight_decay": 0.01}, fused=True, family="adaptive"),
        OptimizerSpec("rmsprop", torch.optim.RMSprop, family="adaptive"),
        OptimizerSpec("adagrad", torch.optim.Adagrad, fused=True, family="adaptive"),
    )
}


def get_optimizer_spec(name: str, implementation: str = "default") -> OptimizerSpec:
    """Validate an optimizer name and implementation; raise naming the choices."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")
    spec = OPTIMIZERS[name]
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {implementation!r}; choose one of: {', '.join(IMPLEMENTATIONS)}")
    if implementation not in spec.implementations:
        raise ValueError(
            f"optimizer {name} has no {implementation} implementation in PyTorch; "
            f"choose one of: {', '.join(spec.implementations)}"
        )
    return spec


def _implementation_kwargs(implementation: str) -> dict[str, bool]:
    return {
        "default": {},
        "forloop": {"foreach": False},
        "foreach": {"foreach": True},
        "fused": {"fused": True},
    }[implementation]


def build_optimizer(
    name: str,
    params: Iterable[torch.nn.Parameter] | Iterable[dict[str, Any]],
    *,
    lr: float,
    implementation: str = "default",
) -> torch.optim.Optimizer:
    """Build optimizer ``name`` over ``params`` (tensors or parameter groups)."""
    spec = get_optimizer_spec(name, implementation)
    if not lr > 0:
        raise ValueError(f"learning rate must be positive, got {lr}")
    try:
        return spec.cls(params, lr=lr, **spec.kwargs, **_implementation_kwargs(implementation))
    except (RuntimeError, ValueError) as error:
        # e.g. fused on a device or dtype PyTorch has no kernel for.
        raise ValueError(f"optimizer {name} ({implementation}) cannot be built here: {error}") from error

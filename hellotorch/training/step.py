"""The one training step that everything in hellotorch runs.

``train_step`` is pure: forward, loss, backward, optimizer step, zero_grad.
No timing, no logging, no ``.item()`` (each would add a host sync or a graph
break). The benchmarks, the parity checks, the CLI and fine-tuning all call
it, eager or compiled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager

import torch
from torch import nn

from hellotorch.models import Batch

PrecisionContext = Callable[[], ContextManager]


def forward_backward(
    model: nn.Module,
    batch: Batch,
    loss_fn: nn.Module,
    *,
    precision: PrecisionContext = contextlib.nullcontext,
) -> torch.Tensor:
    """Forward and backward only: the gradients are left in ``.grad``."""
    inputs, targets = batch
    # Autocast covers the forward and the loss; backward runs outside it, as
    # PyTorch's AMP recipe prescribes.
    with precision():
        loss = loss_fn(model(inputs), targets)
    loss.backward()
    return loss.detach()


def train_step(
    model: nn.Module,
    batch: Batch,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    *,
    precision: PrecisionContext = contextlib.nullcontext,
) -> torch.Tensor:
    """One optimisation step; returns the (detached) loss before the update."""
    loss = forward_backward(model, batch, loss_fn, precision=precision)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss

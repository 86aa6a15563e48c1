"""A fixed reference workload, timed beside each case so a step time can be read in units of this machine's speed.

A bench process's absolute speed differs from the next one's: over the 12
processes of one A/A trial here, with the threads bound and every
measurement in their fast state, the eager MLP step took 1.26-1.46 ms and
the compiled one 0.83-0.96 ms, while the ratio of the two, measured in the
same process, moved by 1.7 % (CV). A slower ``train_step`` slows both arms
alike and leaves that ratio where it was, so an A/B has to compare step
times, and their process-to-process spread hides a 5-10 % regression.

Timing the step against something the change under test cannot touch, in
interleaved pairs in the same process, cancels what the process's speed
does to both. This module is that something: plain torch operations on
fixed tensors, a small MLP's forward and backward with no optimizer; no
hellotorch model, step or optimizer code, so no commit of hellotorch or of
a user's project changes it. A PyTorch upgrade does change it: the
``reference`` statistic of ``hellotorch ab`` compares code on one PyTorch,
not two PyTorch versions. Changing this workload changes the unit:
``REFERENCE_VERSION`` is recorded with every value, and values of two
versions are never compared.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

#: Bump when the workload below changes: a value is in units of one version of it.
REFERENCE_VERSION = 1
ROWS, WIDTH = 32, 256


def reference_step(device: str = "cpu") -> Callable[[object], torch.Tensor]:
    """The reference workload as a step (it ignores its batch): about 0.3 ms on this project's 2-core VM."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(ROWS, WIDTH, generator=generator).to(device)
    first = (torch.randn(WIDTH, WIDTH, generator=generator) / WIDTH**0.5).to(device).requires_grad_()
    second = (torch.randn(WIDTH, WIDTH, generator=generator) / WIDTH**0.5).to(device).requires_grad_()

    def step(_batch: object) -> torch.Tensor:
        hidden = torch.nn.functional.layer_norm(torch.nn.functional.gelu(inputs @ first), (WIDTH,))
        loss = (hidden @ second).square().mean()
        loss.backward()
        first.grad = second.grad = None
        return loss

    return step

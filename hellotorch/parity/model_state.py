"""Parity of model state after training: frozen weights, and BatchNorm's running statistics.

Loss curves can agree while state drifts: a backbone that was meant to be
frozen but moved, or BatchNorm running statistics (buffers, updated in
training mode, invisible to the loss until evaluation) that the compiled
step updates differently. Each function returns ``(name, ok, detail)``
lines for :mod:`hellotorch.parity.losses`'s report.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hellotorch.parity.tolerances import Tolerance, same
from hellotorch.training.lora import base_parameters

Line = tuple[str, bool, str]
STATISTICS = ("running_mean", "running_var")


def frozen_backbone(pretrained: nn.Module, arms: dict[str, nn.Module]) -> list[Line]:
    """Every arm's backbone weights (the frozen originals under LoRA) and buffers bitwise the pretrained ones."""
    expected = {**dict(pretrained.named_parameters()), **dict(pretrained.named_buffers())}
    lines = []
    for arm_name, backbone in arms.items():
        actual = {**base_parameters(backbone), **dict(backbone.named_buffers())}
        moved = [
            name
            for name, tensor in expected.items()
            if name not in actual or not torch.equal(actual[name].detach().cpu().to(tensor.dtype), tensor)
        ]
        detail = f"{len(expected)} tensors bitwise unchanged" if not moved else f"{len(moved)} changed, e.g. {moved[0]}"
        lines.append((f"frozen backbone, {arm_name}", not moved, detail))
    return lines


def _statistics(model: nn.Module) -> dict[str, torch.Tensor]:
    return {
        name: buffer.detach().double().cpu()
        for name, buffer in model.named_buffers()
        if name.rsplit(".", 1)[-1] in STATISTICS
    }


def batchnorm_statistics(
    eager: nn.Module, compiled: nn.Module, reference: nn.Module, *, tolerance: Tolerance
) -> tuple[Line | None, float]:
    """All BatchNorm running means and variances, compiled against eager by PyTorch's rule (fp64 reference).

    The statistics follow the weights, and the weights of the two arms drift
    apart by float rounding over the steps as the loss curves do, so they get
    the curves' rule: allclose, else no further from the fp64 run than eager.
    NaN and no line when the model has no BatchNorm.
    """
    eager_stats, compiled_stats, reference_stats = _statistics(eager), _statistics(compiled), _statistics(reference)
    if not eager_stats:
        return None, math.nan
    names = sorted(eager_stats)
    flat = [
        torch.cat([stats[name].flatten() for name in names]) for stats in (eager_stats, compiled_stats, reference_stats)
    ]
    diffs = {name: float((compiled_stats[name] - eager_stats[name]).abs().max()) for name in names}
    worst_name = max(diffs, key=diffs.get)
    ok, how = same(flat[1], flat[0], flat[2], tolerance=tolerance)
    detail = f"{len(names)} buffers, max |diff| {diffs[worst_name]:.2e} ({worst_name}); {how}"
    return ("BatchNorm running statistics", ok, detail), diffs[worst_name]

"""LoRA fine-tuning: low-rank adapters on the backbone's Linear and convolution layers.

Each adapted layer's weight becomes ``W + (alpha / rank) * B @ A`` through
``torch.nn.utils.parametrize``: ``W`` (and the bias) frozen, ``A`` random,
``B`` zero, so training starts exactly at the pretrained model and only the
adapters (and the head) learn. A convolution's weight is adapted as the
matrix ``(out, in * kh * kw)``. :func:`plain_state_dict` folds the adapters back
into plain weights, so a LoRA-fine-tuned checkpoint loads into the plain model.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize

ADAPTED = (nn.Linear, nn.Conv1d, nn.Conv2d)


class LowRankDelta(nn.Module):
    """The parametrization ``weight -> weight + scale * (B @ A).view(weight.shape)``."""

    def __init__(self, weight: torch.Tensor, *, rank: int, alpha: float, generator: torch.Generator) -> None:
        super().__init__()
        fan_in = weight[0].numel()
        # LoRA's initialisation: A like Kaiming-uniform, B zero (the delta starts at exactly zero).
        bound = 1 / math.sqrt(fan_in)
        a = (torch.rand(rank, fan_in, generator=generator) * 2 - 1) * bound
        self.A = nn.Parameter(a.to(device=weight.device, dtype=weight.dtype))
        self.B = nn.Parameter(torch.zeros(weight.shape[0], rank, device=weight.device, dtype=weight.dtype))
        self.scale = alpha / rank

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight + self.scale * (self.B @ self.A).view(weight.shape)


def add_adapters(backbone: nn.Module, *, rank: int, alpha: float, seed: int) -> list[nn.Parameter]:
    """Freeze ``backbone`` and adapt its layers; return the adapters' parameters (what trains)."""
    layers = [module for module in backbone.modules() if isinstance(module, ADAPTED)]
    if not layers:
        raise ValueError("LoRA needs Linear or convolution layers in the backbone; this model's backbone has none")
    for param in backbone.parameters():
        param.requires_grad_(False)
    generator = torch.Generator().manual_seed(seed)
    adapters: list[nn.Parameter] = []
    for layer in layers:
        delta = LowRankDelta(layer.weight, rank=rank, alpha=alpha, generator=generator)
        parametrize.register_parametrization(layer, "weight", delta)
        adapters += [delta.A, delta.B]
    return adapters


def base_parameters(module: nn.Module) -> dict[str, torch.Tensor]:
    """The module's parameters under their plain names, the frozen originals for adapted layers."""
    found: dict[str, torch.Tensor] = {}
    for name, param in module.named_parameters():
        if ".parametrizations.weight.original" in name:
            found[name.replace(".parametrizations.weight.original", ".weight")] = param
        elif ".parametrizations." not in name:
            found[name] = param
    return found


def plain_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s state with every adapter folded into its layer's plain ``weight`` (the model is left as it is)."""
    state = {name: tensor for name, tensor in model.state_dict().items() if ".parametrizations." not in name}
    for name, module in model.named_modules():
        if parametrize.is_parametrized(module, "weight"):
            state[f"{name}.weight" if name else "weight"] = module.weight.detach().clone()
    return state

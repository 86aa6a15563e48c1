"""``mlp``: Linear/LayerNorm/GELU blocks on 64 seeded features, CrossEntropyLoss over 10 classes."""

from __future__ import annotations

import torch
from torch import nn

from hellotorch.models.contract import Batch, ModelConfig, ModelSpec

MLP_FEATURES = 64


def one_hot_targets(scores: torch.Tensor) -> torch.Tensor:
    """Class-probability targets of the logits' shape and dtype (CrossEntropyLoss accepts them; they cast with the model)."""
    return nn.functional.one_hot(scores.argmax(dim=1), scores.shape[1]).to(torch.float32)


class MLPBlock(nn.Module):
    """Linear -> LayerNorm -> GELU (-> Dropout): many small elementwise ops, which is where Inductor's fusion pays off.

    A module of its own (not a slice of one Sequential) so that regional
    compilation and FSDP2 have a repeated block to compile or shard.
    """

    def __init__(self, width_in: int, width: int, dropout: float) -> None:
        super().__init__()
        self.linear = nn.Linear(width_in, width)
        self.norm = nn.LayerNorm(width)
        self.act = nn.GELU()
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.act(self.norm(self.linear(features))))


def _backbone(config: ModelConfig) -> tuple[nn.Module, int]:
    blocks, width_in = [], MLP_FEATURES
    for _ in range(config.depth):
        blocks.append(MLPBlock(width_in, config.width, config.dropout))
        width_in = config.width
    return nn.Sequential(*blocks), width_in


def _batch(config: ModelConfig, batch_size: int, seed: int, task: int) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(batch_size, MLP_FEATURES, generator=generator)
    teacher = torch.randn(MLP_FEATURES, config.num_classes, generator=torch.Generator().manual_seed(2000 + task))
    return features, one_hot_targets(features @ teacher)


MLP = ModelSpec(
    name="mlp",
    description="MLP classifier: Linear/LayerNorm/GELU blocks (CrossEntropyLoss)",
    default_config=ModelConfig(width=256, depth=3, num_classes=10),
    build_backbone=_backbone,
    make_batch=_batch,
    make_loss=nn.CrossEntropyLoss,
    default_batch_size=64,
    finetune_classes=4,
    blocks="",
)

"""``transformer``: PyTorch's own encoder layers (SDPA inside) over seeded tokens, mean-pooled, classified."""

from __future__ import annotations

import torch
from torch import nn

from hellotorch.models.contract import Batch, ModelConfig, ModelSpec
from hellotorch.models.mlp import one_hot_targets

TRANSFORMER_VOCAB = 128
TRANSFORMER_SEQ = 32
TRANSFORMER_HEADS = 4


class TokenEncoder(nn.Module):
    """Embeddings, PyTorch's own encoder layers (SDPA inside), mean pooling."""

    def __init__(self, *, vocab: int, seq_len: int, width: int, depth: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.position = nn.Parameter(torch.randn(1, seq_len, width) * 0.02)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model=width,
                nhead=heads,
                dim_feedforward=2 * width,
                dropout=dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(width)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden = self.embed(tokens) + self.position
        for layer in self.layers:
            hidden = layer(hidden)
        return self.norm(hidden.mean(dim=1))


def _backbone(config: ModelConfig) -> tuple[nn.Module, int]:
    encoder = TokenEncoder(
        vocab=TRANSFORMER_VOCAB,
        seq_len=config.seq_len or TRANSFORMER_SEQ,
        width=config.width,
        depth=config.depth,
        heads=TRANSFORMER_HEADS,
        dropout=config.dropout,
    )
    return encoder, config.width


def _batch(config: ModelConfig, batch_size: int, seed: int, task: int) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, TRANSFORMER_VOCAB, (batch_size, config.seq_len or TRANSFORMER_SEQ), generator=generator)
    teacher = torch.randn(TRANSFORMER_VOCAB, config.num_classes, generator=torch.Generator().manual_seed(3000 + task))
    counts = nn.functional.one_hot(tokens, TRANSFORMER_VOCAB).to(torch.float32).mean(dim=1)
    return tokens, one_hot_targets(counts @ teacher)


TRANSFORMER = ModelSpec(
    name="transformer",
    description="small transformer encoder classifier over 32 tokens (CrossEntropyLoss)",
    default_config=ModelConfig(width=64, depth=2, num_classes=10, seq_len=TRANSFORMER_SEQ),
    build_backbone=_backbone,
    make_batch=_batch,
    make_loss=nn.CrossEntropyLoss,
    default_batch_size=32,
    finetune_classes=4,
    has_sequence=True,
    blocks="layers",
)

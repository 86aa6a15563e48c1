"""``gpt``: a decoder-only transformer in nanoGPT's shape, small enough for a CPU.

Token and position embeddings, pre-LayerNorm blocks of causal self-attention
(``scaled_dot_product_attention`` with ``is_causal=True``) and a GELU MLP, a
final LayerNorm, and an output layer whose weight is the token embedding's
(weight tying). Next-token loss on seeded synthetic text: a Markov chain over
the vocabulary, so there is something to learn. The sequence length is an
axis of its own (``ModelConfig.seq_len``). A fine-tuning task gets a new,
untied output layer, so a frozen backbone (embeddings included) stays frozen.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from hellotorch.models.contract import Batch, ModelConfig, ModelSpec

VOCAB = 256
HEADS = 4
CONTEXT = 128
#: probability that the synthetic text follows its chain rather than jumping at random.
FOLLOW = 0.8


class CausalSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        q, k, v = self.qkv(x).split(width, dim=2)
        q, k, v = (t.view(batch, tokens, self.heads, width // self.heads).transpose(1, 2) for t in (q, k, v))
        dropout = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, width))


class Block(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, heads, dropout)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class Decoder(nn.Module):
    """Everything but the output layer: embeddings, blocks, final LayerNorm."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.width % HEADS:
            raise ValueError(f"width {config.width} is not divisible by the {HEADS} attention heads")
        self.wte = nn.Embedding(config.num_classes, config.width)
        self.wpe = nn.Embedding(config.seq_len or CONTEXT, config.width)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config.width, HEADS, config.dropout) for _ in range(config.depth))
        self.ln_f = nn.LayerNorm(config.width)
        self.apply(_init_weights)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.drop(self.wte(tokens) + self.wpe(positions))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x)


def _init_weights(module: nn.Module) -> None:
    # nanoGPT's initialisation: N(0, 0.02); with unit-variance embeddings the
    # tied output layer would start with logits in the tens.
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


class NextTokenLoss(nn.Module):
    """Cross-entropy of every position's logits against the next token."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def _backbone(config: ModelConfig) -> tuple[nn.Module, int]:
    return Decoder(config), config.width


def _tied_head(config: ModelConfig, backbone: nn.Module, width: int) -> nn.Module:
    head = nn.Linear(width, config.num_classes, bias=False)
    head.weight = backbone.wte.weight  # weight tying, as GPT-2 and nanoGPT do
    return head


def _batch(config: ModelConfig, batch_size: int, seed: int, task: int) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    chain = torch.randint(
        0, config.num_classes, (config.num_classes,), generator=torch.Generator().manual_seed(5000 + task)
    )
    tokens = config.seq_len or CONTEXT
    text = torch.empty(batch_size, tokens + 1, dtype=torch.long)
    text[:, 0] = torch.randint(0, config.num_classes, (batch_size,), generator=generator)
    for position in range(1, tokens + 1):
        follow = torch.rand(batch_size, generator=generator) < FOLLOW
        jump = torch.randint(0, config.num_classes, (batch_size,), generator=generator)
        text[:, position] = torch.where(follow, chain[text[:, position - 1]], jump)
    return text[:, :-1], text[:, 1:]


def parameter_count(config: ModelConfig) -> int:
    """Parameters of the model (the tied output layer counted once)."""
    width = config.width
    per_block = 12 * width**2 + 13 * width
    return config.depth * per_block + config.num_classes * width + (config.seq_len or CONTEXT) * width + 2 * width


def _flops_per_sample(config: ModelConfig) -> int:
    """nanoGPT's estimate of a training step: 6N per token plus 12 L H Q T for attention, times T tokens."""
    tokens = config.seq_len or CONTEXT
    attention = 12 * config.depth * HEADS * (config.width // HEADS) * tokens
    # Like nanoGPT, the position embedding is left out of N: it costs no matmul.
    weights = parameter_count(config) - (config.seq_len or CONTEXT) * config.width
    return tokens * (6 * weights + attention)


GPT = ModelSpec(
    name="gpt",
    description="nanoGPT-shaped decoder: causal SDPA, GELU MLP, pre-LayerNorm, tied output (next-token loss)",
    default_config=ModelConfig(width=128, depth=4, num_classes=VOCAB, seq_len=CONTEXT),
    build_backbone=_backbone,
    make_batch=_batch,
    make_loss=NextTokenLoss,
    default_batch_size=8,
    finetune_classes=VOCAB,
    build_model_head=_tied_head,
    flops_per_sample=_flops_per_sample,
    has_sequence=True,
    blocks="blocks",
)

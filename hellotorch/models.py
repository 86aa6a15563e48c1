"""The model registry: every model hellotorch trains, with its seeded dataset.

Four models, from the "Hello PyTorch" tutorial's two toy regressions up to a
small transformer. Each is a :class:`Classifier` split into ``backbone`` and
``head`` (the split fine-tuning needs), paired with a loss and a deterministic
synthetic batch whose targets have the output's shape and dtype (the
tutorial's bug was integer labels into ``BCEWithLogitsLoss``).

Look models up with :func:`build_model` / :func:`get_model_spec`; an unknown
name raises ``ValueError`` listing the known ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class ModelConfig:
    """The shape of a model; saved in checkpoints so a mismatch can be named."""

    #: hidden width (mlp) or model dimension (transformer); unused by the toy models.
    width: int = 0
    #: number of hidden blocks / encoder layers; unused by the toy models.
    depth: int = 0
    #: output size of the head.
    num_classes: int = 1
    #: dropout probability inside the backbone (0 keeps parity exact).
    dropout: float = 0.0


class Classifier(nn.Module):
    """``head(backbone(x))``: a backbone to freeze or slow down, a head to swap."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(inputs))


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


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: how to build it, its data and its loss."""

    name: str
    description: str
    default_config: ModelConfig
    build_backbone: Callable[[ModelConfig], tuple[nn.Module, int]]
    make_batch: Callable[[ModelConfig, int, int, int], Batch]
    make_loss: Callable[[], nn.Module]
    default_batch_size: int
    #: head size of the fine-tuning task (a new task gets a new head).
    finetune_classes: int

    @property
    def has_backbone(self) -> bool:
        backbone, _ = self.build_backbone(self.default_config)
        return any(True for _ in backbone.parameters())


# --- the tutorial's models -------------------------------------------------

HELLO_FEATURES = 5


def _hello_backbone(config: ModelConfig) -> tuple[nn.Module, int]:
    return nn.Identity(), HELLO_FEATURES


def _hello_batch(config: ModelConfig, batch_size: int, seed: int, task: int) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(batch_size, HELLO_FEATURES, generator=generator)
    # A fixed hidden rule per task, so there is something to learn (the
    # tutorial's labels were pure noise, which a 10-sample run can only memorise).
    rule = torch.randn(HELLO_FEATURES, generator=torch.Generator().manual_seed(1000 + task))
    labels = (features @ rule > 0).to(torch.float32).unsqueeze(1)
    return features, labels


LINEAR_X = (1.0, 2.0, 3.0, 4.0)
LINEAR_Y = (0.0, 1.0, 1.0, 0.0)


def _linear_backbone(config: ModelConfig) -> tuple[nn.Module, int]:
    return nn.Identity(), 1


def _linear_batch(config: ModelConfig, batch_size: int, seed: int, task: int) -> Batch:
    # The tutorial's four rows exactly; larger batches repeat them in order.
    repeats = -(-batch_size // len(LINEAR_X))
    inputs = torch.tensor(LINEAR_X).repeat(repeats)[:batch_size].unsqueeze(1)
    targets = torch.tensor(LINEAR_Y).repeat(repeats)[:batch_size].unsqueeze(1)
    return inputs, targets


# --- the realistic models --------------------------------------------------

MLP_FEATURES = 64


def _mlp_backbone(config: ModelConfig) -> tuple[nn.Module, int]:
    layers: list[nn.Module] = []
    width_in = MLP_FEATURES
    for _ in range(config.depth):
        # Linear -> LayerNorm -> GELU: many small elementwise ops, which is
        # where Inductor's fusion pays off.
        layers += [nn.Linear(width_in, config.width), nn.LayerNorm(config.width), nn.GELU()]
        if config.dropout:
            layers.append(nn.Dropout(config.dropout))
        width_in = config.width
    return nn.Sequential(*layers), width_in


def _one_hot_targets(scores: torch.Tensor) -> torch.Tensor:
    # Class-probability targets: same shape and dtype as the logits, which
    # CrossEntropyLoss accepts and which cast with the model's dtype.
    return nn.functional.one_hot(scores.argmax(dim=1), scores.shape[1]).to(torch.float32)


def _mlp_batch(config: ModelConfig, batch_size: int, seed: int, task: int) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(batch_size, MLP_FEATURES, generator=generator)
    teacher = torch.randn(MLP_FEATURES, config.num_classes, generator=torch.Generator().manual_seed(2000 + task))
    return features, _one_hot_targets(features @ teacher)


TRANSFORMER_VOCAB = 128
TRANSFORMER_SEQ = 32
TRANSFORMER_HEADS = 4


def _transformer_backbone(config: ModelConfig) -> tuple[nn.Module, int]:
    encoder = TokenEncoder(
        vocab=TRANSFORMER_VOCAB,
        seq_len=TRANSFORMER_SEQ,
        width=config.width,
        depth=config.depth,
        heads=TRANSFORMER_HEADS,
        dropout=config.dropout,
    )
    return encoder, config.width


def _transformer_batch(config: ModelConfig, batch_size: int, seed: int, task: int) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, TRANSFORMER_VOCAB, (batch_size, TRANSFORMER_SEQ), generator=generator)
    teacher = torch.randn(TRANSFORMER_VOCAB, config.num_classes, generator=torch.Generator().manual_seed(3000 + task))
    counts = nn.functional.one_hot(tokens, TRANSFORMER_VOCAB).to(torch.float32).mean(dim=1)
    return tokens, _one_hot_targets(counts @ teacher)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="hello",
            description="the tutorial's Linear(5, 1) binary classifier (BCEWithLogitsLoss)",
            default_config=ModelConfig(num_classes=1),
            build_backbone=_hello_backbone,
            make_batch=_hello_batch,
            make_loss=nn.BCEWithLogitsLoss,
            default_batch_size=10,
            finetune_classes=1,
        ),
        ModelSpec(
            name="linear",
            description="the tutorial's Linear(1, 1) on x = 1..4, y = 0, 1, 1, 0 (MSELoss)",
            default_config=ModelConfig(num_classes=1),
            build_backbone=_linear_backbone,
            make_batch=_linear_batch,
            make_loss=nn.MSELoss,
            default_batch_size=4,
            finetune_classes=1,
        ),
        ModelSpec(
            name="mlp",
            description="MLP classifier: Linear/LayerNorm/GELU blocks (CrossEntropyLoss)",
            default_config=ModelConfig(width=256, depth=3, num_classes=10),
            build_backbone=_mlp_backbone,
            make_batch=_mlp_batch,
            make_loss=nn.CrossEntropyLoss,
            default_batch_size=64,
            finetune_classes=4,
        ),
        ModelSpec(
            name="transformer",
            description="small transformer encoder classifier over 32 tokens (CrossEntropyLoss)",
            default_config=ModelConfig(width=64, depth=2, num_classes=10),
            build_backbone=_transformer_backbone,
            make_batch=_transformer_batch,
            make_loss=nn.CrossEntropyLoss,
            default_batch_size=32,
            finetune_classes=4,
        ),
    )
}


def get_model_spec(name: str) -> ModelSpec:
    """The registered model called ``name``; ``ValueError`` names the known ones."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name]


def model_config(name: str, **overrides: int | float | None) -> ModelConfig:
    """The model's default config with the given non-None fields replaced."""
    config = get_model_spec(name).default_config
    changes = {key: value for key, value in overrides.items() if value is not None}
    for key, value in changes.items():
        if key in ("width", "depth", "num_classes") and int(value) < 1:
            raise ValueError(f"{key} must be positive, got {value}")
        if key == "dropout" and not 0.0 <= float(value) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {value}")
    return dataclasses.replace(config, **changes)


def build_head(width: int, num_classes: int) -> nn.Module:
    return nn.Linear(width, num_classes)


def build_model(name: str, *, config: ModelConfig | None = None, seed: int = 0) -> Classifier:
    """A freshly initialised model; the same seed gives bitwise-equal weights."""
    spec = get_model_spec(name)
    config = config or spec.default_config
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone, width = spec.build_backbone(config)
        return Classifier(backbone, build_head(width, config.num_classes))


def make_batch(
    name: str,
    *,
    batch_size: int,
    config: ModelConfig | None = None,
    seed: int = 0,
    task: int = 0,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Batch:
    """One deterministic batch of ``name``'s task.

    Built on the CPU from its own generator, so the same seed gives the same
    batch on every device; floating tensors are cast to ``dtype``.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    spec = get_model_spec(name)
    inputs, targets = spec.make_batch(config or spec.default_config, batch_size, seed, task)

    def place(tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.to(device)
        return tensor.to(dtype) if tensor.is_floating_point() else tensor

    return place(inputs), place(targets)

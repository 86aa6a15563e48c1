"""The model contract: what every model, built-in or plug-in, gives hellotorch.

A model is a :class:`ModelSpec`: how to build its backbone (and, where
fine-tuning should be possible, which part is the backbone and which the
head), a seeded batch for a batch size and a :class:`ModelConfig` (whose
``seq_len`` is the sequence length where one applies), its loss, and
optionally its FLOPs per sample. The built-in models in this package and a
user's model behind ``--model package.module:factory`` are the same kind of
object and take the same path through hellotorch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class ModelConfig:
    """The shape of a model; saved in checkpoints so a mismatch can be named."""

    #: hidden width (mlp), model dimension (transformer, gpt) or base channels (cnn); unused by the toy models.
    width: int = 0
    #: number of hidden blocks / layers / residual blocks; unused by the toy models.
    depth: int = 0
    #: output size of the head (classes; the vocabulary for a language model).
    num_classes: int = 1
    #: dropout probability inside the backbone (0 keeps parity exact).
    dropout: float = 0.0
    #: sequence length (tokens per sample) for models with a sequence axis; 0 where none applies.
    seq_len: int = 0
    #: the model's own settings (a plug-in's vocabulary, embedding width...), as sorted (name, value) pairs;
    #: a profile file sets them with its ``model_options`` table, the factory reads them with :meth:`option`.
    options: tuple[tuple[str, int | float | str | bool], ...] = ()

    def __post_init__(self) -> None:
        # Sorted pairs whatever they came as (a dict, JSON lists from a checkpoint): one config, one value.
        items = self.options.items() if isinstance(self.options, dict) else self.options
        object.__setattr__(self, "options", tuple(sorted((str(name), value) for name, value in items)))

    def option(self, name: str, default: int | float | str | bool) -> int | float | str | bool:
        """The model's own setting ``name``, or ``default`` where the profile does not set it."""
        return dict(self.options).get(name, default)


class Classifier(nn.Module):
    """``head(backbone(x))``: a backbone to freeze or slow down, a head to swap."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(inputs))


def build_head(width: int, num_classes: int) -> nn.Module:
    """The default head: one Linear layer (also a fine-tuning task's new head)."""
    return nn.Linear(width, num_classes)


@dataclass(frozen=True)
class ModelSpec:
    """A model as hellotorch sees it; a plug-in factory returns one of these.

    ``build_backbone(config) -> (backbone, width)``: the feature extractor and
    the width of what it returns. ``make_batch(config, batch_size, seed, task)
    -> (inputs, targets)``: a deterministic batch built on the CPU (``task`` 1
    is the fine-tuning task's data). ``make_loss() -> loss module`` taking
    ``(model(inputs), targets)`` to a scalar.
    """

    name: str
    description: str
    default_config: ModelConfig
    build_backbone: Callable[[ModelConfig], tuple[nn.Module, int]]
    make_batch: Callable[[ModelConfig, int, int, int], Batch]
    make_loss: Callable[[], nn.Module]
    default_batch_size: int
    #: head size of the fine-tuning task (a new task gets a new head).
    finetune_classes: int
    #: ``(config, backbone, width) -> head`` where the head is special (a GPT's, tied to its embedding).
    build_model_head: Callable[[ModelConfig, nn.Module, int], nn.Module] | None = None
    #: analytic FLOPs of one training step per sample (e.g. a GPT's 6N + attention), if known.
    flops_per_sample: Callable[[ModelConfig], int] | None = None
    #: whether ``seq_len`` is an axis of this model's data.
    has_sequence: bool = False
    #: path, inside the backbone, of the container (ModuleList or Sequential) of
    #: its repeated blocks ("" for the backbone itself); None where there are
    #: none. Regional compilation compiles each block; FSDP2 shards each.
    blocks: str | None = None

    def repeated_blocks(self, backbone: nn.Module) -> nn.Module | None:
        """The backbone's container of repeated blocks, or None."""
        return None if self.blocks is None else backbone.get_submodule(self.blocks)

    @property
    def has_backbone(self) -> bool:
        with torch.device("meta"):
            backbone, _ = self.build_backbone(self.default_config)
        return any(True for _ in backbone.parameters())

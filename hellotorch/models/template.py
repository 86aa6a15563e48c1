"""The plug-in template: a small 1-D convolutional keyword spotter on synthetic waveforms.

``hellotorch new-model NAME`` writes this module as ``NAME.py`` (and a profile
file, ``NAME.toml``) for you to edit into your own model; the repository's
``examples/tiny_audio.py`` is this module as it ships. It is written only
against the documented contract (:class:`hellotorch.models.ModelSpec`,
docs/plugins.md). From the folder that holds it::

    hellotorch train --model tiny_audio:make_spec --optimizer adamw --lr 1e-3 --steps 50
    hellotorch parity --model tiny_audio:make_spec --optimizer adamw
    hellotorch bench --profile tiny_audio.toml

An installed package would register it by name instead, in its pyproject.toml::

    [project.entry-points."hellotorch.models"]
    tiny_audio = "my_package.tiny_audio:make_spec"
"""

from __future__ import annotations

import torch
from torch import nn

from hellotorch.models import ModelConfig, ModelSpec

SAMPLES = 256
KEYWORDS = 6


def _backbone(config: ModelConfig) -> tuple[nn.Module, int]:
    layers: list[nn.Module] = []
    channels_in = 1
    for _ in range(config.depth):
        layers += [
            nn.Conv1d(channels_in, config.width, kernel_size=9, stride=2, padding=4),
            nn.GroupNorm(4, config.width),
            nn.GELU(),
        ]
        channels_in = config.width
    layers += [nn.AdaptiveAvgPool1d(1), nn.Flatten()]
    return nn.Sequential(*layers), config.width


def _batch(config: ModelConfig, batch_size: int, seed: int, task: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each keyword is a tone at its own frequency, in noise; task 1 shifts the frequencies."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, config.num_classes, (batch_size,), generator=generator)
    samples = int(config.option("samples", SAMPLES))  # a setting of this model's own: `[model_options]` in a profile
    time = torch.arange(samples, dtype=torch.float32) / samples
    frequency = 4.0 + 3.0 * labels.float() + 1.5 * task
    waves = torch.sin(2 * torch.pi * frequency[:, None] * time[None, :])
    waves = waves + 0.3 * torch.randn(batch_size, samples, generator=generator)
    return waves.unsqueeze(1), labels


def make_spec() -> ModelSpec:
    """The factory hellotorch calls: ``--model tiny_audio:make_spec``."""
    return ModelSpec(
        name="tiny_audio",
        description="1-D conv keyword spotter on synthetic tones (CrossEntropyLoss)",
        default_config=ModelConfig(width=32, depth=3, num_classes=KEYWORDS),
        build_backbone=_backbone,
        make_batch=_batch,
        make_loss=nn.CrossEntropyLoss,
        default_batch_size=16,
        finetune_classes=KEYWORDS,
    )

"""``cnn``: a small ResNet-style network (conv, BatchNorm, ReLU, residual blocks, pooling) on 32x32 images.

BatchNorm is what makes it different under ``torch.compile``: in training mode
it updates running statistics (buffers, not parameters) every step, which
the parity check compares between eager and compiled. A frozen backbone keeps
its statistics frozen too: fine-tuning puts the backbone's BatchNorm layers in
eval mode (see :func:`hellotorch.training.loops.prepare_finetuning`).
"""

from __future__ import annotations

import torch
from torch import nn

from hellotorch.models.contract import Batch, ModelConfig, ModelSpec
from hellotorch.models.mlp import one_hot_targets

IMAGE_SIZE = 32
CHANNELS = 3


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the input (projected when the shape changes), then ReLU."""

    def __init__(self, channels_in: int, channels_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or channels_in != channels_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 1, stride=stride, bias=False), nn.BatchNorm2d(channels_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def _backbone(config: ModelConfig) -> tuple[nn.Module, int]:
    layers: list[nn.Module] = [
        nn.Conv2d(CHANNELS, config.width, 3, padding=1, bias=False),
        nn.BatchNorm2d(config.width),
        nn.ReLU(),
    ]
    channels = config.width
    for index in range(config.depth):
        # Every second block halves the resolution and doubles the channels, as ResNets do.
        widen = index % 2 == 1
        layers.append(ResidualBlock(channels, channels * 2 if widen else channels, stride=2 if widen else 1))
        channels = channels * 2 if widen else channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if config.dropout:
        layers.append(nn.Dropout(config.dropout))
    return nn.Sequential(*layers), channels


def _batch(config: ModelConfig, batch_size: int, seed: int, task: int) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(batch_size, CHANNELS, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
    # The label follows a fixed colour-and-layout rule per task: something to learn.
    pooled = nn.functional.avg_pool2d(images, 8).flatten(1)
    teacher = torch.randn(pooled.shape[1], config.num_classes, generator=torch.Generator().manual_seed(4000 + task))
    return images, one_hot_targets(pooled @ teacher)


def _flops_per_sample(config: ModelConfig) -> int:
    """Convolutions dominate: 2 x MACs forward, x3 for forward and backward."""
    macs = CHANNELS * config.width * 9 * IMAGE_SIZE**2
    channels, size = config.width, IMAGE_SIZE
    for index in range(config.depth):
        widen = index % 2 == 1
        out, size = (channels * 2, size // 2) if widen else (channels, size)
        macs += (channels * out * 9 + out * out * 9 + (channels * out if widen else 0)) * size**2
        channels = out
    return 6 * macs


CNN = ModelSpec(
    name="cnn",
    description="ResNet-style CNN on 32x32 images: conv, BatchNorm, ReLU, residual blocks (CrossEntropyLoss)",
    default_config=ModelConfig(width=16, depth=2, num_classes=10),
    build_backbone=_backbone,
    make_batch=_batch,
    make_loss=nn.CrossEntropyLoss,
    default_batch_size=32,
    finetune_classes=4,
    flops_per_sample=_flops_per_sample,
)

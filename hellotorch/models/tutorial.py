"""The "Hello PyTorch" tutorial's two models, working as the tutorial meant them.

``hello``: a ``Linear(5, 1)`` binary classifier with ``BCEWithLogitsLoss`` and
float 0/1 targets of the output's shape (the tutorial fed integer labels of
shape ``(10,)``). ``linear``: a ``Linear(1, 1)`` on the four rows x = 1..4,
y = 0, 1, 1, 0 with ``MSELoss``. Neither has a backbone: fine-tuning them
means training on, as the tutorial did.
"""

from __future__ import annotations

import torch
from torch import nn

from hellotorch.models.contract import Batch, ModelConfig, ModelSpec

HELLO_FEATURES = 5
LINEAR_X = (1.0, 2.0, 3.0, 4.0)
LINEAR_Y = (0.0, 1.0, 1.0, 0.0)


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


def _linear_backbone(config: ModelConfig) -> tuple[nn.Module, int]:
    return nn.Identity(), 1


def _linear_batch(config: ModelConfig, batch_size: int, seed: int, task: int) -> Batch:
    # The tutorial's four rows exactly; larger batches repeat them in order.
    repeats = -(-batch_size // len(LINEAR_X))
    inputs = torch.tensor(LINEAR_X).repeat(repeats)[:batch_size].unsqueeze(1)
    targets = torch.tensor(LINEAR_Y).repeat(repeats)[:batch_size].unsqueeze(1)
    return inputs, targets


HELLO = ModelSpec(
    name="hello",
    description="the tutorial's Linear(5, 1) binary classifier (BCEWithLogitsLoss)",
    default_config=ModelConfig(num_classes=1),
    build_backbone=_hello_backbone,
    make_batch=_hello_batch,
    make_loss=nn.BCEWithLogitsLoss,
    default_batch_size=10,
    finetune_classes=1,
)
LINEAR = ModelSpec(
    name="linear",
    description="the tutorial's Linear(1, 1) on x = 1..4, y = 0, 1, 1, 0 (MSELoss)",
    default_config=ModelConfig(num_classes=1),
    build_backbone=_linear_backbone,
    make_batch=_linear_batch,
    make_loss=nn.MSELoss,
    default_batch_size=4,
    finetune_classes=1,
)

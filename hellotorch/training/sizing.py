"""What a model costs before it is built: shape checks and a memory estimate.

:func:`check_config` builds a model on PyTorch's meta device (no memory) so a
shape PyTorch rejects is refused with its width and depth named;
:func:`estimate_step_bytes` bounds a training step's memory from shapes alone,
so :class:`~hellotorch.training.loops.RunConfig` can refuse a size that cannot fit
before anything is allocated.
"""

from __future__ import annotations

import torch

from hellotorch.errors import first_line
from hellotorch.models import MLP_FEATURES, ModelConfig, build_head, get_model_spec


def check_config(name: str, config: ModelConfig) -> int:
    """Build ``name`` with ``config`` on the meta device (no memory); return its parameter count.

    A shape PyTorch rejects (a transformer width its heads do not divide, say)
    becomes a ``ValueError`` naming the shape, before anything is allocated.
    """
    spec = get_model_spec(name)
    for key in ("width", "depth", "num_classes"):
        if getattr(config, key) < 0 or (key == "num_classes" and config.num_classes < 1):
            raise ValueError(f"model {name}: {key} must be positive, got {getattr(config, key)}")
    if not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"model {name}: dropout must be in [0, 1), got {config.dropout}")
    try:
        with torch.device("meta"):
            backbone, width = spec.build_backbone(config)
            head = (
                spec.build_model_head(config, backbone, width)
                if spec.build_model_head
                else build_head(width, config.num_classes)
            )
    except Exception as error:  # PyTorch's own checks raise AssertionError, RuntimeError, ...
        raise ValueError(
            f"model {name} cannot be built with width {config.width}, depth {config.depth}: {first_line(error)}"
        ) from None
    return sum(p.numel() for p in {id(p): p for m in (backbone, head) for p in m.parameters()}.values())


#: Floats a sample keeps alive per unit of width and depth during a step
#: (activations saved for backward, and their gradients): a generous estimate.
ACTIVATION_FLOATS_PER_UNIT = 16


def estimate_step_bytes(
    name: str, config: ModelConfig, *, batch_size: int, bytes_per_float: int = 4, limit: int | None = None
) -> int:
    """A rough upper estimate of one training step's memory, from shapes alone.

    Parameters, gradients and two optimizer states, plus activations; used to
    refuse sizes that cannot fit before anything is allocated. Past ``limit``
    bytes the estimate stops early, before it makes a sample.
    """
    params = check_config(name, config)
    spec = get_model_spec(name)
    tokens = max(config.seq_len, 1)
    hidden = max(config.width, MLP_FEATURES) * max(config.depth, 1) * tokens * ACTIVATION_FLOATS_PER_UNIT
    logits = tokens * config.num_classes * 2  # the output and its gradient
    known = (4 * params + batch_size * (hidden + logits)) * bytes_per_float
    if limit is not None and known > limit:
        # Already too big: making even one sample of it (a 10^8-token sequence) could take minutes.
        return known
    inputs, _ = spec.make_batch(config, 1, 0, 0)  # one sample: its size, not its values
    return known + batch_size * inputs.numel() * ACTIVATION_FLOATS_PER_UNIT * bytes_per_float

"""hellotorch: does torch.compile pay off for your training step, and does it still learn the same thing?

The library's public pieces: the model, optimizer and compile-mode registries,
the one pure :func:`train_step`, and training / fine-tuning runs built on it.
They are imported on first use (PEP 562), so that importing the package (as
pytest does for the ``hellotorch`` plugin in every run) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

#: The one place the version is written; pyproject.toml reads it from here.
__version__ = "0.2.0"

_PUBLIC = {
    "COMPILE_MODES": "hellotorch.training.compiling",
    "CompileConfig": "hellotorch.training.compiling",
    "SilentEagerError": "hellotorch.training.compiling",
    "bind_step": "hellotorch.training.compiling",
    "MODELS": "hellotorch.models",
    "build_model": "hellotorch.models",
    "make_batch": "hellotorch.models",
    "OPTIMIZERS": "hellotorch.training.optimizers",
    "build_optimizer": "hellotorch.training.optimizers",
    "forward_backward": "hellotorch.training.step",
    "train_step": "hellotorch.training.step",
    "FinetuneConfig": "hellotorch.training.config",
    "RunConfig": "hellotorch.training.config",
    "prepare_finetuning": "hellotorch.training.loops",
    "prepare_training": "hellotorch.training.loops",
    "train": "hellotorch.training.loops",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'hellotorch' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)

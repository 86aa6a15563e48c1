"""Checkpoints: save a model's weights with what it is, load them back safely.

A checkpoint holds the model's registry name, its :class:`ModelConfig` and
its ``state_dict``. Keys are stored without the ``_orig_mod.`` prefix that
``torch.compile`` adds, and the prefix is added back when the target is a
compiled module, so a checkpoint moves freely between eager and compiled
models. A missing, corrupt or mismatched file raises :class:`CheckpointError`
with a message that says what is wrong.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from hellotorch.models import Classifier, ModelConfig, build_model, get_model_spec

FORMAT = "hellotorch-checkpoint/1"
COMPILED_PREFIX = "_orig_mod."


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with the reason."""


@dataclass(frozen=True)
class Checkpoint:
    model: str
    config: ModelConfig
    state_dict: dict[str, torch.Tensor]


def strip_compiled_prefix(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys of a compiled module's state_dict as the eager module names them."""
    return {key.replace(COMPILED_PREFIX, ""): value for key, value in state_dict.items()}


def save_checkpoint(model: nn.Module, path: str | os.PathLike, *, model_name: str, config: ModelConfig) -> Path:
    """Write atomically: a crash never leaves a half-written checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "model": model_name,
        "config": dataclasses.asdict(config),
        "state_dict": {k: v.detach().cpu() for k, v in strip_compiled_prefix(model.state_dict()).items()},
    }
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        torch.save(payload, handle)
    os.replace(handle.name, path)
    return path


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError) as error:
        raise CheckpointError(f"checkpoint {path} is not a readable PyTorch file ({type(error).__name__})") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} was not written by hellotorch (expected format {FORMAT})")
    try:
        get_model_spec(payload["model"])
        config = ModelConfig(**payload["config"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path} names an unknown model or config: {error}") from error
    return Checkpoint(model=payload["model"], config=config, state_dict=payload["state_dict"])


def load_into(model: nn.Module, checkpoint: Checkpoint, *, source: str = "checkpoint") -> None:
    """Load weights into an eager or compiled model, or say what does not match."""
    compiled = any(key.startswith(COMPILED_PREFIX) for key in model.state_dict())
    expected = strip_compiled_prefix(model.state_dict())
    missing = sorted(set(expected) - set(checkpoint.state_dict))
    unexpected = sorted(set(checkpoint.state_dict) - set(expected))
    shapes = [
        f"{key} {tuple(checkpoint.state_dict[key].shape)} vs {tuple(value.shape)}"
        for key, value in expected.items()
        if key in checkpoint.state_dict and checkpoint.state_dict[key].shape != value.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
    if unexpected:
        problems.append(f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}")
    if shapes:
        problems.append(f"shape mismatch {'; '.join(shapes[:3])}")
    if problems:
        raise CheckpointError(f"{source} (model {checkpoint.model}) does not fit this model: {'; '.join(problems)}")
    state = checkpoint.state_dict
    if compiled:
        state = {COMPILED_PREFIX + key: value for key, value in state.items()}
    model.load_state_dict(state)


def load_checkpoint(
    path: str | os.PathLike, *, expect_model: str | None = None, expect_config: ModelConfig | None = None
) -> tuple[Classifier, Checkpoint]:
    """Rebuild the saved model and load its weights.

    ``expect_model``/``expect_config`` refuse a checkpoint of another model or
    shape, naming the difference.
    """
    checkpoint = read_checkpoint(path)
    if expect_model is not None and checkpoint.model != expect_model:
        raise CheckpointError(f"checkpoint {path} is for model {checkpoint.model}, not {expect_model}")
    if expect_config is not None and expect_config != checkpoint.config:
        diffs = [
            f"{name} {getattr(checkpoint.config, name)} vs {getattr(expect_config, name)}"
            for name in ("width", "depth", "num_classes", "dropout")
            if getattr(checkpoint.config, name) != getattr(expect_config, name)
        ]
        raise CheckpointError(f"checkpoint {path} has another shape: {', '.join(diffs)}")
    model = build_model(checkpoint.model, config=checkpoint.config)
    load_into(model, checkpoint, source=f"checkpoint {path}")
    return model, checkpoint

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hellotorch.files import write_atomic
from hellotorch.models import Classifier, ModelConfig, build_model, get_model_spec
from hellotorch.training.sizing import check_config

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


def save_checkpoint(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    model_name: str,
    config: ModelConfig,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write atomically: a crash never leaves a half-written checkpoint. ``state_dict`` overrides the model's."""
    state = state_dict if state_dict is not None else model.state_dict()
    payload = {
        "format": FORMAT,
        "model": model_name,
        "config": dataclasses.asdict(config),
        "state_dict": {k: v.detach().cpu() for k, v in strip_compiled_prefix(state).items()},
    }
    return write_atomic(Path(path), lambda temp: torch.save(payload, temp))


_CONFIG_TYPES = {"width": int, "depth": int, "num_classes": int, "dropout": float, "seq_len": int}


def _config(value: Any, path: Path, model: str) -> ModelConfig:
    if not isinstance(value, dict):
        raise CheckpointError(f"checkpoint {path}: field 'config' must be a mapping")
    value = dict(value)
    options = value.pop("options", ())
    scalar = (int, float, str, bool)
    pairs_ok = isinstance(options, (list, tuple)) and all(
        isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str) and isinstance(pair[1], scalar)
        for pair in options
    )
    if not pairs_ok:
        raise CheckpointError(f"checkpoint {path}: field 'config.options' must be (name, value) pairs")
    unknown = sorted(set(value) - set(_CONFIG_TYPES))
    if unknown:
        raise CheckpointError(f"checkpoint {path}: field 'config' has unknown key(s) {', '.join(map(str, unknown))}")
    for key, kind in _CONFIG_TYPES.items():
        item = value.get(key, getattr(ModelConfig(), key))
        ok = isinstance(item, (int, float) if kind is float else int) and not isinstance(item, bool)
        if not ok:
            raise CheckpointError(f"checkpoint {path}: field 'config.{key}' must be a number, got {item!r:.40}")
    config = ModelConfig(**value, options=tuple(tuple(pair) for pair in options))
    try:
        check_config(model, config)
    except ValueError as error:
        raise CheckpointError(f"checkpoint {path}: {error}") from None
    return config


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Load and check a checkpoint: format, model name, config and tensors; never runs pickled code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        # weights_only: a pickle that would run code is refused, not executed.
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many kinds for a bad file
        raise CheckpointError(f"checkpoint {path} is not a readable PyTorch file ({type(error).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} was not written by hellotorch (expected format {FORMAT})")
    model = payload.get("model")
    if not isinstance(model, str):
        raise CheckpointError(f"checkpoint {path}: field 'model' must be a model name")
    try:
        get_model_spec(model)
    except ValueError as error:
        raise CheckpointError(f"checkpoint {path}: {error}") from None
    config = _config(payload.get("config"), path, model)
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path}: field 'state_dict' is missing or not a mapping")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(f"checkpoint {path}: state_dict entry {key!r:.40} is not a named tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"checkpoint {path}: tensor {key} holds NaN or infinite values")
    return Checkpoint(model=model, config=config, state_dict=state)


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

"""The model registry: every model hellotorch trains, with its seeded dataset.

From the "Hello PyTorch" tutorial's two toy models up to a CNN and a GPT,
each a :class:`~hellotorch.models.contract.ModelSpec` (the contract a plug-in
fulfils too: :mod:`hellotorch.models.plugins`). Look a model up with
:func:`get_model_spec`, build it with :func:`build_model`, get its data with
:func:`make_batch`; an unknown name raises ``ValueError`` listing the known
ones.
"""

from __future__ import annotations

import dataclasses

import torch

from hellotorch.models.cnn import CNN
from hellotorch.models.contract import Batch, Classifier, ModelConfig, ModelSpec, build_head
from hellotorch.models.gpt import GPT
from hellotorch.models.mlp import MLP, MLP_FEATURES
from hellotorch.models.plugins import is_reference, load_reference, registered_names
from hellotorch.models.transformer import TRANSFORMER, TRANSFORMER_SEQ
from hellotorch.models.tutorial import HELLO, LINEAR, LINEAR_X, LINEAR_Y

__all__ = [
    "LINEAR_X",
    "LINEAR_Y",
    "MLP_FEATURES",
    "MODELS",
    "TRANSFORMER_SEQ",
    "Batch",
    "Classifier",
    "ModelConfig",
    "ModelSpec",
    "build_head",
    "build_model",
    "get_model_spec",
    "make_batch",
    "model_config",
]

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (HELLO, LINEAR, MLP, TRANSFORMER, CNN, GPT)}
#: plug-ins resolved in this process (each is imported and checked once).
_PLUGINS: dict[str, ModelSpec] = {}


def get_model_spec(name: str) -> ModelSpec:
    """A built-in model, a registered plug-in name, or ``package.module:factory``.

    ``ValueError`` names the known models, or what is wrong with the plug-in.
    """
    if name in MODELS:
        return MODELS[name]
    if name in _PLUGINS:
        return _PLUGINS[name]
    registered = registered_names()
    if is_reference(name):
        spec = load_reference(name, name=name)
    elif name in registered:
        spec = load_reference(registered[name], name=name)
    else:
        known = ", ".join([*MODELS, *registered])
        raise ValueError(f"unknown model {name!r}; choose one of: {known}, or package.module:factory")
    _PLUGINS[name] = spec
    return spec


def model_config(name: str, *, options: dict | None = None, **overrides: int | float | None) -> ModelConfig:
    """The model's default config with the given non-None fields replaced, and ``options`` laid over its own."""
    config = get_model_spec(name).default_config
    changes = {key: value for key, value in overrides.items() if value is not None}
    if options:
        changes["options"] = {**dict(config.options), **options}
    for key, value in changes.items():
        if key in ("width", "depth", "num_classes", "seq_len") and int(value) < 1:
            raise ValueError(f"{key} must be positive, got {value}")
        if key == "dropout" and not 0.0 <= float(value) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {value}")
    return dataclasses.replace(config, **changes)


def build_model(name: str, *, config: ModelConfig | None = None, seed: int = 0) -> Classifier:
    """A freshly initialised model; the same seed gives bitwise-equal weights."""
    spec = get_model_spec(name)
    config = config or spec.default_config
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone, width = spec.build_backbone(config)
        head = (
            spec.build_model_head(config, backbone, width)
            if spec.build_model_head
            else build_head(width, config.num_classes)
        )
        return Classifier(backbone, head)


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

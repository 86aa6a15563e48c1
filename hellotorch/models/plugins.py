"""Your own model: ``--model package.module:factory``, or a name an installed package registers.

A factory is called with no arguments and returns a
:class:`~hellotorch.models.contract.ModelSpec`. Packages register names in the
``hellotorch.models`` entry-point group (``name = "package.module:factory"``).
Before first use a plug-in is checked on a tiny batch: it must build, its
batch must fit the model, and its loss must be a finite scalar. Anything
wrong is a ``ValueError`` naming the plug-in and what failed (exit 2).
The working folder is importable, so a module beside your code needs no
installing.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import os
import sys

import torch

from hellotorch.errors import describe
from hellotorch.models.contract import Classifier, ModelSpec, build_head

ENTRY_POINT_GROUP = "hellotorch.models"


def is_reference(name: str) -> bool:
    return ":" in name


def registered_names() -> dict[str, str]:
    """Plug-in names installed packages register: name -> ``module:factory``."""
    return {entry.name: entry.value for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def load_reference(reference: str, *, name: str) -> ModelSpec:
    """Import ``module:factory``, call it and check what it returns; the spec is named ``name``."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--model {reference}: a plug-in is written package.module:factory")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # a module beside the user's code, as pytest's rootdir is importable
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        raise ValueError(
            f"--model {reference}: cannot import module {module_name} ({describe(error, limit=200)})"
        ) from None
    factory = getattr(module, attribute, None)
    if factory is None:
        raise ValueError(f"--model {reference}: module {module_name} has no attribute {attribute}")
    if not callable(factory):
        raise ValueError(f"--model {reference}: {attribute} is a {type(factory).__name__}, not a factory")
    try:
        spec = factory()
    except Exception as error:
        raise ValueError(f"--model {reference}: the factory raised {describe(error, limit=200)}") from None
    if not isinstance(spec, ModelSpec):
        raise ValueError(
            f"--model {reference}: the factory returned a {type(spec).__name__}, not a hellotorch.models.ModelSpec"
        )
    spec = dataclasses.replace(spec, name=name)
    check_plugin(spec, reference=reference)
    return spec


def check_plugin(spec: ModelSpec, *, reference: str) -> None:
    """Build the model, make a batch of 2, run the loss: each failure named."""
    try:
        backbone, width = spec.build_backbone(spec.default_config)
        head = (
            spec.build_model_head(spec.default_config, backbone, width)
            if spec.build_model_head
            else build_head(width, spec.default_config.num_classes)
        )
        model = Classifier(backbone, head)
    except Exception as error:
        raise ValueError(f"--model {reference}: building the model failed ({describe(error, limit=200)})") from None
    try:
        inputs, targets = spec.make_batch(spec.default_config, 2, 0, 0)
    except Exception as error:
        raise ValueError(f"--model {reference}: making a batch failed ({describe(error, limit=200)})") from None
    try:
        loss = spec.make_loss()(model(inputs), targets)
    except Exception as error:
        raise ValueError(
            f"--model {reference}: its batch does not fit the model ({describe(error, limit=200)})"
        ) from None
    if not torch.is_tensor(loss) or loss.dim() != 0:
        shape = tuple(loss.shape) if torch.is_tensor(loss) else type(loss).__name__
        raise ValueError(f"--model {reference}: the loss is not a scalar (got {shape})")
    if not bool(torch.isfinite(loss)):
        raise ValueError(f"--model {reference}: the loss of a fresh model is not finite ({loss.item()})")

"""Your own model: ``--model package.module:factory``, or a name an installed package registers.

A factory is called with no arguments and returns a
:class:`~hellotorch.models.contract.ModelSpec`. Packages register names in the
``hellotorch.models`` entry-point group (``name = "package.module:factory"``).
Before first use a plug-in is checked on a tiny batch: it must build, its
batch must fit the model, and its loss must be a finite scalar; its fields
must have their declared types. Anything wrong is a ``ValueError`` naming
the plug-in and what failed (exit 2). The plug-in's own code runs guarded
wherever it is called: ``sys.exit`` in it is its failure (a ``ValueError``
saying so, never an exit code of its choosing), and a change it makes to
torch's default dtype is undone and warned about, so a run records the
dtype it ran in.
The working folder is importable, so a module beside your code needs no
installing.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.metadata
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from hellotorch.errors import describe
from hellotorch.models.contract import Classifier, ModelSpec, build_head

ENTRY_POINT_GROUP = "hellotorch.models"
F = TypeVar("F", bound=Callable[..., Any])
#: the spec's callables that run the plug-in's code.
USER_CALLABLES = ("build_backbone", "make_batch", "make_loss", "build_model_head", "flops_per_sample")


class PluginExited(ValueError):
    """The plug-in's code called ``sys.exit``: its failure, not an exit code for hellotorch to take."""


def guarded(function: F, *, where: str) -> F:
    """``function`` (the plug-in's code), run so that it cannot end the process or change torch's defaults."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        default = torch.get_default_dtype()
        try:
            return function(*args, **kwargs)
        except SystemExit as error:
            raise PluginExited(f"{where} called sys.exit({error.code!r}): the plug-in's failure") from None
        finally:
            changed = torch.get_default_dtype()
            if changed != default:
                torch.set_default_dtype(default)
                warnings.warn(f"{where} set torch's default dtype to {changed}; restored to {default}", stacklevel=2)

    return call  # type: ignore[return-value]


def _check_fields(spec: ModelSpec, *, reference: str) -> None:
    """The fields whose types the rest of hellotorch relies on, named when wrong."""
    for name in ("default_batch_size", "finetune_classes"):
        value = getattr(spec, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"--model {reference}: {name} must be a positive integer, got {value!r}")
    if not isinstance(spec.has_sequence, bool):
        raise ValueError(f"--model {reference}: has_sequence must be True or False, got {spec.has_sequence!r}")
    if spec.blocks is not None and not isinstance(spec.blocks, str):
        raise ValueError(f"--model {reference}: blocks must be a module path or None, got {spec.blocks!r}")
    for name in USER_CALLABLES:
        value = getattr(spec, name)
        if value is not None and not callable(value):
            raise ValueError(f"--model {reference}: {name} must be callable, got {type(value).__name__}")


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
        module = guarded(importlib.import_module, where=f"--model {reference}: importing {module_name}")(module_name)
    except PluginExited:
        raise
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
        spec = guarded(factory, where=f"--model {reference}: the factory")()
    except PluginExited:
        raise
    except Exception as error:
        raise ValueError(f"--model {reference}: the factory raised {describe(error, limit=200)}") from None
    if not isinstance(spec, ModelSpec):
        raise ValueError(
            f"--model {reference}: the factory returned a {type(spec).__name__}, not a hellotorch.models.ModelSpec"
        )
    _check_fields(spec, reference=reference)
    wrapped = {
        field: guarded(getattr(spec, field), where=f"--model {reference}: {field}")
        for field in USER_CALLABLES
        if getattr(spec, field) is not None
    }
    spec = dataclasses.replace(spec, name=name, **wrapped)
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

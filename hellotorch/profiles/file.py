"""Your own benchmark matrix: a profile file (TOML) instead of ``smoke``/``quick``/``full``.

``hellotorch bench --profile path/to/profile.toml`` runs the cross product of
the lists the file gives, for instance::

    description = "my model at three batch sizes"
    models = ["examples.my_model:make_spec"]
    batch_sizes = [8, 16, 32]
    optimizers = ["adamw"]
    implementations = ["forloop", "fused"]
    modes = ["eager", "default"]
    tasks = ["train", "finetune"]

``cache_states = false`` skips the compile times per cache state (cold,
warm, portable, regional; about 5 minutes per compiled case on a 2-core
CPU), which are on by default. For data-parallel cases under torchrun, ``strategies = ["none", "ddp",
"fsdp2"]`` with ``nproc = 2`` ranks (FSDP2 compiles with ``scopes =
["blocks"]``).

Every key is optional but ``models``; a key the format does not know, a name
no registry knows and a product with no case are refused (``ValueError``,
naming the file and the key or name) before anything runs. Combinations
PyTorch cannot run (a fused optimizer without a fused kernel, CUDA graphs on
the CPU) are left out of the product rather than failed.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hellotorch.labels import TASKS
from hellotorch.settings import MEASUREMENT_KEYS, Measurement, measurement_from_file, read_profile_toml

LISTS: dict[str, type] = {
    "models": str,
    "batch_sizes": int,
    "seq_lens": int,
    "optimizers": str,
    "implementations": str,
    "modes": str,
    "scopes": str,
    "backends": str,
    "tasks": str,
    "dtypes": str,
    "devices": str,
    "strategies": str,
}
#: The file's own settings; its measurement keys are :class:`~hellotorch.settings.Measurement`'s fields.
SETTINGS: dict[str, type] = {"description": str, "nproc": int, "cache_states": bool, "model_options": dict}
DEFAULTS: dict[str, list[Any]] = {
    "batch_sizes": [0],  # 0: the model's own default batch size
    "seq_lens": [0],
    "optimizers": ["adamw"],
    "implementations": ["forloop"],
    "modes": ["eager", "default"],
    "scopes": ["step"],
    "backends": ["inductor"],
    "tasks": ["train"],
    "dtypes": ["float32"],
    "devices": ["cpu"],
    "strategies": ["none"],
}
#: ranks of a distributed case when the file names strategies but no ``nproc`` ...
DEFAULT_NPROC = 2
#: ... and the most it may ask for: more ranks than this is a typo, not a plan.
MAX_NPROC = 64


def _checked(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    unknown = sorted(set(raw) - set(LISTS) - set(SETTINGS) - set(MEASUREMENT_KEYS))
    if unknown:
        known = ", ".join([*LISTS, *SETTINGS, *MEASUREMENT_KEYS])
        raise ValueError(f"profile file {path}: unknown key {unknown[0]!r}; the keys are: {known}")
    if "models" not in raw:
        raise ValueError(f"profile file {path}: key 'models' is required")
    values: dict[str, Any] = {}
    for key, kind in LISTS.items():
        items = raw.get(key, DEFAULTS.get(key))
        ok = isinstance(items, list) and items and all(isinstance(i, kind) and not isinstance(i, bool) for i in items)
        if not ok:
            raise ValueError(f"profile file {path}: key {key!r} must be a non-empty list of {kind.__name__}")
        if kind is int and key in raw and any(i < 1 for i in items):
            raise ValueError(f"profile file {path}: key {key!r} must hold positive numbers")
        values[key] = list(dict.fromkeys(items))
    for key, kind in SETTINGS.items():
        if key in raw and kind is dict:
            table = raw[key]
            scalar = (int, float, str, bool)
            if not isinstance(table, dict) or not all(isinstance(item, scalar) for item in table.values()):
                raise ValueError(f"profile file {path}: key {key!r} must be a table of numbers, text or true/false")
            values[key] = table
        elif key in raw and kind is bool:
            if not isinstance(raw[key], bool):
                raise ValueError(f"profile file {path}: key {key!r} must be true or false")
            values[key] = raw[key]
        elif key in raw:
            value = raw[key]
            ok = isinstance(value, kind) and not isinstance(value, bool) and (kind is str or 0 < value <= MAX_NPROC)
            if not ok:
                bound = "" if kind is str else f" of at most {MAX_NPROC}"
                raise ValueError(f"profile file {path}: key {key!r} must be a positive {kind.__name__}{bound}")
            values[key] = value
    values["measurement"] = measurement_from_file(raw, where=f"profile file {path}")
    return values


def _check_names(values: dict[str, Any], path: Path) -> None:
    from hellotorch.distributed.strategies import STRATEGIES
    from hellotorch.models import get_model_spec
    from hellotorch.training.compiling import BACKENDS, COMPILE_MODES, SCOPES
    from hellotorch.training.devices import DEVICES, build_precision
    from hellotorch.training.optimizers import IMPLEMENTATIONS, get_optimizer_spec

    def refuse(key: str, name: Any, choices) -> None:
        raise ValueError(f"profile file {path}: {key} has unknown {name!r}; choose from: {', '.join(choices)}")

    for key, choices in (
        ("modes", COMPILE_MODES),
        ("scopes", SCOPES),
        ("backends", BACKENDS),
        ("tasks", TASKS),
        ("devices", DEVICES),
        ("implementations", IMPLEMENTATIONS),
        ("strategies", STRATEGIES),
    ):
        for name in values[key]:
            if name not in choices:
                refuse(key, name, choices)
    for name in values["models"]:
        try:
            get_model_spec(name)
        except ValueError as error:
            raise ValueError(f"profile file {path}: models: {error}") from None
    for name in values["optimizers"]:
        try:
            get_optimizer_spec(name)
        except ValueError as error:
            raise ValueError(f"profile file {path}: optimizers: {error}") from None
    for name in values["dtypes"]:
        try:
            build_precision(name, device="cuda")
        except ValueError as error:
            raise ValueError(f"profile file {path}: dtypes: {error}") from None


def _runnable(model: str, optimizer: str, implementation: str, dtype: str, device: str, mode: str, task: str) -> bool:
    from hellotorch.models import get_model_spec
    from hellotorch.training.compiling import COMPILE_MODES
    from hellotorch.training.devices import build_precision
    from hellotorch.training.optimizers import OPTIMIZERS

    spec = COMPILE_MODES[mode]
    try:
        build_precision(dtype, device=device)
    except ValueError:
        return False
    if implementation not in OPTIMIZERS[optimizer].implementations:
        return False
    if device == "cpu" and spec is not None and spec.cudagraphs:
        return False
    return task == "train" or get_model_spec(model).has_backbone


def _strategy_runnable(strategy: str, mode: str, scope: str) -> bool:
    from hellotorch.distributed.strategies import get_strategy

    spec = get_strategy(strategy)
    if mode == "eager":
        return not spec.compiled_only
    return scope in spec.scopes


@dataclass(frozen=True)
class ProfileFile:
    """What a profile file describes: its cases as plain fields, and how hard to measure them."""

    name: str
    description: str
    #: one mapping of :class:`~hellotorch.profiles.cases.BenchCase` fields per case.
    cases: tuple[dict[str, Any], ...]
    measurement: Measurement


def load_profile_file(path: str | Path, *, devices: tuple[str, ...]) -> ProfileFile:
    """Read, check and expand a profile file on the requested ``devices``."""
    from hellotorch.labels import case_id
    from hellotorch.models import get_model_spec

    path = Path(path)
    values = _checked(read_profile_toml(path), path)
    _check_names(values, path)
    cases: list[dict[str, Any]] = []
    product = itertools.product(
        [d for d in values["devices"] if d in devices],
        values["models"],
        values["batch_sizes"],
        values["seq_lens"],
        values["optimizers"],
        values["implementations"],
        values["dtypes"],
        values["tasks"],
        values["modes"],
    )
    options = json.dumps(values["model_options"], sort_keys=True) if values.get("model_options") else ""
    for device, model, batch, seq_len, optimizer, impl, dtype, task, mode in product:
        if not _runnable(model, optimizer, impl, dtype, device, mode, task):
            continue
        spec = get_model_spec(model)
        how = [("-", "inductor")] if mode == "eager" else itertools.product(values["scopes"], values["backends"])
        for (scope, backend), strategy in itertools.product(how, values["strategies"]):
            if not _strategy_runnable(strategy, mode, scope):
                continue
            cases.append(
                {
                    "task": task,
                    "device": device,
                    "model": model,
                    "batch_size": batch or spec.default_batch_size,
                    "optimizer": optimizer,
                    "implementation": impl,
                    "dtype": dtype,
                    "mode": mode,
                    "scope": scope,
                    "backend": backend,
                    # What runs: a sequence model without seq_lens runs at its default length, and records it.
                    "seq_len": (seq_len or spec.default_config.seq_len) if spec.has_sequence else 0,
                    "model_options": options,
                    # On by default, as asked of a profile file: compile time per cache state, for compiled cases.
                    "cache_states": mode != "eager" and strategy == "none" and values.get("cache_states", True),
                    "strategy": strategy,
                    "world_size": 1 if strategy == "none" else values.get("nproc", DEFAULT_NPROC),
                }
            )
    cases = list({case_id(case): case for case in cases}.values())
    if not cases:
        raise ValueError(f"profile file {path}: the product is empty on device(s) {', '.join(devices)}")
    description = values.get("description", f"profile file {path.name}")
    return ProfileFile(path.stem, description, tuple(cases), values["measurement"])


def models_profile_text(models: list[str] | tuple[str, ...]) -> str:
    """The profile file ``hellotorch bench --model NAME`` runs: each model at its default batch size,
    eager and compiled, trained and fine-tuned (where it has a backbone), AdamW."""
    names = ", ".join(f'"{name}"' for name in models)
    return (
        f'description = "the default matrix of {", ".join(models)}"\n'
        f"models = [{names}]\n"
        "cache_states = false\n"
        'modes = ["eager", "default"]\n'
        'tasks = ["train", "finetune"]\n'
    )

"""The one way to name a case: its id (machines) and its title (people).

A case is described by plain fields (task, device, model, batch_size,
optimizer, implementation, dtype, mode, scope, backend), whether it comes
from a :class:`~hellotorch.profiles.cases.BenchCase`, a row of the results table, a
stored record or a :class:`~hellotorch.training.loops.RunConfig` on the command
line. :func:`case_id` is the pytest id, the results-row key and the gate's
key; :func:`case_title` is what tables, plots and progress lines print.
Nothing else in hellotorch formats a case.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: What a case trains: all parameters, a new head on a frozen backbone, or LoRA adapters.
TASKS = ("train", "finetune", "lora")
#: The fields a case id is made of, in order.
ID_FIELDS = (
    "task",
    "device",
    "model",
    "batch_size",
    "optimizer",
    "implementation",
    "dtype",
    "mode",
    "scope",
    "backend",
    "strategy",
    "world_size",
    "scenario",
)
DEFAULT_BACKEND = "inductor"


def _compiled(fields: Mapping[str, Any]) -> bool:
    return fields["mode"] != "eager"


def _backend(fields: Mapping[str, Any]) -> str:
    backend = fields.get("backend")
    # Older records and table rows may carry no backend, or NaN for eager rows.
    return backend if isinstance(backend, str) and backend else DEFAULT_BACKEND


def case_id(fields: Mapping[str, Any]) -> str:
    """``task-device-model-bN[-sT]-optimizer.impl-dtype-how[-strategy.wN][-scenario.NAME]``; ``how`` is ``eager`` or ``mode.scope[.backend]``."""
    how = "eager"
    if _compiled(fields):
        how = f"{fields['mode']}.{fields['scope']}"
        if _backend(fields) != DEFAULT_BACKEND:
            how += f".{_backend(fields)}"
    return (
        f"{fields['task']}-{fields['device']}-{fields['model']}-b{fields['batch_size']}{_seq(fields, '-')}-"
        f"{fields['optimizer']}.{fields['implementation']}-{fields['dtype']}-{how}{_ranks(fields, '-', '.w')}"
        f"{_scenario(fields, '-scenario.')}"
    )


def _scenario(fields: Mapping[str, Any], prefix: str) -> str:
    scenario = fields.get("scenario")
    return f"{prefix}{scenario}" if isinstance(scenario, str) and scenario not in ("", "none") else ""


def _ranks(fields: Mapping[str, Any], sep: str, joint: str) -> str:
    # Named only for a distributed case; older records and one-process rows carry none.
    strategy = fields.get("strategy")
    if not isinstance(strategy, str) or strategy in ("", "none"):
        return ""
    return f"{sep}{strategy}{joint}{fields.get('world_size')}"


def _seq(fields: Mapping[str, Any], sep: str) -> str:
    # A sequence length is named only where a case sets one (0: the model's default, or no sequence axis).
    seq_len = fields.get("seq_len") or 0
    return f"{sep}s{seq_len}" if isinstance(seq_len, int) and seq_len > 0 else ""


def case_title(fields: Mapping[str, Any], *, omit: Iterable[str] = ()) -> str:
    """A readable label, e.g. ``train cpu mlp b64 adamw.forloop float32 compiled default/step``.

    ``omit`` drops fields a table or panel already names in its heading.
    """
    skip = set(omit)
    parts = [str(fields[key]) for key in ("task", "device", "model") if key not in skip]
    if "batch_size" not in skip:
        parts.append(f"b{fields['batch_size']}{_seq(fields, ' ')}")
    if "optimizer" not in skip:
        parts.append(f"{fields['optimizer']}.{fields['implementation']}")
    if "dtype" not in skip:
        parts.append(str(fields["dtype"]))
    if _compiled(fields):
        how = f"compiled {fields['mode']}/{fields['scope']}"
        if _backend(fields) != DEFAULT_BACKEND:
            how += f" ({_backend(fields)})"
    else:
        how = "eager"
    parts.append(how + _ranks(fields, " ", " x") + _scenario(fields, " scenario "))
    return " ".join(parts)

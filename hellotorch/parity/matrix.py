"""The parity matrix: every optimizer on every model, training, fine-tuning and LoRA, one row each.

:func:`plan_matrix` resolves and validates every check before the first
compile (a bad name costs nothing); :func:`run_matrix` runs them in order,
calling back after each so the caller can print progress, and returns one
table row per check.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from hellotorch.labels import TASKS
from hellotorch.parity.losses import ParityReport, check_parity
from hellotorch.training.config import FinetuneConfig, RunConfig


@dataclass(frozen=True)
class MatrixCheck:
    """One row of the matrix: a run, and whether it is fine-tuned."""

    task: str
    run: RunConfig

    @property
    def finetune(self) -> FinetuneConfig | None:
        return FinetuneConfig.for_task(self.task, self.run.model)


def plan_matrix(
    make_run: Callable[[str, str], RunConfig],
    *,
    models: Sequence[str],
    optimizers: Sequence[str],
    tasks: Sequence[str] = TASKS,
) -> list[MatrixCheck]:
    """Every (model, optimizer, task), each run built (and so validated) by ``make_run(model, optimizer)``."""
    if not models:
        raise ValueError("--models names no model")
    if not optimizers:
        raise ValueError("--optimizers names no optimizer")
    unknown = [task for task in tasks if task not in TASKS]
    if unknown or not tasks:
        raise ValueError(
            f"--tasks: unknown task {unknown[0] if unknown else '(none)'!r}; choose from: {', '.join(TASKS)}"
        )
    plan = [
        MatrixCheck(task, make_run(model, optimizer)) for model in models for optimizer in optimizers for task in tasks
    ]
    for check in plan:
        if check.finetune is not None:
            check.finetune.check_model(check.run.model)
    return plan


def _row(check: MatrixCheck, report: ParityReport, seconds: float) -> dict[str, Any]:
    return {
        "model": check.run.model,
        "optimizer": check.run.optimizer,
        "task": check.task,
        "dtype": check.run.precision.name,
        "steps": report.steps,
        "verdict": report.verdict,
        "max_abs_diff": report.max_abs_diff,
        "max_rel_diff": report.max_rel_diff,
        "worst_step": report.worst_step,
        "fp64_error_ratio": report.fp64_error_ratio,
        "batchnorm_max_diff": report.batchnorm_max_diff,
        "seconds": seconds,
        "reason": report.reason,
    }


def run_matrix(
    plan: Sequence[MatrixCheck], *, steps: int, on_result: Callable[[int, dict[str, Any]], None] | None = None
) -> pd.DataFrame:
    """Run every planned check; ``on_result(index, row)`` after each (1-based index)."""
    rows = []
    for index, check in enumerate(plan, start=1):
        started = time.perf_counter()
        report = check_parity(check.run, steps=steps, finetune=check.finetune)
        row = _row(check, report, time.perf_counter() - started)
        rows.append(row)
        if on_result is not None:
            on_result(index, row)
    return pd.DataFrame(rows)

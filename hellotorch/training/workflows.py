"""Whole training and fine-tuning runs, as ``hellotorch train`` and ``finetune`` start them.

:func:`run_training` builds a seeded run, trains it and saves a checkpoint;
:func:`plan_finetuning` reads a checkpoint and resolves the fine-tuning run it
allows (refusing a model or shape it does not hold); :func:`run_finetuning`
trains that plan. Output paths are checked before any step runs, so a bad
``--save`` never costs a finished run.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hellotorch.files import check_output_file
from hellotorch.models import Classifier, build_model, model_config
from hellotorch.training.checkpoint import CheckpointError, load_into, read_checkpoint, save_checkpoint
from hellotorch.training.loops import (
    FinetuneConfig,
    RunConfig,
    StepCallback,
    TrainingSetup,
    prepare_finetuning,
    prepare_training,
    train,
)
from hellotorch.training.lora import plain_state_dict


@dataclass(frozen=True)
class Outcome:
    """What a finished run leaves: its loss history, wall time and checkpoint."""

    run: RunConfig
    losses: list[float]
    seconds: float
    saved: Path | None


def _train_and_save(setup: TrainingSetup, *, steps: int, on_step: StepCallback | None, save: Path | None) -> Outcome:
    started = time.perf_counter()
    losses = train(setup, steps=steps, on_step=on_step)
    seconds = time.perf_counter() - started
    saved = None
    if save is not None:
        # LoRA adapters are folded into plain weights: the checkpoint loads into the plain model.
        saved = save_checkpoint(
            setup.model,
            save,
            model_name=setup.run.model,
            config=setup.run.resolved_model_config,
            state_dict=plain_state_dict(setup.model),
        )
    return Outcome(setup.run, losses, seconds, saved)


def run_training(
    run: RunConfig, *, steps: int, on_step: StepCallback | None = None, save: str | Path | None = None
) -> Outcome:
    """Train ``run`` for ``steps`` steps from its seed; save a checkpoint to ``save`` if given."""
    target = check_output_file(save, option="--save")
    return _train_and_save(prepare_training(run), steps=steps, on_step=on_step, save=target)


@dataclass(frozen=True)
class FinetunePlan:
    """A checkpoint and the fine-tuning run it allows."""

    source: Path
    run: RunConfig
    finetune: FinetuneConfig
    pretrained: Classifier


def plan_finetuning(
    source: str | Path,
    *,
    finetune: FinetuneConfig,
    run_options: dict[str, Any],
    model: str | None = None,
    width: int | None = None,
    depth: int | None = None,
) -> FinetunePlan:
    """Read ``source`` and build the fine-tuning run: the checkpoint's model and shape.

    ``model``, ``width`` and ``depth``, when given, must agree with the
    checkpoint; ``run_options`` are the remaining :class:`RunConfig` fields.
    """
    checkpoint = read_checkpoint(source)
    if model is not None and model != checkpoint.model:
        raise CheckpointError(f"checkpoint {source} is for model {checkpoint.model}, not {model}")
    if width is not None or depth is not None:
        requested = model_config(checkpoint.model, width=width, depth=depth)
        if dataclasses.replace(checkpoint.config, width=requested.width, depth=requested.depth) != checkpoint.config:
            raise CheckpointError(
                f"checkpoint {source} has width {checkpoint.config.width}, depth {checkpoint.config.depth}; "
                f"asked for width {requested.width}, depth {requested.depth}"
            )
    run = RunConfig(model=checkpoint.model, model_config=checkpoint.config, **run_options)
    finetune.check_model(run.model)
    pretrained = build_model(checkpoint.model, config=checkpoint.config)
    load_into(pretrained, checkpoint, source=f"checkpoint {source}")
    return FinetunePlan(Path(source), run, finetune, pretrained)


def run_finetuning(
    plan: FinetunePlan, *, steps: int, on_step: StepCallback | None = None, save: str | Path | None = None
) -> Outcome:
    """Fine-tune the plan's pretrained model; save a checkpoint to ``save`` if given."""
    target = check_output_file(save, option="--save")
    setup = prepare_finetuning(plan.run, plan.pretrained, plan.finetune)
    return _train_and_save(setup, steps=steps, on_step=on_step, save=target)

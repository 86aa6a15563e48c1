"""Training and fine-tuning runs: assemble the pieces, then loop ``train_step``.

:class:`~hellotorch.training.config.RunConfig` names a run. :func:`prepare_training` and
:func:`prepare_finetuning` turn it into a :class:`TrainingSetup` (model,
optimizer, loss, batch, bound step); :func:`train` runs it for N steps and
returns the loss history. Both arms of a parity check and every benchmark
case are built through these same functions, so they cannot drift apart.

Fine-tuning follows the usual recipe: load the pretrained weights, swap the
head for the new task's, then either freeze the backbone (before compiling, so
the compiled graph never computes its gradients) or give it a lower learning
rate in its own parameter group, or freeze it and train low-rank adapters
(LoRA, :mod:`hellotorch.training.lora`). A frozen backbone's BatchNorm layers keep
their running statistics frozen as well (eval mode): frozen means frozen.
The tutorial's toy models have no backbone: for them fine-tuning means
training on, as the tutorial did.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from hellotorch.distributed.strategies import Parallelism, remap_param_groups
from hellotorch.errors import StepFailed, describe
from hellotorch.models import Batch, Classifier, ModelConfig, build_head, build_model, get_model_spec, make_batch
from hellotorch.training.compiling import BoundStep, CompileConfig, bind_step
from hellotorch.training.config import FinetuneConfig, RunConfig
from hellotorch.training.lora import add_adapters
from hellotorch.training.optimizers import build_optimizer
from hellotorch.training.step import PrecisionContext

__all__ = ["FinetuneConfig", "RunConfig", "TrainingSetup", "prepare", "prepare_finetuning", "prepare_training", "train"]

#: the data seed of fine-tuning is offset so it never reuses pretraining samples.
FINETUNE_DATA_SEED_OFFSET = 10_000


@dataclass
class TrainingSetup:
    """The assembled pieces of a run; ``step(batch)`` is the bound train_step."""

    run: RunConfig
    model: Classifier
    optimizer: torch.optim.Optimizer
    loss_fn: nn.Module
    batch: Batch
    step: BoundStep

    @property
    def blocks(self) -> nn.Module | None:
        """The model's container of repeated blocks (regional compilation), or None."""
        return self.run.model_spec.repeated_blocks(self.model.backbone)

    @property
    def autocast(self) -> PrecisionContext:
        return self.run.autocast

    @property
    def compile_config(self) -> CompileConfig:
        return self.run.compile


def _place(model: Classifier, run: RunConfig) -> Classifier:
    return model.to(device=torch.device(run.device), dtype=run.precision.param_dtype)


def _assemble(
    run: RunConfig, model: Classifier, param_groups: list[dict], batch: Batch, parallel: Parallelism | None
) -> TrainingSetup:
    blocks = run.model_spec.repeated_blocks(model.backbone)
    step_model: nn.Module = model
    if parallel is not None:
        names = {id(param): name for name, param in model.named_parameters()}
        step_model = parallel.wrap(model, blocks=blocks)
        param_groups = remap_param_groups(names, param_groups, model)
        batch = parallel.shard(batch)
    optimizer = build_optimizer(run.optimizer, param_groups, lr=run.lr, implementation=run.implementation)
    loss_fn = run.model_spec.make_loss()
    step = bind_step(
        step_model,
        optimizer,
        loss_fn,
        precision=run.autocast,
        config=run.compile,
        blocks=blocks,
        dynamo_settings=parallel.dynamo_settings if parallel is not None else None,
    )
    return TrainingSetup(run=run, model=model, optimizer=optimizer, loss_fn=loss_fn, batch=batch, step=step)


def prepare_training(run: RunConfig, parallel: Parallelism | None = None) -> TrainingSetup:
    """A fresh, seeded model with its optimizer, batch and bound step.

    With ``parallel``, this rank's share: the model wrapped or sharded by the
    strategy, and its slice of the global batch.
    """
    config = run.resolved_model_config
    model = _place(build_model(run.model, config=config, seed=run.seed), run)
    batch = make_batch(
        run.model,
        batch_size=run.resolved_batch_size,
        config=config,
        seed=run.seed,
        device=run.device,
        dtype=run.precision.param_dtype,
    )
    return _assemble(run, model, [{"params": list(model.parameters())}], batch, parallel)


def finetune_model_config(run: RunConfig) -> ModelConfig:
    """The config of the fine-tuned model: the pretrained one with the new task's head."""
    spec = get_model_spec(run.model)
    config = run.resolved_model_config
    if spec.has_backbone:
        config = dataclasses.replace(config, num_classes=spec.finetune_classes)
    return config


def freeze_batchnorm_statistics(module: nn.Module) -> None:
    """Put every BatchNorm layer of ``module`` in eval mode: it normalises with, and stops updating, its running statistics."""
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.eval()


def prepare_finetuning(
    run: RunConfig, pretrained: Classifier, finetune: FinetuneConfig, parallel: Parallelism | None = None
) -> TrainingSetup:
    """Fine-tune ``pretrained`` (left untouched) on the model's second task.

    The backbone is frozen before the step is compiled: freezing afterwards
    would leave a compiled graph that still computes backbone gradients.
    """
    finetune.check_model(run.model)
    spec = run.model_spec
    model = _place(build_model(run.model, config=run.resolved_model_config, seed=run.seed), run)
    model.load_state_dict(pretrained.state_dict())
    config = finetune_model_config(run)
    task = 0
    if spec.has_backbone:
        task = 1
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(run.seed + 1)
            model.head = build_head(model.head.in_features, config.num_classes)
        model = _place(model, run)
    backbone = list(model.backbone.parameters())
    head = list(model.head.parameters())
    if finetune.frozen:
        # Frozen means frozen: BatchNorm's running statistics stop updating too.
        freeze_batchnorm_statistics(model.backbone)
    if finetune.lora_rank:
        adapters = add_adapters(model.backbone, rank=finetune.lora_rank, alpha=finetune.alpha, seed=run.seed + 2)
        groups = [{"params": adapters}, {"params": head}]
    elif finetune.freeze_backbone:
        for param in backbone:
            param.requires_grad_(False)
        groups = [{"params": head}]
    elif backbone:
        groups = [{"params": backbone, "lr": finetune.backbone_lr or run.lr}, {"params": head}]
    else:
        groups = [{"params": head}]
    batch = make_batch(
        run.model,
        batch_size=run.resolved_batch_size,
        config=config,
        seed=run.seed + FINETUNE_DATA_SEED_OFFSET,
        task=task,
        device=run.device,
        dtype=run.precision.param_dtype,
    )
    return _assemble(dataclasses.replace(run, model_config=config), model, groups, batch, parallel)


def prepare(
    run: RunConfig, finetune: FinetuneConfig | None = None, parallel: Parallelism | None = None
) -> TrainingSetup:
    """Training, or fine-tuning from the seeded initial weights standing in as "pretrained".

    Benchmarks and parity checks measure the step, which does not depend on
    what the backbone learnt; ``hellotorch finetune`` loads a real checkpoint.
    """
    if finetune is None:
        return prepare_training(run, parallel)
    pretrained = build_model(run.model, config=run.resolved_model_config, seed=run.seed)
    return prepare_finetuning(run, pretrained, finetune, parallel)


StepCallback = Callable[[int, torch.Tensor], None]


def train(
    setup: TrainingSetup, *, steps: int, on_step: StepCallback | None = None, check_finite: bool = True
) -> list[float]:
    """Run ``steps`` training steps; return the loss before each update.

    A step that raises (a compile error, out of memory) becomes
    :class:`~hellotorch.errors.StepFailed` naming the step; so does a compiled
    step that captured no graph (it would run eagerly, silently) and, with
    ``check_finite``, a loss that stopped being finite (the run diverged).
    """
    if steps < 1:
        raise ValueError(f"step count must be positive, got {steps}")
    losses = []
    for index in range(steps):
        try:
            loss = setup.step(setup.batch)
            if index == 0:
                setup.step.check_captured()
        except Exception as error:
            raise StepFailed(f"step {index + 1} failed: {describe(error)}", step=index + 1) from error
        losses.append(loss)
        if on_step is not None:
            on_step(index, loss)
    # One host sync at the end rather than one per step.
    history = torch.stack(losses).float().cpu().tolist()
    if check_finite:
        for index, value in enumerate(history):
            if not math.isfinite(value):
                raise StepFailed(f"training diverged: the loss is {value} at step {index + 1}", step=index + 1)
    return history

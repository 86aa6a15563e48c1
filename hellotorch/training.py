"""Training and fine-tuning runs: assemble the pieces, then loop ``train_step``.

:class:`RunConfig` names a run (model, optimizer, lr, batch size, device,
dtype, compile config, seed). :func:`prepare_training` and
:func:`prepare_finetuning` turn it into a :class:`TrainingSetup` (model,
optimizer, loss, batch, bound step); :func:`train` runs it for N steps and
returns the loss history. Both arms of a parity check and every benchmark
case are built through these same functions, so they cannot drift apart.

Fine-tuning follows the usual recipe: load the pretrained weights, swap the
head for the new task's, then either freeze the backbone (before compiling, so
the compiled graph never computes its gradients) or give it a lower learning
rate in its own parameter group. The tutorial's toy models have no backbone:
for them fine-tuning means training on, as the tutorial did.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from hellotorch.compiling import BoundStep, CompileConfig, bind_step
from hellotorch.devices import autocast_context, build_precision, resolve_device
from hellotorch.models import Batch, Classifier, ModelConfig, build_head, build_model, get_model_spec, make_batch
from hellotorch.optimizers import build_optimizer, get_optimizer_spec

#: the data seed of fine-tuning is offset so it never reuses pretraining samples.
FINETUNE_DATA_SEED_OFFSET = 10_000


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run."""

    model: str = "hello"
    optimizer: str = "sgd"
    #: optimizer implementation: default, forloop, foreach or fused.
    implementation: str = "default"
    lr: float = 0.01
    #: None means the model's default batch size.
    batch_size: int | None = None
    device: str = "cpu"
    dtype: str = "float32"
    compile: CompileConfig = field(default_factory=CompileConfig)
    seed: int = 0
    #: overrides of the model's default shape (None keeps the default).
    model_config: ModelConfig | None = None

    def validate(self) -> None:
        """Raise ``ValueError`` for any bad field, before anything is built."""
        get_model_spec(self.model)
        get_optimizer_spec(self.optimizer, self.implementation)
        resolve_device(self.device)
        build_precision(self.dtype, device=self.device)
        self.compile.validate_for(self.device)
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch size must be positive, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"learning rate must be positive, got {self.lr}")

    @property
    def resolved_batch_size(self) -> int:
        return self.batch_size or get_model_spec(self.model).default_batch_size

    @property
    def resolved_model_config(self) -> ModelConfig:
        return self.model_config or get_model_spec(self.model).default_config


@dataclass(frozen=True)
class FinetuneConfig:
    """How the pretrained backbone is treated while the new head learns."""

    freeze_backbone: bool = False
    #: learning rate of the backbone's parameter group; None means the run's lr.
    backbone_lr: float | None = None

    def validate(self, model_name: str) -> None:
        if self.freeze_backbone and self.backbone_lr is not None:
            raise ValueError("choose either --freeze-backbone or --backbone-lr, not both")
        if self.backbone_lr is not None and not self.backbone_lr > 0:
            raise ValueError(f"backbone learning rate must be positive, got {self.backbone_lr}")
        if (self.freeze_backbone or self.backbone_lr is not None) and not get_model_spec(model_name).has_backbone:
            raise ValueError(
                f"model {model_name} has no backbone (it is a single Linear layer); "
                "fine-tuning it trains on without --freeze-backbone or --backbone-lr"
            )


@dataclass
class TrainingSetup:
    """The assembled pieces of a run; ``step(batch)`` is the bound train_step."""

    run: RunConfig
    model: Classifier
    optimizer: torch.optim.Optimizer
    loss_fn: nn.Module
    batch: Batch
    step: BoundStep


def _place(model: Classifier, run: RunConfig) -> Classifier:
    precision = build_precision(run.dtype, device=run.device)
    return model.to(device=resolve_device(run.device), dtype=precision.param_dtype)


def _assemble(run: RunConfig, model: Classifier, param_groups: list[dict], batch: Batch) -> TrainingSetup:
    precision = build_precision(run.dtype, device=run.device)
    optimizer = build_optimizer(run.optimizer, param_groups, lr=run.lr, implementation=run.implementation)
    loss_fn = get_model_spec(run.model).make_loss()
    step = bind_step(
        model,
        optimizer,
        loss_fn,
        precision=autocast_context(precision, run.device),
        config=run.compile,
    )
    return TrainingSetup(run=run, model=model, optimizer=optimizer, loss_fn=loss_fn, batch=batch, step=step)


def prepare_training(run: RunConfig) -> TrainingSetup:
    """A fresh, seeded model with its optimizer, batch and bound step."""
    run.validate()
    config = run.resolved_model_config
    model = _place(build_model(run.model, config=config, seed=run.seed), run)
    batch = make_batch(
        run.model,
        batch_size=run.resolved_batch_size,
        config=config,
        seed=run.seed,
        device=run.device,
        dtype=build_precision(run.dtype, device=run.device).param_dtype,
    )
    return _assemble(run, model, [{"params": list(model.parameters())}], batch)


def finetune_model_config(run: RunConfig) -> ModelConfig:
    """The config of the fine-tuned model: the pretrained one with the new task's head."""
    spec = get_model_spec(run.model)
    config = run.resolved_model_config
    if spec.has_backbone:
        config = dataclasses.replace(config, num_classes=spec.finetune_classes)
    return config


def prepare_finetuning(run: RunConfig, pretrained: Classifier, finetune: FinetuneConfig) -> TrainingSetup:
    """Fine-tune ``pretrained`` (left untouched) on the model's second task.

    The backbone is frozen before the step is compiled: freezing afterwards
    would leave a compiled graph that still computes backbone gradients.
    """
    run.validate()
    finetune.validate(run.model)
    spec = get_model_spec(run.model)
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
    if finetune.freeze_backbone:
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
        dtype=build_precision(run.dtype, device=run.device).param_dtype,
    )
    return _assemble(dataclasses.replace(run, model_config=config), model, groups, batch)


def prepare(run: RunConfig, finetune: FinetuneConfig | None = None) -> TrainingSetup:
    """Training, or fine-tuning from the seeded initial weights standing in as "pretrained".

    Benchmarks and parity checks measure the step, which does not depend on
    what the backbone learnt; ``hellotorch finetune`` loads a real checkpoint.
    """
    if finetune is None:
        return prepare_training(run)
    pretrained = build_model(run.model, config=run.resolved_model_config, seed=run.seed)
    return prepare_finetuning(run, pretrained, finetune)


StepCallback = Callable[[int, torch.Tensor], None]


def train(setup: TrainingSetup, *, steps: int, on_step: StepCallback | None = None) -> list[float]:
    """Run ``steps`` training steps; return the loss before each update.

    After the first call of a compiled step, a step that captured no graph
    raises :class:`~hellotorch.compiling.SilentEagerError`.
    """
    if steps < 1:
        raise ValueError(f"step count must be positive, got {steps}")
    losses = []
    for index in range(steps):
        loss = setup.step(setup.batch)
        if index == 0:
            setup.step.check_captured()
        losses.append(loss)
        if on_step is not None:
            on_step(index, loss)
    # One host sync at the end rather than one per step.
    return torch.stack(losses).float().cpu().tolist()

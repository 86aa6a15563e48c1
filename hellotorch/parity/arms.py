"""The arms a parity check compares: identically seeded eager, compiled and fp64 eager steps.

:class:`Arms` builds them from a :class:`~hellotorch.training.loops.RunConfig`
(the suite's cases, ``hellotorch parity``); a user's own factory makes
another set (:class:`hellotorch.suite.user_step.UserArms`). Both satisfy
:class:`ParityArms`, which is all :func:`hellotorch.parity.losses.compare_arms`
needs. A model that draws random numbers is found from its modules
(:func:`draws_random_numbers`), whatever its config says, and its compiled arm
draws eager's numbers (``fallback_random``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from hellotorch.models import build_model
from hellotorch.training.compiling import CompileConfig
from hellotorch.training.loops import FinetuneConfig, RunConfig, TrainingSetup, prepare
from hellotorch.training.step import PrecisionContext

#: Called with the compiled arm's setup right after it is built (see :class:`Arms`).
ArmHook = Callable[[TrainingSetup], None]


class Arm(Protocol):
    """One arm's pieces: a :class:`~hellotorch.training.loops.TrainingSetup` is one, a user's factory makes another."""

    model: nn.Module
    loss_fn: Callable[..., torch.Tensor]
    batch: tuple
    step: Callable

    @property
    def blocks(self) -> nn.Module | None: ...

    @property
    def autocast(self) -> PrecisionContext: ...

    @property
    def compile_config(self) -> CompileConfig: ...


class ParityArms(Protocol):
    """What :func:`compare_arms` compares, and the facts its rules depend on."""

    dtype: str
    #: the optimizer family ("sgd" or "adaptive"): which band applies.
    family: str
    device: str
    seed: int
    finetune: FinetuneConfig | None
    notes: tuple[str, ...]
    run: RunConfig | None

    def eager(self) -> Arm: ...

    def reference(self) -> Arm: ...

    def compiled(self) -> Arm: ...


def draws_random_numbers(model: nn.Module) -> bool:
    """Does a training step of ``model`` draw random numbers (a dropout module with p > 0)?

    Read from the modules themselves: a plug-in's dropout is there whatever
    its config's ``dropout`` field says.
    """
    return any(isinstance(module, nn.modules.dropout._DropoutNd) and module.p > 0 for module in model.modules())


def same_random_numbers(config: CompileConfig) -> tuple[CompileConfig, tuple[str, ...]]:
    """The compiled arm's config for a model that draws random numbers, and the note that says what was done."""
    if config.backend == "inductor":
        note = "dropout: compiled with fallback_random so both arms draw the same random numbers"
        return dataclasses.replace(config, fallback_random=True), (note,)
    return config, (f"dropout: backend {config.backend} cannot force eager random numbers",)


@dataclass(frozen=True)
class Arms:
    """The identically seeded arms a parity check compares.

    :meth:`for_run` makes the honest pair: the same run eager and compiled
    (plus an fp64 eager reference). Replacing ``compiled_run``,
    ``compiled_finetune`` or ``compiled_hook`` plants a difference, which is
    how the tests prove each check can fail.
    """

    eager_run: RunConfig
    compiled_run: RunConfig
    finetune: FinetuneConfig | None = None
    compiled_finetune: FinetuneConfig | None = None
    compiled_hook: ArmHook | None = None
    notes: tuple[str, ...] = ()

    @classmethod
    def for_run(cls, run: RunConfig, finetune: FinetuneConfig | None = None) -> Arms:
        if not run.compile.compiled:
            raise ValueError("parity needs a compile mode (the eager arm is built from it); got mode eager")
        compiled_run, notes = run, ()
        if draws_random_numbers(build_model(run.model, config=run.resolved_model_config, seed=run.seed)):
            config, notes = same_random_numbers(run.compile)
            compiled_run = dataclasses.replace(run, compile=config)
        eager_run = dataclasses.replace(run, compile=CompileConfig())
        return cls(eager_run, compiled_run, finetune, finetune, None, notes)

    @property
    def reference_run(self) -> RunConfig:
        return dataclasses.replace(self.eager_run, dtype="float64")

    @property
    def run(self) -> RunConfig:
        return self.eager_run

    @property
    def dtype(self) -> str:
        return self.eager_run.precision.name

    @property
    def family(self) -> str:
        return self.eager_run.optimizer_spec.family

    @property
    def device(self) -> str:
        return self.eager_run.device

    @property
    def seed(self) -> int:
        return self.eager_run.seed

    def eager(self) -> TrainingSetup:
        return _arm(self.eager_run, self.finetune)

    def reference(self) -> TrainingSetup:
        return _arm(self.reference_run, self.finetune)

    def compiled(self) -> TrainingSetup:
        setup = _arm(self.compiled_run, self.compiled_finetune if self.finetune is not None else None)
        if self.compiled_hook is not None:
            self.compiled_hook(setup)
        return setup


def _arm(run: RunConfig, finetune: FinetuneConfig | None) -> TrainingSetup:
    # The global seed fixes dropout masks, so two arms draw the same stream.
    torch.manual_seed(run.seed)
    return prepare(run, finetune)

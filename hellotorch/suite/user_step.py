"""Measuring a user's own training step, as the ``compile_benchmark`` fixture does.

The user gives a factory that returns fresh, identically seeded pieces:
``(model, optimizer, loss_fn, batch)``. :class:`UserArms` makes the suite's
arms of them (eager, compiled, fp64 eager) through the same
:func:`~hellotorch.training.compiling.bind_step` the suite uses, and
:func:`measure_user_step` measures them the way the suite measures a case:
the compile timed apart, the steady compiled step handed to
pytest-benchmark, the paired speedup under the suite's host monitor (a busy
machine makes the case disturbed, not a number), graph breaks and
recompiles, and the suite's own parity check
(:func:`hellotorch.parity.losses.compare_arms`). Everything lands in
``extra_info`` under the declared record fields, so ``hellotorch report``
reads the JSON; a step that fails after it was timed is recorded failed,
with its reason, not left as an empty record.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hellotorch import record
from hellotorch.errors import describe
from hellotorch.labels import case_id
from hellotorch.measuring.case_conditions import CaseConditions
from hellotorch.measuring.host_load import HostMonitor
from hellotorch.measuring.paired import paired_speedup_as_planned, steady_step_seconds, time_call
from hellotorch.parity.arms import draws_random_numbers, same_random_numbers
from hellotorch.parity.losses import ParityReport, compare_arms
from hellotorch.settings import Measurement
from hellotorch.training.compiling import BoundStep, CompileConfig, bind_step
from hellotorch.training.devices import synchronize
from hellotorch.training.step import PrecisionContext

Pieces = tuple[nn.Module, torch.optim.Optimizer, Callable[..., torch.Tensor], tuple[torch.Tensor, ...]]
Factory = Callable[[], Pieces]
WARMUP_STEPS = 5
#: Optimizers whose parity band is the tight SGD one; every other is "adaptive".
SGD_FAMILY = (torch.optim.SGD,)


@dataclass(frozen=True)
class UserStepReport:
    """What the fixture measured; also written to the test's ``extra_info``."""

    id: str
    speedup: float
    speedup_q1: float
    speedup_q3: float
    compile_s: float
    graph_breaks: int
    recompiles: int
    parity: str
    parity_max_abs_diff: float
    parity_reason: str
    #: "fit", or "disturbed" when other processes took the CPU throughout: the speedup is then no result.
    host_state: str


@dataclass
class UserArm:
    """One arm of a user's step: the factory's pieces, bound eager or compiled (a :class:`~hellotorch.parity.losses.Arm`)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: Callable[..., torch.Tensor]
    batch: tuple
    step: BoundStep
    compile_config: CompileConfig
    blocks: nn.Module | None = None
    autocast: PrecisionContext = contextlib.nullcontext


def _pieces(factory: Factory) -> Pieces:
    pieces = factory()
    if not (isinstance(pieces, tuple) and len(pieces) == 4):
        raise TypeError("the factory must return (model, optimizer, loss_fn, batch)")
    model, optimizer, loss_fn, batch = pieces
    return model, optimizer, loss_fn, tuple(batch)


def _to_float64(model: nn.Module, batch: tuple) -> tuple:
    model.double()  # parameters change dtype in place: the optimizer keeps the same objects
    return tuple(t.double() if torch.is_tensor(t) and t.is_floating_point() else t for t in batch)


@dataclass(frozen=True)
class UserArms:
    """The suite's parity arms made from a user's factory (a :class:`~hellotorch.parity.losses.ParityArms`)."""

    factory: Factory
    config: CompileConfig
    dtype: str
    family: str
    device: str
    has_fp64: bool
    notes: tuple[str, ...] = ()
    seed: int = 0
    finetune: None = None
    run: None = None

    @classmethod
    def for_factory(cls, factory: Factory, config: CompileConfig) -> UserArms:
        """Read the facts the parity rules depend on from one set of the factory's pieces."""
        model, optimizer, _, batch = _pieces(factory)
        parameter = next(model.parameters())
        notes: tuple[str, ...] = ()
        if draws_random_numbers(model):
            config, notes = same_random_numbers(config)
        try:
            spare_model, _, _, spare_batch = _pieces(factory)
            _to_float64(spare_model, spare_batch)
            has_fp64 = True
        except (RuntimeError, TypeError):
            has_fp64 = False
            notes += ("no fp64 reference (the model could not be converted): the band decides alone",)
        family = "sgd" if isinstance(optimizer, SGD_FAMILY) else "adaptive"
        dtype = str(parameter.dtype).removeprefix("torch.")
        return cls(factory, config, dtype, family, parameter.device.type, has_fp64, notes)

    def arm(self, config: CompileConfig, *, fp64: bool = False) -> UserArm:
        model, optimizer, loss_fn, batch = _pieces(self.factory)
        if fp64:
            batch = _to_float64(model, batch)
        return UserArm(model, optimizer, loss_fn, batch, bind_step(model, optimizer, loss_fn, config=config), config)

    def eager(self) -> UserArm:
        return self.arm(CompileConfig())

    def compiled(self) -> UserArm:
        return self.arm(self.config)

    def reference(self) -> UserArm:
        # Without an fp64 copy the eager arm stands in: the fp64 rule then allows only atol/10 past the band.
        return self.arm(CompileConfig(), fp64=self.has_fp64)


def check_user_parity(factory: Factory, config: CompileConfig, *, steps: int) -> ParityReport:
    """The suite's parity check of the factory's compiled step against its eager step."""
    return compare_arms(UserArms.for_factory(factory, config), steps=steps)


def _name(text: str) -> str:
    # Case ids are joined with '-': keep a test's name readable and free of them.
    return re.sub(r"[^A-Za-z0-9_.]+", "_", text).strip("_") or "user"


def _case_fields(arms: UserArms, arm: UserArm, *, name: str, mode: str, scope: str, backend: str) -> dict[str, Any]:
    batch = arm.batch
    fields = {
        "task": "train",
        "device": arms.device,
        "model": _name(name),
        "batch_size": int(batch[0].shape[0]) if batch and torch.is_tensor(batch[0]) and batch[0].dim() else 1,
        "optimizer": type(arm.optimizer).__name__.lower(),
        "implementation": "default",
        "dtype": arms.dtype,
        "mode": mode,
        "scope": scope,
        "backend": backend,
    }
    return {**fields, "id": case_id(fields)}


def measure_user_step(
    factory: Factory,
    *,
    benchmark: Any,
    name: str,
    mode: str = "default",
    scope: str = "step",
    backend: str = "inductor",
    pairs: int = 10,
    parity_steps: int = 20,
    host: HostMonitor | None = None,
    on_curves: Callable[[dict[str, Any], list[float], list[float]], None] | None = None,
) -> UserStepReport:
    """Measure the factory's step eager and compiled into ``benchmark`` (pytest-benchmark's fixture).

    ``host`` reads the machine's load (a fresh monitor by default); the fixture
    waits for a fit machine as the suite does, and records the case disturbed
    when it never was. ``on_curves`` receives the case's fields and its eager
    and compiled loss curves (the plugin writes them beside the JSON, where
    ``hellotorch report`` draws them).
    """
    config = CompileConfig(mode=mode, scope=scope, backend=backend)
    if not config.compiled:
        raise ValueError("compile_benchmark compares a compile mode against eager; choose a mode other than eager")
    arms = UserArms.for_factory(factory, config)
    # Timed as asked: fallback_random (the parity arms' way of matching dropout) would time another compile.
    compiled = arms.arm(config)
    fields = _case_fields(arms, compiled, name=name, mode=mode, scope=scope, backend=backend)
    extra = benchmark.extra_info
    # Written first: a step that fails below leaves a failed record with its reason, never an empty one.
    extra.update(record.fields(**fields, compiled=True, status="failed", threads=torch.get_num_threads()))
    host = host if host is not None else HostMonitor()
    try:
        measurement = Measurement(pairs=pairs, parity_steps=parity_steps, speedup_ci=None, state_wait_seconds=0)
        conditions = CaseConditions(monitor=host, wait_seconds=measurement.host_wait_seconds)
        first_s, _ = time_call(compiled.step, compiled.batch)
        compiled.step.check_captured()
        eager = arms.eager()
        for _ in range(WARMUP_STEPS):
            compiled.step(compiled.batch)
            eager.step(eager.batch)
        compile_s = max(0.0, first_s - steady_step_seconds(compiled.step, compiled.batch))

        def timed(batch):
            loss = compiled.step(batch)
            synchronize(arms.device)  # pytest-benchmark's clock knows nothing of CUDA
            return loss

        conditions.wait_until_fit()
        loss = conditions.around_rounds(lambda: benchmark(timed, compiled.batch))
        stats = compiled.step.graph_stats()
        conditions.wait_until_fit()
        paired = paired_speedup_as_planned(
            eager.step,
            eager.batch,
            compiled.step,
            compiled.batch,
            measurement=measurement,
            host=host,
            host_wait_left=conditions.wait_left,
        )
        conditions.after_pairs(paired)
        report = compare_arms(arms, steps=parity_steps)
    except Exception as error:
        extra.update(record.fields(failure=describe(error)))
        raise
    median = benchmark.stats.stats.median if getattr(benchmark, "stats", None) else paired.compiled_ms / 1e3
    extra.update(
        record.fields(
            status="ok" if report.verdict != "fail" else "parity-failed",
            samples_per_s=fields["batch_size"] / median,
            final_loss=float(loss.float().item()),
            compile_s=compile_s,
            compile_cache=stats.compile_cache,
            **paired.as_fields(),
            unique_graphs=stats.unique_graphs,
            graph_breaks=stats.graph_breaks,
            recompiles=stats.recompiles,
            parity=report.verdict,
            parity_max_abs_diff=report.max_abs_diff,
            parity_steps=parity_steps,
            parity_reason=report.reason,
            parity_against="eager",
        )
    )
    extra.update(conditions.fields())
    if on_curves is not None:
        on_curves(fields, report.eager_losses, report.compiled_losses)
    return UserStepReport(
        fields["id"],
        paired.median,
        paired.q1,
        paired.q3,
        compile_s,
        stats.graph_breaks,
        stats.recompiles,
        report.verdict,
        report.max_abs_diff,
        report.reason,
        conditions.state,
    )

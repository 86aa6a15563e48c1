"""Loss parity: does the compiled step learn what the eager step learns?

For one :class:`~hellotorch.training.loops.RunConfig` the check builds identical,
seeded arms (eager, eager again, fp64 eager, compiled) and runs, in order:

1. eager against eager, bitwise: if the reference is not deterministic the
   verdict says so instead of blaming the compiler;
2. one step, tight: the loss and every gradient before the first optimizer
   step;
3. many steps, banded: the loss curves over N steps;
4. BatchNorm's running statistics, eager against compiled, within the band;
5. for fine-tuning with a frozen backbone (or LoRA), the backbone's weights
   and buffers bitwise equal to the pretrained ones in both arms, and the
   same gradient pattern (which parameters get gradients).

Every comparison follows PyTorch's own rule (``torch._dynamo.utils.same``):
pass if allclose; else pass if the compiled result's RMSE against the fp64
run is at most 2x (fp32) or 3x (bf16/fp16) the eager result's, plus atol/10.
That asks whether compiled is further from the truth than eager, which holds
where a fixed tolerance would cry wolf. Dropout models compile with
``fallback_random`` so both arms draw the same random numbers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from hellotorch.models import build_model
from hellotorch.parity import model_state
from hellotorch.parity.tolerances import ONE_STEP_TOLERANCES, compare_curves, curve_tolerance, same
from hellotorch.training.compiling import CompileConfig, bind_forward_backward
from hellotorch.training.devices import strict_float32
from hellotorch.training.loops import FinetuneConfig, RunConfig, TrainingSetup, prepare, train


@dataclass(frozen=True)
class Check:
    """One line of a parity report."""

    name: str
    ok: bool
    detail: str


@dataclass
class ParityReport:
    """Everything the parity check found for one run."""

    run: RunConfig
    finetune: bool
    steps: int
    checks: list[Check]
    eager_losses: list[float]
    compiled_losses: list[float]
    #: the largest |compiled - eager| loss difference, its relative size and step (1-based).
    max_abs_diff: float
    max_rel_diff: float
    worst_step: int
    #: RMSE of the compiled loss curve against fp64 over eager's (PyTorch's rule allows 2x fp32, 3x bf16).
    fp64_error_ratio: float = math.nan
    #: largest running-statistics difference of the BatchNorm layers, eager against compiled (NaN: none).
    batchnorm_max_diff: float = math.nan
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if not self.checks[0].ok:
            return "nondeterministic"
        return "pass" if all(check.ok for check in self.checks) else "fail"

    @property
    def reason(self) -> str:
        failed = [f"{check.name}: {check.detail}" for check in self.checks if not check.ok]
        return "; ".join(failed) if failed else "all checks passed"


#: Called with the compiled arm's setup right after it is built (see :class:`Arms`).
ArmHook = Callable[[TrainingSetup], None]


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
        if run.resolved_model_config.dropout > 0:
            if run.compile.backend == "inductor":
                fallback = dataclasses.replace(run.compile, fallback_random=True)
                compiled_run = dataclasses.replace(run, compile=fallback)
                notes = ("dropout: compiled with fallback_random so both arms draw the same random numbers",)
            else:
                notes = (f"dropout: backend {run.compile.backend} cannot force eager random numbers",)
        eager_run = dataclasses.replace(run, compile=CompileConfig())
        return cls(eager_run, compiled_run, finetune, finetune, None, notes)

    @property
    def reference_run(self) -> RunConfig:
        return dataclasses.replace(self.eager_run, dtype="float64")

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


def _grads(setup: TrainingSetup) -> dict[str, torch.Tensor | None]:
    return {name: None if p.grad is None else p.grad.detach().clone() for name, p in setup.model.named_parameters()}


def _one_step(setup: TrainingSetup, run: RunConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor | None]]:
    fn = bind_forward_backward(
        setup.model, setup.loss_fn, precision=run.autocast, config=run.compile, blocks=setup.blocks
    )
    torch.manual_seed(run.seed)
    loss = fn(setup.batch)
    return loss, _grads(setup)


def _curve(setup: TrainingSetup, steps: int) -> torch.Tensor:
    torch.manual_seed(setup.run.seed)
    # A non-finite loss is a verdict here, not an error: check_curve reports it.
    return torch.tensor(train(setup, steps=steps, check_finite=False), dtype=torch.float64)


def check_determinism(arms: Arms, *, steps: int) -> tuple[Check, torch.Tensor, TrainingSetup]:
    """1. Eager against eager, bitwise: is the reference itself deterministic?"""
    eager_arm = arms.eager()
    eager = _curve(eager_arm, steps)
    again = _curve(arms.eager(), steps)
    if torch.equal(eager, again):
        return Check("eager vs eager", True, f"bitwise identical over {steps} steps"), eager, eager_arm
    spread = (eager - again).abs().max().item()
    return Check("eager vs eager", False, f"eager reference differs from itself by {spread:.2e}"), eager, eager_arm


def check_one_step(arms: Arms) -> list[Check]:
    """2. One step, tight: the loss and every gradient before the first optimizer step."""
    tolerance = ONE_STEP_TOLERANCES[arms.eager_run.precision.name]
    eager_loss, eager_grads = _one_step(arms.eager(), arms.eager_run)
    ref_loss, ref_grads = _one_step(arms.reference(), arms.reference_run)
    compiled_loss, compiled_grads = _one_step(arms.compiled(), arms.compiled_run)
    ok, how = same(compiled_loss, eager_loss, ref_loss, tolerance=tolerance)
    checks = [Check("one step: loss", ok, f"|diff| {abs(compiled_loss.item() - eager_loss.item()):.2e} ({how})")]
    pattern_eager = sorted(name for name, grad in eager_grads.items() if grad is not None)
    pattern_compiled = sorted(name for name, grad in compiled_grads.items() if grad is not None)
    same_pattern = pattern_eager == pattern_compiled
    detail = (
        f"{len(pattern_eager)} parameters get gradients"
        if same_pattern
        else f"differs: only eager {sorted(set(pattern_eager) - set(pattern_compiled))}, "
        f"only compiled {sorted(set(pattern_compiled) - set(pattern_eager))}"
    )
    checks.append(Check("gradient pattern", same_pattern, detail))
    failing = []
    for name in pattern_eager:
        if compiled_grads.get(name) is None:
            continue
        grad_ok, grad_how = same(compiled_grads[name], eager_grads[name], ref_grads[name], tolerance=tolerance)
        if not grad_ok:
            failing.append(f"{name} ({grad_how})")
    detail = "all within tolerance" if not failing else f"{len(failing)} differ, first {failing[0]}"
    checks.append(Check(f"one step: gradients ({len(pattern_eager)})", not failing, detail))
    return checks


@dataclass(frozen=True)
class CurveResult:
    check: Check
    compiled: torch.Tensor
    compiled_arm: TrainingSetup
    reference_arm: TrainingSetup
    max_abs_diff: float
    max_rel_diff: float
    worst_step: int
    fp64_error_ratio: float


def check_curve(arms: Arms, eager: torch.Tensor, *, steps: int) -> CurveResult:
    """3. The loss curves over ``steps`` steps, banded, and by the fp64 rule."""
    tolerance = curve_tolerance(dtype=arms.eager_run.precision.name, family=arms.eager_run.optimizer_spec.family)
    reference_arm = arms.reference()
    reference = _curve(reference_arm, steps)
    compiled_arm = arms.compiled()
    compiled = _curve(compiled_arm, steps)
    result = compare_curves(compiled, eager, reference, tolerance=tolerance)
    detail = result.detail(tolerance=tolerance, ratio_name="compiled/eager")
    check = Check(f"loss curve ({steps} steps)", result.ok, detail)
    return CurveResult(
        check,
        compiled,
        compiled_arm,
        reference_arm,
        result.max_abs_diff,
        result.max_rel_diff,
        result.worst_step,
        result.fp64_error_ratio,
    )


def compare_arms(arms: Arms, *, steps: int) -> ParityReport:
    """Run every check on ``arms`` (TF32 off on CUDA) and gather the report."""
    if steps < 1:
        raise ValueError(f"step count must be positive, got {steps}")
    with strict_float32(arms.eager_run.device):
        determinism, eager, eager_arm = check_determinism(arms, steps=steps)
        checks = [determinism, *check_one_step(arms)]
        curve = check_curve(arms, eager, steps=steps)
        checks.append(curve.check)
        tolerance = curve_tolerance(dtype=arms.eager_run.precision.name, family=arms.eager_run.optimizer_spec.family)
        statistics, bn_diff = model_state.batchnorm_statistics(
            eager_arm.model, curve.compiled_arm.model, curve.reference_arm.model, tolerance=tolerance
        )
        if statistics is not None:
            checks.append(Check(*statistics))
        if arms.finetune is not None and arms.finetune.frozen:
            run = arms.eager_run
            pretrained = build_model(run.model, config=run.resolved_model_config, seed=run.seed).backbone
            backbones = {"eager": eager_arm.model.backbone, "compiled": curve.compiled_arm.model.backbone}
            checks += [Check(*line) for line in model_state.frozen_backbone(pretrained, backbones)]
    return ParityReport(
        run=arms.eager_run,
        finetune=arms.finetune is not None,
        steps=steps,
        checks=checks,
        eager_losses=eager.tolist(),
        compiled_losses=curve.compiled.tolist(),
        max_abs_diff=curve.max_abs_diff,
        max_rel_diff=curve.max_rel_diff,
        worst_step=curve.worst_step,
        fp64_error_ratio=curve.fp64_error_ratio,
        batchnorm_max_diff=bn_diff,
        notes=list(arms.notes),
    )


def check_parity(run: RunConfig, *, steps: int = 100, finetune: FinetuneConfig | None = None) -> ParityReport:
    """Does the compiled arm of ``run`` learn what its eager arm learns? (See the module docstring.)"""
    return compare_arms(Arms.for_run(run, finetune), steps=steps)


def format_report(report: ParityReport) -> str:
    """A short table and the verdict, for the terminal."""
    width = max(len(check.name) for check in report.checks)
    lines = [f"{'check':<{width}}  result  detail"]
    lines += [f"{c.name:<{width}}  {'pass' if c.ok else 'FAIL':<6}  {c.detail}" for c in report.checks]
    lines += [f"note: {note}" for note in report.notes]
    lines.append(f"verdict: {report.verdict.upper()}" + ("" if report.verdict == "pass" else f" ({report.reason})"))
    return "\n".join(lines)

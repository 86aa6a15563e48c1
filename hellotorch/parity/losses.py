"""Loss parity: does the compiled step learn what the eager step learns?

The check takes identically seeded arms (eager, eager again, fp64 eager,
compiled): :class:`Arms` builds them from a :class:`~hellotorch.training.loops.RunConfig`,
and the ``compile_benchmark`` fixture from a user's own factory
(:class:`hellotorch.suite.user_step.UserArms`); both go through
:func:`compare_arms`, which runs, in order:

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
where a fixed tolerance would cry wolf. A model that draws random numbers
(any dropout module with p > 0, whatever its config says) compiles with
``fallback_random`` so both arms draw the same ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from hellotorch.models import build_model
from hellotorch.parity import model_state
from hellotorch.parity.arms import Arm, Arms, ParityArms
from hellotorch.parity.tolerances import ONE_STEP_TOLERANCES, compare_curves, curve_tolerance, same
from hellotorch.training.compiling import bind_forward_backward
from hellotorch.training.devices import strict_float32
from hellotorch.training.loops import FinetuneConfig, RunConfig, train


@dataclass(frozen=True)
class Check:
    """One line of a parity report."""

    name: str
    ok: bool
    detail: str


@dataclass
class ParityReport:
    """Everything the parity check found for one run."""

    #: the eager run the suite's arms were built from (None: a user's own pieces).
    run: RunConfig | None
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


def _grads(setup: Arm) -> dict[str, torch.Tensor | None]:
    return {name: None if p.grad is None else p.grad.detach().clone() for name, p in setup.model.named_parameters()}


def _one_step(setup: Arm, *, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor | None]]:
    fn = bind_forward_backward(
        setup.model, setup.loss_fn, precision=setup.autocast, config=setup.compile_config, blocks=setup.blocks
    )
    torch.manual_seed(seed)
    loss = fn(setup.batch)
    return loss, _grads(setup)


def _curve(setup: Arm, steps: int, *, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    # A non-finite loss is a verdict here, not an error: check_curve reports it.
    return torch.tensor(train(setup, steps=steps, check_finite=False), dtype=torch.float64)


def check_determinism(arms: ParityArms, *, steps: int) -> tuple[Check, torch.Tensor, Arm]:
    """1. Eager against eager, bitwise: is the reference itself deterministic?"""
    eager_arm = arms.eager()
    eager = _curve(eager_arm, steps, seed=arms.seed)
    again = _curve(arms.eager(), steps, seed=arms.seed)
    if torch.equal(eager, again):
        return Check("eager vs eager", True, f"bitwise identical over {steps} steps"), eager, eager_arm
    spread = (eager - again).abs().max().item()
    return Check("eager vs eager", False, f"eager reference differs from itself by {spread:.2e}"), eager, eager_arm


def check_one_step(arms: ParityArms) -> list[Check]:
    """2. One step, tight: the loss and every gradient before the first optimizer step."""
    tolerance = ONE_STEP_TOLERANCES[arms.dtype]
    eager_loss, eager_grads = _one_step(arms.eager(), seed=arms.seed)
    ref_loss, ref_grads = _one_step(arms.reference(), seed=arms.seed)
    compiled_loss, compiled_grads = _one_step(arms.compiled(), seed=arms.seed)
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
    compiled_arm: Arm
    reference_arm: Arm
    max_abs_diff: float
    max_rel_diff: float
    worst_step: int
    fp64_error_ratio: float


def check_curve(arms: ParityArms, eager: torch.Tensor, *, steps: int) -> CurveResult:
    """3. The loss curves over ``steps`` steps, banded, and by the fp64 rule."""
    tolerance = curve_tolerance(dtype=arms.dtype, family=arms.family)
    reference_arm = arms.reference()
    reference = _curve(reference_arm, steps, seed=arms.seed)
    compiled_arm = arms.compiled()
    compiled = _curve(compiled_arm, steps, seed=arms.seed)
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


def compare_arms(arms: ParityArms, *, steps: int) -> ParityReport:
    """Run every check on ``arms`` (TF32 off on CUDA) and gather the report."""
    if steps < 1:
        raise ValueError(f"step count must be positive, got {steps}")
    with strict_float32(arms.device):
        determinism, eager, eager_arm = check_determinism(arms, steps=steps)
        checks = [determinism, *check_one_step(arms)]
        curve = check_curve(arms, eager, steps=steps)
        checks.append(curve.check)
        tolerance = curve_tolerance(dtype=arms.dtype, family=arms.family)
        statistics, bn_diff = model_state.batchnorm_statistics(
            eager_arm.model, curve.compiled_arm.model, curve.reference_arm.model, tolerance=tolerance
        )
        if statistics is not None:
            checks.append(Check(*statistics))
        if arms.finetune is not None and arms.finetune.frozen and arms.run is not None:
            run = arms.run
            pretrained = build_model(run.model, config=run.resolved_model_config, seed=run.seed).backbone
            backbones = {"eager": eager_arm.model.backbone, "compiled": curve.compiled_arm.model.backbone}
            checks += [Check(*line) for line in model_state.frozen_backbone(pretrained, backbones)]
    return ParityReport(
        run=arms.run,
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

"""Loss parity: does the compiled step learn what the eager step learns?

For one :class:`~hellotorch.training.RunConfig` the check builds identical,
seeded arms (eager, eager again, fp64 eager, compiled) and runs, in order:

1. eager against eager, bitwise: if the reference is not deterministic the
   verdict says so instead of blaming the compiler;
2. one step, tight: the loss and every gradient before the first optimizer
   step;
3. many steps, banded: the loss curves over N steps;
4. for fine-tuning, frozen parameters bitwise equal to the pretrained ones in
   both arms, and the same gradient pattern (which parameters get gradients).

Every comparison follows PyTorch's own rule (``torch._dynamo.utils.same``):
pass if allclose; else pass if the compiled result's RMSE against the fp64
run is at most 2x (fp32) or 3x (bf16/fp16) the eager result's, plus atol/10.
That asks whether compiled is further from the truth than eager, which holds
where a fixed tolerance would cry wolf. Dropout models compile with
``fallback_random`` so both arms draw the same random numbers.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from hellotorch.compiling import CompileConfig, bind_forward_backward
from hellotorch.devices import autocast_context, build_precision, strict_float32
from hellotorch.models import build_model
from hellotorch.optimizers import get_optimizer_spec
from hellotorch.training import FinetuneConfig, RunConfig, TrainingSetup, prepare, train


@dataclass(frozen=True)
class Tolerance:
    """allclose bounds, and the fp64 rule's multiplier of eager's error."""

    rtol: float
    atol: float
    fp64_factor: float


# Measured here over 200 steps (../shared/DESIGN.md): fp32 SGD family 2-5e-7,
# compiled Adam/AdamW 1e-5 (relative 2.5e-5), bf16 autocast 1.4-1.7e-3
# (relative up to 6e-3). Bounds sit a few times above what was measured.
CURVE_TOLERANCES = {
    ("float32", "sgd"): Tolerance(rtol=1e-5, atol=1e-6, fp64_factor=2.0),
    ("float32", "adaptive"): Tolerance(rtol=1e-4, atol=2e-5, fp64_factor=2.0),
    ("float64", "sgd"): Tolerance(rtol=1e-10, atol=1e-12, fp64_factor=2.0),
    ("float64", "adaptive"): Tolerance(rtol=1e-9, atol=1e-11, fp64_factor=2.0),
    ("bfloat16", "sgd"): Tolerance(rtol=1e-2, atol=4e-3, fp64_factor=3.0),
    ("bfloat16", "adaptive"): Tolerance(rtol=1e-2, atol=4e-3, fp64_factor=3.0),
    ("float16", "sgd"): Tolerance(rtol=5e-3, atol=2e-3, fp64_factor=3.0),
    ("float16", "adaptive"): Tolerance(rtol=5e-3, atol=2e-3, fp64_factor=3.0),
}
# Before any optimizer step there is nothing to amplify the differences.
ONE_STEP_TOLERANCES = {
    "float32": Tolerance(rtol=1e-5, atol=1e-6, fp64_factor=2.0),
    "float64": Tolerance(rtol=1e-10, atol=1e-12, fp64_factor=2.0),
    "bfloat16": Tolerance(rtol=1e-2, atol=2e-3, fp64_factor=3.0),
    "float16": Tolerance(rtol=5e-3, atol=1e-3, fp64_factor=3.0),
}


def curve_tolerance(run: RunConfig) -> Tolerance:
    family = get_optimizer_spec(run.optimizer, run.implementation).family
    return CURVE_TOLERANCES[(build_precision(run.dtype, device=run.device).name, family)]


def _rmse(a: torch.Tensor, b: torch.Tensor) -> float:
    return math.sqrt(torch.mean((a.double() - b.double()) ** 2).item())


def same(
    actual: torch.Tensor, expected: torch.Tensor, reference: torch.Tensor, *, tolerance: Tolerance
) -> tuple[bool, str]:
    """PyTorch's parity rule: allclose, else no further from fp64 than eager is (times a factor)."""
    actual, expected, reference = (t.detach().double().cpu() for t in (actual, expected, reference))
    if torch.allclose(actual, expected, rtol=tolerance.rtol, atol=tolerance.atol):
        return True, "allclose"
    actual_error, expected_error = _rmse(actual, reference), _rmse(expected, reference)
    bound = tolerance.fp64_factor * expected_error + tolerance.atol / 10
    ok = actual_error <= bound
    return ok, f"fp64 rule: compiled RMSE {actual_error:.2e} {'<=' if ok else '>'} {bound:.2e}"


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


#: Called with the compiled arm's setup right after it is built; tests use it
#: to plant a difference (a nudged gradient, say) that the check must catch.
ArmHook = Callable[[TrainingSetup], None]


def _arm(run: RunConfig, finetune: FinetuneConfig | None) -> TrainingSetup:
    # The global seed fixes dropout masks, so two arms draw the same stream.
    torch.manual_seed(run.seed)
    return prepare(run, finetune)


def _grads(setup: TrainingSetup) -> dict[str, torch.Tensor | None]:
    return {name: None if p.grad is None else p.grad.detach().clone() for name, p in setup.model.named_parameters()}


def _one_step(setup: TrainingSetup, run: RunConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor | None]]:
    precision = autocast_context(build_precision(run.dtype, device=run.device), run.device)
    fn = bind_forward_backward(setup.model, setup.loss_fn, precision=precision, config=run.compile)
    torch.manual_seed(run.seed)
    loss = fn(setup.batch)
    return loss, _grads(setup)


def _curve(setup: TrainingSetup, steps: int) -> torch.Tensor:
    torch.manual_seed(setup.run.seed)
    return torch.tensor(train(setup, steps=steps), dtype=torch.float64)


def _tf32_off(check: Callable[..., ParityReport]) -> Callable[..., ParityReport]:
    @functools.wraps(check)
    def wrapper(run: RunConfig, **options) -> ParityReport:
        with strict_float32(run.device):
            return check(run, **options)

    return wrapper


@_tf32_off
def check_parity(
    run: RunConfig,
    *,
    steps: int = 100,
    finetune: FinetuneConfig | None = None,
    compiled_run: RunConfig | None = None,
    compiled_finetune: FinetuneConfig | None = None,
    compiled_hook: ArmHook | None = None,
) -> ParityReport:
    """Compare the compiled arm of ``run`` against its eager arm (TF32 off on CUDA).

    ``compiled_run``/``compiled_finetune`` replace the compiled arm's settings
    (defaults: ``run`` and ``finetune``); only tests that plant a difference
    use them.
    """
    if not run.compile.compiled:
        raise ValueError("parity needs a compile mode (the eager arm is built from it); got mode eager")
    if steps < 1:
        raise ValueError(f"step count must be positive, got {steps}")
    run.validate()
    notes = []
    compiled_run = compiled_run or run
    if run.resolved_model_config.dropout > 0 and compiled_run.compile.backend == "inductor":
        compiled_run = dataclasses.replace(
            compiled_run, compile=dataclasses.replace(compiled_run.compile, fallback_random=True)
        )
        notes.append("dropout: compiled with fallback_random so both arms draw the same random numbers")
    elif run.resolved_model_config.dropout > 0:
        notes.append(f"dropout: backend {compiled_run.compile.backend} cannot force eager random numbers")
    eager_run = dataclasses.replace(run, compile=CompileConfig())
    reference_run = dataclasses.replace(eager_run, dtype="float64")

    def compiled_setup() -> TrainingSetup:
        setup = _arm(compiled_run, (compiled_finetune or finetune) if finetune is not None else None)
        if compiled_hook is not None:
            compiled_hook(setup)
        return setup

    checks: list[Check] = []
    # 1. Is the reference itself deterministic?
    eager_arm = _arm(eager_run, finetune)
    eager = _curve(eager_arm, steps)
    again = _curve(_arm(eager_run, finetune), steps)
    if torch.equal(eager, again):
        checks.append(Check("eager vs eager", True, f"bitwise identical over {steps} steps"))
    else:
        spread = (eager - again).abs().max().item()
        checks.append(Check("eager vs eager", False, f"eager reference differs from itself by {spread:.2e}"))

    # 2. One step, tight, against fp64.
    one_step = ONE_STEP_TOLERANCES[build_precision(run.dtype, device=run.device).name]
    eager_loss, eager_grads = _one_step(_arm(eager_run, finetune), eager_run)
    ref_loss, ref_grads = _one_step(_arm(reference_run, finetune), reference_run)
    compiled_loss, compiled_grads = _one_step(compiled_setup(), compiled_run)
    ok, how = same(compiled_loss, eager_loss, ref_loss, tolerance=one_step)
    checks.append(Check("one step: loss", ok, f"|diff| {abs(compiled_loss.item() - eager_loss.item()):.2e} ({how})"))
    pattern_eager = sorted(name for name, grad in eager_grads.items() if grad is not None)
    pattern_compiled = sorted(name for name, grad in compiled_grads.items() if grad is not None)
    checks.append(
        Check(
            "gradient pattern",
            pattern_eager == pattern_compiled,
            f"{len(pattern_eager)} parameters get gradients"
            if pattern_eager == pattern_compiled
            else f"differs: only eager {sorted(set(pattern_eager) - set(pattern_compiled))}, "
            f"only compiled {sorted(set(pattern_compiled) - set(pattern_eager))}",
        )
    )
    failing = []
    for name in pattern_eager:
        if compiled_grads.get(name) is None:
            continue
        grad_ok, grad_how = same(compiled_grads[name], eager_grads[name], ref_grads[name], tolerance=one_step)
        if not grad_ok:
            failing.append(f"{name} ({grad_how})")
    checks.append(
        Check(
            f"one step: gradients ({len(pattern_eager)})",
            not failing,
            "all within tolerance" if not failing else f"{len(failing)} differ, first {failing[0]}",
        )
    )

    # 3. The loss curves, banded.
    tolerance = curve_tolerance(run)
    reference = _curve(_arm(reference_run, finetune), steps)
    compiled_arm = compiled_setup()
    compiled = _curve(compiled_arm, steps)
    diff = (compiled - eager).abs()
    worst = int(diff.argmax().item())
    max_abs = diff[worst].item()
    max_rel = max_abs / max(abs(eager[worst].item()), 1e-12)
    finite = bool(torch.isfinite(compiled).all())
    curve_ok, curve_how = same(compiled, eager, reference, tolerance=tolerance) if finite else (False, "non-finite")
    # Reported whichever way the check passed: how much further from fp64 the compiled curve is than eager's.
    eager_error = _rmse(eager, reference)
    fp64_ratio = _rmse(compiled, reference) / eager_error if finite and eager_error > 0 else math.nan
    checks.append(
        Check(
            f"loss curve ({steps} steps)",
            curve_ok,
            f"max |diff| {max_abs:.2e} at step {worst + 1} (rel {max_rel:.2e}); "
            f"rtol {tolerance.rtol:g} atol {tolerance.atol:g}; {curve_how}; "
            f"RMSE vs fp64: compiled/eager {fp64_ratio:.2f} (limit {tolerance.fp64_factor:g})",
        )
    )

    # 4. Fine-tuning: frozen parameters stay exactly the pretrained ones.
    if finetune is not None and finetune.freeze_backbone:
        pretrained = build_model(run.model, config=run.resolved_model_config, seed=run.seed)
        frozen = dict(pretrained.backbone.named_parameters())
        for arm_name, arm in (("eager", eager_arm), ("compiled", compiled_arm)):
            moved = [
                name
                for name, param in arm.model.backbone.named_parameters()
                if not torch.equal(param.detach().cpu().to(frozen[name].dtype), frozen[name])
            ]
            checks.append(
                Check(
                    f"frozen backbone, {arm_name}",
                    not moved,
                    f"{len(frozen)} tensors bitwise unchanged"
                    if not moved
                    else f"{len(moved)} changed, e.g. {moved[0]}",
                )
            )
    return ParityReport(
        run=run,
        finetune=finetune is not None,
        steps=steps,
        checks=checks,
        eager_losses=eager.tolist(),
        compiled_losses=compiled.tolist(),
        max_abs_diff=max_abs,
        max_rel_diff=max_rel,
        worst_step=worst + 1,
        fp64_error_ratio=fp64_ratio,
        notes=notes,
    )


def format_report(report: ParityReport) -> str:
    """A short table and the verdict, for the terminal."""
    width = max(len(check.name) for check in report.checks)
    lines = [f"{'check':<{width}}  result  detail"]
    lines += [f"{c.name:<{width}}  {'pass' if c.ok else 'FAIL':<6}  {c.detail}" for c in report.checks]
    lines += [f"note: {note}" for note in report.notes]
    lines.append(f"verdict: {report.verdict.upper()}" + ("" if report.verdict == "pass" else f" ({report.reason})"))
    return "\n".join(lines)

"""Parity tolerances, and PyTorch's rule for comparing a compiled result with eager.

The numbers are bounds a few times above the differences measured between
eager and compiled training steps; docs/methodology.md ("Loss parity") gives
the measurements. :func:`same` is ``torch._dynamo.utils.same``'s rule: pass on
allclose, else pass when the compiled result is no further from an fp64 run
than eager is, times a factor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Tolerance:
    """allclose bounds, and the fp64 rule's multiplier of eager's error."""

    rtol: float
    atol: float
    fp64_factor: float


# Measured over 200 steps (docs/methodology.md, "Loss parity"): fp32 SGD family
# 2-5e-7, compiled Adam/AdamW 1e-5 (relative 2.5e-5), bf16 autocast 1.4-1.7e-3
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


def curve_tolerance(*, dtype: str, family: str) -> Tolerance:
    """The loss-curve band for a precision name and an optimizer family (``sgd`` or ``adaptive``)."""
    return CURVE_TOLERANCES[(dtype, family)]


def rmse(a: torch.Tensor, b: torch.Tensor) -> float:
    return math.sqrt(torch.mean((a.double() - b.double()) ** 2).item())


def same(
    actual: torch.Tensor, expected: torch.Tensor, reference: torch.Tensor, *, tolerance: Tolerance
) -> tuple[bool, str]:
    """PyTorch's parity rule: allclose, else no further from fp64 than eager is (times a factor)."""
    actual, expected, reference = (t.detach().double().cpu() for t in (actual, expected, reference))
    if torch.allclose(actual, expected, rtol=tolerance.rtol, atol=tolerance.atol):
        return True, "allclose"
    actual_error, expected_error = rmse(actual, reference), rmse(expected, reference)
    bound = tolerance.fp64_factor * expected_error + tolerance.atol / 10
    ok = actual_error <= bound
    return ok, f"fp64 rule: compiled RMSE {actual_error:.2e} {'<=' if ok else '>'} {bound:.2e}"


@dataclass(frozen=True)
class CurveComparison:
    """One loss curve against another, banded and by the fp64 rule."""

    ok: bool
    #: which rule passed it (allclose, the fp64 rule) or why it failed.
    how: str
    max_abs_diff: float
    max_rel_diff: float
    #: 1-based step of the largest difference.
    worst_step: int
    #: RMSE against fp64 of ``actual`` over that of ``expected`` (NaN when undefined).
    fp64_error_ratio: float

    def detail(self, *, tolerance: Tolerance, ratio_name: str) -> str:
        """What was compared and which rule decided: the band (allclose) first, the fp64 rule only past it."""
        diff = f"max |diff| {self.max_abs_diff:.2e} at step {self.worst_step} (rel {self.max_rel_diff:.2e})"
        band = f"rtol {tolerance.rtol:g} atol {tolerance.atol:g}"
        ratio = f"RMSE vs fp64: {ratio_name} {self.fp64_error_ratio:.2f}"
        if self.how == "allclose":
            # The fp64 ratio is shown, not applied: a ratio above its limit does not fail a curve within the band.
            return f"{diff}; decided by the band ({band}): within it; {ratio} (not applied: the band decided)"
        return (
            f"{diff}; outside the band ({band}), so decided by the {self.how} "
            f"({ratio}, limit {tolerance.fp64_factor:g})"
        )


def compare_curves(
    actual: torch.Tensor, expected: torch.Tensor, reference: torch.Tensor, *, tolerance: Tolerance
) -> CurveComparison:
    """``actual`` against ``expected`` (both float64, one loss per step), with ``reference`` the fp64 run."""
    diff = (actual - expected).abs().nan_to_num(nan=math.inf)
    worst = int(diff.argmax().item())
    max_abs = diff[worst].item()
    max_rel = max_abs / max(abs(expected[worst].item()), 1e-12)
    finite = bool(torch.isfinite(actual).all())
    ok, how = same(actual, expected, reference, tolerance=tolerance) if finite else (False, "non-finite loss")
    # Reported whichever way the check passed: how much further from fp64 ``actual`` is than ``expected``.
    expected_error = rmse(expected, reference)
    ratio = rmse(actual, reference) / expected_error if finite and expected_error > 0 else math.nan
    return CurveComparison(ok, how, max_abs, max_rel, worst + 1, ratio)

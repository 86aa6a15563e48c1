"""Loss parity of a distributed case against one process training on the same global batch.

Each rank trains on an equal slice of the global batch; with a mean loss and
gradients averaged over the ranks (DDP's all-reduce, FSDP2's reduce-scatter),
the mean of the ranks' losses is the loss one process gets on the whole
batch. So the reference is the single-process eager run of the same case
(:meth:`~hellotorch.profiles.cases.BenchCase.single_process`), and the comparison is
the single-process check's: the same curve bands, and PyTorch's fp64 rule
(:func:`hellotorch.parity.tolerances.same`) against an fp64 single-process run. This
holds for eager and compiled distributed cases alike; the all-reduce's
summation order is the only new source of difference.
"""

from __future__ import annotations

import dataclasses

import torch

from hellotorch.parity.losses import Check, ParityReport
from hellotorch.parity.tolerances import compare_curves, curve_tolerance
from hellotorch.profiles.cases import BenchCase
from hellotorch.training.loops import prepare, train


def _single_process_curve(case: BenchCase, steps: int, *, dtype: str | None = None) -> torch.Tensor:
    reference = case.single_process()
    run = reference.run_config()
    if dtype is not None:
        run = dataclasses.replace(run, dtype=dtype)
    torch.manual_seed(run.seed)
    setup = prepare(run, reference.finetune_config())
    return torch.tensor(train(setup, steps=steps, check_finite=False), dtype=torch.float64)


def compare_with_one_process(case: BenchCase, losses: list[float]) -> ParityReport:
    """The distributed loss curve ``losses`` (global mean per step) against one process's."""
    steps = len(losses)
    run = case.single_process().run_config()
    tolerance = curve_tolerance(dtype=run.precision.name, family=run.optimizer_spec.family)
    expected = _single_process_curve(case, steps)
    repeated = _single_process_curve(case, steps)
    deterministic = bool(torch.equal(expected, repeated))
    fp64 = _single_process_curve(case, steps, dtype="float64")
    actual = torch.tensor(losses, dtype=torch.float64)
    result = compare_curves(actual, expected, fp64, tolerance=tolerance)
    detail = result.detail(tolerance=tolerance, ratio_name=f"{case.strategy} x{case.world_size}/one process")
    checks = [
        Check("one process against itself (bitwise)", deterministic, "identical" if deterministic else "differs"),
        Check(f"loss curve against one process ({steps} steps)", result.ok, detail),
    ]
    return ParityReport(
        run=run,
        finetune=case.finetune_config() is not None,
        steps=steps,
        checks=checks,
        eager_losses=expected.tolist(),
        compiled_losses=actual.tolist(),
        max_abs_diff=result.max_abs_diff,
        max_rel_diff=result.max_rel_diff,
        worst_step=result.worst_step,
        fp64_error_ratio=result.fp64_error_ratio,
    )

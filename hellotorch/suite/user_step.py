"""Measuring a user's own training step, as the ``compile_benchmark`` fixture does.

The user gives a factory that returns fresh, identically seeded pieces:
``(model, optimizer, loss_fn, batch)``. :func:`measure_user_step` builds an
eager and a compiled arm from it through the same :func:`~hellotorch.training.compiling.bind_step`
the suite uses, times the compile apart, hands the steady compiled step to
pytest-benchmark, measures the paired eager/compiled speedup, records graph
breaks and recompiles, and checks loss parity against eager (and against an
fp64 copy where the model allows one). Everything lands in ``extra_info``
under the declared record fields, so ``hellotorch report`` reads the JSON.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from hellotorch import record
from hellotorch.labels import case_id
from hellotorch.measuring.paired import paired_speedup, steady_step_seconds, time_call
from hellotorch.parity.tolerances import curve_tolerance, same
from hellotorch.training.compiling import BoundStep, CompileConfig, bind_step
from hellotorch.training.devices import synchronize

Pieces = tuple[torch.nn.Module, torch.optim.Optimizer, Callable[..., torch.Tensor], tuple[torch.Tensor, ...]]
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


def _bind(factory: Factory, config: CompileConfig) -> tuple[BoundStep, tuple[torch.Tensor, ...], Pieces]:
    pieces = factory()
    if not (isinstance(pieces, tuple) and len(pieces) == 4):
        raise TypeError("the factory must return (model, optimizer, loss_fn, batch)")
    model, optimizer, loss_fn, batch = pieces
    return bind_step(model, optimizer, loss_fn, config=config), tuple(batch), pieces


def _curve(step: BoundStep, batch, steps: int) -> torch.Tensor:
    return torch.stack([step(batch).detach().double().cpu() for _ in range(steps)])


def _fp64_curve(factory: Factory, steps: int) -> torch.Tensor | None:
    """The eager curve in float64, or None when the user's pieces cannot be converted."""
    try:
        model, optimizer, loss_fn, batch = factory()
        model.double()  # parameters change dtype in place: the optimizer keeps the same objects
        batch = tuple(t.double() if torch.is_tensor(t) and t.is_floating_point() else t for t in batch)
        return _curve(bind_step(model, optimizer, loss_fn), batch, steps)
    except (RuntimeError, TypeError):
        return None


def check_user_parity(factory: Factory, config: CompileConfig, *, steps: int) -> tuple[str, float, str]:
    """Verdict, largest loss difference and reason for the compiled arm against eager."""
    eager, batch, pieces = _bind(factory, CompileConfig())
    eager_losses = _curve(eager, batch, steps)
    again, batch_again, _ = _bind(factory, CompileConfig())
    if not torch.equal(eager_losses, _curve(again, batch_again, steps)):
        return "nondeterministic", math.nan, "the eager reference differs from itself: is the factory seeded?"
    compiled, compiled_batch, _ = _bind(factory, config)
    compiled_losses = _curve(compiled, compiled_batch, steps)
    diff = float((compiled_losses - eager_losses).abs().max())
    if not bool(torch.isfinite(compiled_losses).all()):
        return "fail", diff, "non-finite compiled loss"
    family = "sgd" if isinstance(pieces[1], SGD_FAMILY) else "adaptive"
    tolerance = curve_tolerance(dtype="float32", family=family)
    reference = _fp64_curve(factory, steps)
    if reference is None:
        ok = torch.allclose(compiled_losses, eager_losses, rtol=tolerance.rtol, atol=tolerance.atol)
        how = "allclose (no fp64 reference: the model could not be converted)"
    else:
        ok, how = same(compiled_losses, eager_losses, reference, tolerance=tolerance)
    return ("pass" if ok else "fail"), diff, f"{steps} steps, max |diff| {diff:.2e}, {how}"


def _name(text: str) -> str:
    # Case ids are joined with '-': keep a test's name readable and free of them.
    return re.sub(r"[^A-Za-z0-9_.]+", "_", text).strip("_") or "user"


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
) -> UserStepReport:
    """Measure the factory's step eager and compiled into ``benchmark`` (pytest-benchmark's fixture)."""
    config = CompileConfig(mode=mode, scope=scope, backend=backend)
    if not config.compiled:
        raise ValueError("compile_benchmark compares a compile mode against eager; choose a mode other than eager")
    compiled, batch, (model, optimizer, _, _) = _bind(factory, config)
    device = next(model.parameters()).device.type
    first_s, _ = time_call(compiled, batch)
    compiled.check_captured()
    eager, eager_batch, _ = _bind(factory, CompileConfig())
    for _ in range(WARMUP_STEPS):
        compiled(batch)
        eager(eager_batch)
    compile_s = max(0.0, first_s - steady_step_seconds(compiled, batch))

    def timed(batch):
        loss = compiled(batch)
        synchronize(device)  # pytest-benchmark's clock knows nothing of CUDA
        return loss

    loss = benchmark(timed, batch)
    stats = compiled.graph_stats()
    paired = paired_speedup(eager, eager_batch, compiled, batch, pairs=pairs)
    verdict, max_diff, reason = check_user_parity(factory, config, steps=parity_steps)
    fields = {
        "task": "train",
        "device": device,
        "model": _name(name),
        "batch_size": int(batch[0].shape[0]) if batch and torch.is_tensor(batch[0]) and batch[0].dim() else 1,
        "optimizer": type(optimizer).__name__.lower(),
        "implementation": "default",
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "mode": mode,
        "scope": scope,
        "backend": backend,
    }
    median = benchmark.stats.stats.median if getattr(benchmark, "stats", None) else paired.compiled_ms / 1e3
    benchmark.extra_info.update(
        record.fields(
            **fields,
            id=case_id(fields),
            compiled=True,
            status="ok" if verdict != "fail" else "parity-failed",
            threads=torch.get_num_threads(),
            samples_per_s=fields["batch_size"] / median,
            final_loss=float(loss.float().item()),
            compile_s=compile_s,
            compile_cache=stats.compile_cache,
            **paired.as_fields(),
            unique_graphs=stats.unique_graphs,
            graph_breaks=stats.graph_breaks,
            recompiles=stats.recompiles,
            parity=verdict,
            parity_max_abs_diff=max_diff,
            parity_steps=parity_steps,
            parity_reason=reason,
        )
    )
    return UserStepReport(
        benchmark.extra_info["id"],
        paired.median,
        paired.q1,
        paired.q3,
        compile_s,
        stats.graph_breaks,
        stats.recompiles,
        verdict,
        max_diff,
        reason,
    )

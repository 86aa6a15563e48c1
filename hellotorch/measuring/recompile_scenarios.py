"""Recompilation scenarios: the loops real training runs that make ``torch.compile`` compile again.

Each scenario drives a compiled step through a short "epoch" whose inputs or
learning rate change the way a real loop's do, and reports how many graphs
were compiled after the first call, the compile time they added (calls that
compiled, minus a steady step each); pytest-benchmark then times the step on
the epoch's common batch (the full batch, the full sequence length). Scenarios and their fixes:

- ``lr-float``: a scheduler writing a new Python-float learning rate every
  step (Dynamo guards on the value); ``lr-tensor`` holds it in a tensor;
- ``last-batch``: an epoch ending with a smaller batch;
- ``seq-auto``, ``seq-mark``, ``seq-dynamic``: varying sequence lengths under
  automatic dynamic shapes (``dynamic=None``: static, then dynamic after the
  first recompile), with ``torch._dynamo.mark_dynamic`` on the sequence axis,
  and with ``dynamic=True``;
- ``limit``: a new batch size every step with dynamic shapes off, which hits
  Dynamo's recompile limit. Past the limit Dynamo silently runs eagerly; here
  ``fail_on_recompile_limit_hit`` turns that into an error, and the case is
  recorded as failed with the reason.

Every scenario runs with ``fail_on_recompile_limit_hit``: one that recompiles
that often is failed, not quietly measured as eager.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch._dynamo.exc import FailOnRecompileLimitHit
from torch._dynamo.utils import counters

from hellotorch.measuring.paired import steady_step_seconds, time_call
from hellotorch.models import Batch, make_batch
from hellotorch.training.loops import TrainingSetup

NONE = "none"
#: steps of a scenario's epoch (more than Dynamo's recompile limit of 8).
EPOCH_STEPS = 12


class RecompileLimitHit(RuntimeError):
    """The scenario hit Dynamo's recompile limit: past it the step would run eagerly, silently."""


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    description: str
    #: compile mode the scenario needs (its ``dynamic=`` setting).
    mode: str
    #: models whose data has the axis the scenario varies.
    models: tuple[str, ...]


SCENARIOS: dict[str, ScenarioSpec] = {
    spec.name: spec
    for spec in (
        ScenarioSpec("lr-float", "a scheduler sets a Python-float learning rate every step", "default", ()),
        ScenarioSpec("lr-tensor", "the same schedule with the learning rate held in a tensor", "default", ()),
        ScenarioSpec("last-batch", "an epoch of full batches ending with a smaller one", "default", ()),
        ScenarioSpec(
            "seq-auto", "sequence lengths vary, automatic dynamic shapes (dynamic=None)", "auto-dynamic", ("gpt",)
        ),
        ScenarioSpec("seq-mark", "sequence lengths vary, mark_dynamic on the sequence axis", "auto-dynamic", ("gpt",)),
        ScenarioSpec("seq-dynamic", "sequence lengths vary, dynamic=True", "dynamic", ("gpt",)),
        ScenarioSpec(
            "limit", "a new batch size every step with dynamic shapes off: the recompile limit", "default", ()
        ),
    )
}


def check_scenario(name: str, *, model: str, mode: str) -> None:
    if name == NONE:
        return
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)}")
    spec = SCENARIOS[name]
    if spec.models and model not in spec.models:
        raise ValueError(f"scenario {name} varies an axis only {', '.join(spec.models)} has, not model {model}")
    if mode != spec.mode:
        raise ValueError(f"scenario {name} runs under compile mode {spec.mode}, not {mode}")


@dataclass(frozen=True)
class ScenarioOutcome:
    #: the first call's compile (the first call minus a steady step on its batch), s.
    compile_s: float
    #: graphs compiled after the first call.
    recompiles: int
    #: compile time those recompiles added (each compiling call minus a steady step on its batch), s.
    added_compile_s: float
    steps: int


def _graphs() -> int:
    return int(counters["stats"]["unique_graphs"])


def _batch(setup: TrainingSetup, *, batch_size: int, seq_len: int | None = None) -> Batch:
    run = setup.run
    config = run.resolved_model_config
    if seq_len is not None:
        config = dataclasses.replace(config, seq_len=seq_len)
    return make_batch(
        run.model,
        batch_size=batch_size,
        config=config,
        seed=run.seed,
        device=run.device,
        dtype=run.precision.param_dtype,
    )


def _plan(name: str, setup: TrainingSetup) -> tuple[list[Batch], Callable[[int], None] | None]:
    """The epoch's batches, and what happens before each step (a scheduler)."""
    size = setup.run.resolved_batch_size
    full = [setup.batch] * EPOCH_STEPS
    if name in ("lr-float", "lr-tensor"):
        groups = setup.optimizer.param_groups
        base = [group["lr"] for group in groups]
        if name == "lr-tensor":
            for group in groups:
                group["lr"] = torch.tensor(group["lr"], device=setup.run.device)

        def schedule(index: int) -> None:  # linear decay, as a LambdaLR would set it
            for group, lr in zip(groups, base):
                value = lr * (1 - index / (2 * EPOCH_STEPS))
                if name == "lr-tensor":
                    group["lr"].fill_(value)
                else:
                    group["lr"] = value

        return full, schedule
    if name == "last-batch":
        return full[:-1] + [_batch(setup, batch_size=max(1, size * 5 // 8))], None
    if name == "limit":
        return [_batch(setup, batch_size=max(1, size - index)) for index in range(EPOCH_STEPS)], None
    # Sequence scenarios: lengths cycle below the model's context; the full length comes back last.
    context = setup.run.resolved_model_config.seq_len
    lengths = [context - (index % 4) * max(1, context // 8) for index in range(1, EPOCH_STEPS)] + [context]
    batches = [_batch(setup, batch_size=size, seq_len=length) for length in lengths]
    if name == "seq-mark":
        for inputs, targets in batches:
            torch._dynamo.mark_dynamic(inputs, 1)
            torch._dynamo.mark_dynamic(targets, 1)
    return batches, None


def run_scenario(name: str, setup: TrainingSetup) -> ScenarioOutcome:
    """Drive ``setup``'s compiled step through the scenario's epoch; its first call is the compile.

    :class:`RecompileLimitHit` when the epoch needs more recompiles than
    Dynamo allows; the message says how many it compiled and what they cost.
    """
    batches, before_step = _plan(name, setup)
    first_graphs, timed = 0, []
    # Past the limit Dynamo would fall back to eager without a word: make it an error.
    with torch._dynamo.config.patch(fail_on_recompile_limit_hit=True, automatic_dynamic_shapes=name != "limit"):
        for index, batch in enumerate(batches):
            if before_step is not None:
                before_step(index)
            graphs = _graphs()
            try:
                seconds, _ = time_call(setup.step, batch)
            except FailOnRecompileLimitHit as error:
                # Calling the step again would hit the limit again: the calls' own times, steady step included.
                taken = sum(seconds for seconds, _ in timed[1:])
                raise RecompileLimitHit(
                    f"recompile limit ({torch._dynamo.config.recompile_limit}) hit at step {index + 1} of "
                    f"{len(batches)}, after {_graphs() - first_graphs} recompiles taking {taken:.1f} s: past it "
                    "the step would run eagerly, silently"
                ) from error
            if index == 0:
                setup.step.check_captured()
                first_graphs = _graphs()
                timed.append((seconds, batch))
            elif _graphs() > graphs:
                timed.append((seconds, batch))
        compile_s = _added(setup, timed[:1])
        added = _added(setup, timed[1:])
    return ScenarioOutcome(
        compile_s=compile_s, recompiles=_graphs() - first_graphs, added_compile_s=added, steps=len(batches)
    )


def _added(setup: TrainingSetup, calls: list[tuple[float, Batch]]) -> float:
    """Compile time in ``calls``: each call's time minus a steady step on the same batch."""
    return sum(max(0.0, seconds - steady_step_seconds(setup.step, batch)) for seconds, batch in calls)

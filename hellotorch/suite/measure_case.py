"""Measure one benchmark case: the body of the suite's one test (:mod:`hellotorch.suite.benchsuite.test_steps`).

:func:`measure_case` builds the case's step through :mod:`hellotorch.training.loops`,
warms it (the first compiled call is the compile, timed on its own), hands the
steady step to pytest-benchmark, then fills ``extra_info`` with what
pytest-benchmark does not measure: compile time (warm in-process, and cold in
a fresh process where the profile asks), the paired speedup against the
eager twin, graph breaks and recompiles, FLOPs, peak memory and the parity
verdict. Every value is a plain string or number.

A case that cannot be measured raises :class:`CaseFailed` with the reason
(compile error, non-finite loss, out of memory, silent eager); one that was
measured but whose compiled arm learns something else returns a failing
parity report, its timings already stored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from hellotorch import record
from hellotorch.compilecost.states import CompileCostFailed, compile_in_fresh_process, measure_cache_states
from hellotorch.distributed.bench import DEFAULT_TIMEOUT_S, SlowestRankTimer, measure_distributed_case
from hellotorch.distributed.torchrun import LaunchFailed
from hellotorch.errors import describe, first_line
from hellotorch.measuring.case_conditions import CaseConditions
from hellotorch.measuring.flops_memory import flops_per_step, peak_memory
from hellotorch.measuring.host_load import HostMonitor
from hellotorch.measuring.paired import paired_speedup_as_planned, steady_step_seconds, time_call
from hellotorch.measuring.peaks import mfu
from hellotorch.measuring.recompile_scenarios import RecompileLimitHit, run_scenario
from hellotorch.measuring.state_aware import against_reference, timed_rounds
from hellotorch.measuring.thread_state import ThreadStateMonitor
from hellotorch.parity.losses import ParityReport, check_parity
from hellotorch.profiles.cases import BenchCase, Profile
from hellotorch.training.compiling import SilentEagerError
from hellotorch.training.devices import cpu_has_native_bf16
from hellotorch.training.loops import TrainingSetup, prepare

WARMUP_STEPS = 5


class CaseFailed(RuntimeError):
    """The case could not be measured; the message is the recorded reason."""


def build_setup(case: BenchCase) -> TrainingSetup:
    """The case's model, optimizer, batch and bound step (eager or compiled)."""
    return prepare(case.run_config(), case.finetune_config())


def _check_finite(loss: torch.Tensor, what: str) -> float:
    value = float(loss.float().item())
    if not math.isfinite(value):
        raise CaseFailed(f"non-finite loss ({value}) {what}")
    return value


def warm_up(case: BenchCase, setup: TrainingSetup) -> dict[str, Any]:
    """Run the first call (the compile, if any) and a few more; time the compile."""
    first_seconds, loss = time_call(setup.step, setup.batch)
    _check_finite(loss, "on the first step")
    if case.compiled:
        setup.step.check_captured()
    for _ in range(WARMUP_STEPS):
        setup.step(setup.batch)
    if not case.compiled:
        return {}
    steady = steady_step_seconds(setup.step, setup.batch)
    # The first call also ran one step; what is left over is compiling.
    return record.fields(
        compile_s=max(0.0, first_seconds - steady), compile_cache=setup.step.graph_stats().compile_cache
    )


def _scenario(case: BenchCase, setup: TrainingSetup) -> dict[str, Any]:
    """Run the scenario's epoch (its first call is the compile); the common batch is timed afterwards."""
    try:
        outcome = run_scenario(case.scenario, setup)
    except RecompileLimitHit as error:
        raise CaseFailed(str(error)) from error
    return record.fields(
        compile_s=outcome.compile_s,
        scenario_steps=outcome.steps,
        scenario_compile_s=outcome.added_compile_s,
        compile_cache=setup.step.graph_stats().compile_cache,
    )


def cold_compile_seconds(case: BenchCase) -> float:
    """Compile time with every cache off, in a fresh process."""
    try:
        return float(compile_in_fresh_process(case, cold=True)["compile_s"])
    except CompileCostFailed as error:
        raise CaseFailed(str(error)) from error


def flops_info(case: BenchCase, setup: TrainingSetup, *, flops: int, median: float, peaks: dict) -> dict[str, Any]:
    """MFU against the device's peak for the dtype, and the model's analytic FLOPs where it has them."""
    utilisation, note = mfu(flops_per_step=flops, seconds_per_step=median, dtype=case.dtype, peaks=peaks)
    info = record.fields(mfu=utilisation, **({"mfu_note": note} if note else {}))
    spec = setup.run.model_spec
    if spec.flops_per_sample is not None:
        estimate = spec.flops_per_sample(setup.run.resolved_model_config) * case.batch_size
        info.update(record.fields(estimated_flops_per_step=int(estimate)))
    return info


def host_speed_fields(read_speed: Callable[[], float] | None, before: float | None) -> dict[str, Any]:
    """The host's speed over the case: the reading before its timed rounds and one now, after its last timed step."""
    if read_speed is None or before is None:
        return {}
    return record.fields(host_speed_ms=(before + read_speed()) / 2)


def parity_info(report: ParityReport) -> dict[str, Any]:
    return record.fields(
        parity=report.verdict,
        parity_max_abs_diff=report.max_abs_diff,
        parity_max_rel_diff=report.max_rel_diff,
        parity_worst_step=report.worst_step,
        parity_steps=report.steps,
        parity_fp64_error_ratio=report.fp64_error_ratio,
        parity_reason=report.reason,
        parity_batchnorm_max_diff=report.batchnorm_max_diff,
    )


@dataclass(frozen=True)
class Distributed:
    """How the suite runs a distributed case: the replaying timer its benchmark reads, and the time allowed."""

    timer: SlowestRankTimer
    timeout_s: float = DEFAULT_TIMEOUT_S


def _measure_distributed(
    case: BenchCase, *, profile: Profile, benchmark: Any, distributed: Distributed
) -> ParityReport:
    try:
        report = measure_distributed_case(
            case, profile=profile, benchmark=benchmark, timer=distributed.timer, timeout_s=distributed.timeout_s
        )
    except LaunchFailed as error:
        raise CaseFailed(str(error)) from error
    benchmark.extra_info.update(parity_info(report))
    status = "ok" if report.verdict != "fail" else "parity-failed"
    benchmark.extra_info.update(record.fields(parity_against="one process", status=status))
    return report


def measure_case(
    case: BenchCase,
    *,
    profile: Profile,
    benchmark: Any,
    peaks: dict[str, float] | None = None,
    distributed: Distributed | None = None,
    compile_rows: Callable[[list[dict[str, Any]]], None] | None = None,
    progress: Callable[[str], None] | None = None,
    thread_state: ThreadStateMonitor | None = None,
    host: HostMonitor | None = None,
    host_speed: Callable[[], float] | None = None,
) -> ParityReport | None:
    """Measure ``case`` into ``benchmark.extra_info``; return its parity report, if compiled or distributed.

    ``compile_rows`` receives the per-process samples of a case that measures
    its cache states (:mod:`hellotorch.compilecost.states`); ``progress`` a line
    before each long measurement; ``thread_state`` is the bench process's
    monitor of the CPU threads' state (none: the pairs are not probed);
    ``host`` its monitor of the machine's load, which waits for the machine
    to be fit, leaves contended pairs out and records the case disturbed
    when contention never cleared (none: not probed); ``host_speed`` its
    reader of the host's speed, around the timed work (none: not read).
    """
    # The threads' state is a CPU matter; every CPU case reads it, eager too, to sharpen the fast state's level.
    state = thread_state if case.device == "cpu" else None
    speed = host_speed if case.device == "cpu" else None
    if state is not None:
        state.read()
    extra = benchmark.extra_info
    extra.update(record.fields(**case.as_dict()))
    extra.update(record.fields(profile=profile.name, threads=torch.get_num_threads(), status="failed"))
    if case.dtype == "bfloat16" and case.device == "cpu" and not cpu_has_native_bf16():
        extra.update(record.fields(note="bf16 is emulated on this CPU: its timings mean little, its parity still does"))
    if case.distributed:
        if distributed is None:
            raise CaseFailed("a distributed case needs the suite's slowest-rank timer")
        return _measure_distributed(case, profile=profile, benchmark=benchmark, distributed=distributed)
    conditions = CaseConditions(monitor=host, wait_seconds=profile.measurement.host_wait_seconds)
    try:
        setup = build_setup(case)
        extra.update(warm_up(case, setup) if case.scenario == "none" else _scenario(case, setup))
        conditions.wait_until_fit()  # after compiling: the compile's own worker processes have gone quiet
        speed_before = speed() if speed else None
        loss = timed_rounds(setup, benchmark, state=state, profile=profile, conditions=conditions)
        median = benchmark.stats.stats.median
        stats = setup.step.graph_stats()
        extra.update(
            record.fields(
                final_loss=_check_finite(loss, "during the timed rounds"),
                samples_per_s=case.batch_size / median,
                unique_graphs=stats.unique_graphs,
                graph_breaks=stats.graph_breaks,
                recompiles=stats.recompiles,
            )
        )
        if profile.measurement.reference:
            extra.update(against_reference(case, setup, profile=profile, state=state))
        memory = peak_memory(setup.step, setup.batch, model=setup.model, optimizer=setup.optimizer, device=case.device)
        extra.update(record.fields(peak_memory_bytes=memory.bytes, peak_memory_method=memory.method))
        eager = build_setup(case.eager_twin()) if case.compiled else setup
        for _ in range(WARMUP_STEPS if case.compiled else 0):
            eager.step(eager.batch)
        flops = flops_per_step(eager.step, eager.batch)
        extra.update(record.fields(flops_per_step=flops, achieved_gflops=flops / median / 1e9))
        extra.update(flops_info(case, setup, flops=flops, median=median, peaks=peaks or {}))
        if not case.compiled:
            extra.update(record.fields(speedup=1.0, status="ok"))  # eager against itself; no pairs measured
            extra.update(conditions.fields())
            extra.update(host_speed_fields(speed, speed_before))
            return None
        # The threads' state, which moved a CPU speedup by up to 25 % here (docs/methodology.md).
        region_before = state.read() if state else None
        conditions.wait_until_fit()
        paired = paired_speedup_as_planned(
            eager.step,
            eager.batch,
            setup.step,
            setup.batch,
            measurement=profile.measurement,
            state=state,
            host=host,
            host_wait_left=conditions.wait_left,
        )
        extra.update(paired.as_fields())
        conditions.after_pairs(paired)
        extra.update(conditions.fields())
        extra.update(host_speed_fields(speed, speed_before))
        region_after = state.read() if state else None
        if region_before is not None and region_after is not None:
            extra.update(
                record.fields(
                    parallel_region_us=max(region_before, region_after),
                    parallel_region_fastest_us=state.fastest_us,
                )
            )
        if case.cache_states:
            try:
                extra.update(
                    measure_cache_states(
                        case,
                        regional=profile.measurement.regional_compile,
                        on_rows=compile_rows,
                        on_progress=progress,
                    )
                )
            except CompileCostFailed as error:
                raise CaseFailed(str(error)) from error
        elif case.cold_compile:
            extra.update(record.fields(cold_compile_s=cold_compile_seconds(case)))
        # Parity last: it resets Dynamo, which would clear the counters above.
        report = check_parity(case.run_config(), steps=profile.parity_steps, finetune=case.finetune_config())
        extra.update(parity_info(report))
        extra.update(
            record.fields(parity_against="eager", status="ok" if report.verdict != "fail" else "parity-failed")
        )
        return report
    except torch.OutOfMemoryError as error:
        raise CaseFailed(f"out of memory: {first_line(error)}") from error
    except SilentEagerError as error:
        raise CaseFailed(str(error)) from error
    except CaseFailed:
        raise
    except SystemExit as error:  # the model's own code (a plug-in's forward) ended the step, not the run
        raise CaseFailed(f"the model's code called sys.exit({error.code!r})") from error
    except Exception as error:  # compile errors come from deep inside Dynamo/Inductor
        raise CaseFailed(describe(error)) from error

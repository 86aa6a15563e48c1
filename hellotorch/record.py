"""The declared schema of one benchmark case's record.

The suite writes a case's facts into pytest-benchmark's ``extra_info`` (and
the run's journal); :mod:`hellotorch.results.runs` reads them back. Both sides use
:data:`FIELDS`: the writer through :func:`fields`, which refuses a name that is
not declared, and the reader through :func:`validate_record`, which checks
every declared field's type, range and finiteness and names the file and the
field when one is wrong. A field renamed on one side only fails the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hellotorch.labels import ID_FIELDS, TASKS, case_id
from hellotorch.record_schema import CONDITION_FIELDS, THREAD_STATES, Field, RecordError

STATUSES = ("ok", "failed", "parity-failed", "interrupted")
PARITY_VERDICTS = ("pass", "fail", "nondeterministic")

_FIELDS = (
    # What the case is (labels.ID_FIELDS, plus the derived id).
    Field("id", str, "case id: task-device-model-batch-optimizer.impl-dtype-mode.scope[-strategy.wN][-scenario.NAME]"),
    Field("task", str, "train, finetune (frozen backbone, new head) or lora (adapters)", TASKS),
    Field("device", str, "cpu or cuda", ("cpu", "cuda")),
    Field("model", str, "registered model name"),
    Field("batch_size", int, "samples per step", minimum=1),
    Field("seq_len", int, "tokens per sample where the case sets one (0: the model's default)", minimum=0),
    Field("model_options", str, "the model's own settings the profile set, as sorted JSON (empty: none)"),
    Field("optimizer", str, "registered optimizer name"),
    Field("implementation", str, "forloop, foreach, fused or default"),
    Field("dtype", str, "float32, float64, or bfloat16/float16 autocast"),
    Field("mode", str, "eager or the torch.compile mode"),
    Field("scope", str, "step (whole step compiled) or model (model alone); - for eager"),
    Field("backend", str, "torch.compile backend"),
    Field("compiled", bool, "whether the case runs under torch.compile"),
    Field("cold_compile", bool, "whether the profile asked for a cold compile in a fresh process"),
    Field("scenario", str, "recompilation scenario, or none"),
    Field("scenario_steps", int, "steps of the scenario's epoch", minimum=1),
    Field("scenario_compile_s", float, "compile time the recompilations added over the epoch, s", minimum=0),
    Field("strategy", str, "data-parallel strategy (ddp, ddp-ca, fsdp2) or none for one process"),
    Field("world_size", int, "processes (ranks) torchrun started; 1 for one process", minimum=1),
    # How it was run.
    Field("profile", str, "the profile the case came from"),
    Field("threads", int, "CPU threads, fixed before compiling", minimum=1),
    Field("status", str, "ok, failed, parity-failed or interrupted", STATUSES),
    Field("failure", str, "why a case failed"),
    Field("note", str, "a caveat about the case's numbers"),
    # Timing beside pytest-benchmark's rounds.
    Field("samples_per_s", float, "batch_size / median step time", minimum=0),
    Field("final_loss", float, "the loss of the last timed round"),
    Field("compile_s", float, "compile time in this process (first call minus a steady step), s", minimum=0),
    Field("compile_cache", str, "Inductor FX-graph cache during that compile", ("hit", "miss", "mixed", "none")),
    Field("cold_compile_s", float, "compile time from an empty cache in a fresh process, s", minimum=0),
    Field("cache_states", bool, "whether the profile asked for compile times per cache state"),
    Field("cold_compile_spread_s", float, "slowest minus fastest of the cold compiles, s", minimum=0),
    Field(
        "warm_compile_s", float, "compile time with the local caches populated, median of fresh processes, s", minimum=0
    ),
    Field("warm_compile_spread_s", float, "slowest minus fastest of the warm compiles, s", minimum=0),
    Field(
        "portable_compile_s",
        float,
        "compile time after load_cache_artifacts() into empty caches (load included), median, s",
        minimum=0,
    ),
    Field("portable_compile_spread_s", float, "slowest minus fastest of the portable compiles, s", minimum=0),
    Field("portable_load_s", float, "time load_cache_artifacts() took, median, s", minimum=0),
    Field("regional_cold_compile_s", float, "each block compiled, caches off: median compile time, s", minimum=0),
    Field("regional_cold_compile_spread_s", float, "spread of the regional cold compiles, s", minimum=0),
    Field("regional_warm_compile_s", float, "each block compiled, caches populated: median, s", minimum=0),
    Field("regional_warm_compile_spread_s", float, "spread of the regional warm compiles, s", minimum=0),
    Field("regional_portable_compile_s", float, "each block compiled, from portable artifacts: median, s", minimum=0),
    Field("regional_portable_compile_spread_s", float, "spread of the regional portable compiles, s", minimum=0),
    Field("regional_step_ms", float, "steady step time with each block compiled instead, median, ms", minimum=0),
    Field(
        "speedup",
        float,
        "paired speedup: eager / compiled time, median of the interleaved pairs measured on a fit machine (typical)",
        minimum=0,
    ),
    Field("speedup_q1", float, "first quartile of the paired ratios the speedup is read from", minimum=0),
    Field("speedup_q3", float, "third quartile of the paired ratios the speedup is read from", minimum=0),
    Field("speedup_pairs", int, "interleaved eager/compiled pairs measured", minimum=1),
    Field("speedup_ci_low", float, "low end of the 95 % interval of the median paired ratio", minimum=0),
    Field("speedup_ci_high", float, "high end of the 95 % interval of the median paired ratio", minimum=0),
    Field("speedup_all_pairs", float, "median ratio over every pair, contended and slow-state ones too", minimum=0),
    Field(
        "step_per_reference",
        float,
        "step time over the fixed reference workload's (hellotorch.measuring.reference_workload), median of interleaved fast-state pairs",
        minimum=0,
    ),
    Field("step_per_reference_pairs", int, "interleaved step/reference pairs measured", minimum=1),
    Field("step_per_reference_ci_low", float, "95 % interval of step_per_reference, low end", minimum=0),
    Field("step_per_reference_ci_high", float, "95 % interval of step_per_reference, high end", minimum=0),
    Field(
        "reference_thread_state",
        str,
        "state step_per_reference was read in: fast (fast-state pairs only), slow (too few: all pairs), unprobed",
        choices=THREAD_STATES,
    ),
    Field("reference_slow_state_pairs", int, "step/reference pairs left out: measured in the slow state", minimum=0),
    Field("reference_version", int, "version of the reference workload step_per_reference is in units of", minimum=1),
    Field("speedup_steps_per_block", int, "steps per timed block of a pair", minimum=1),
    Field("paired_eager_ms", float, "median eager step time within the pairs, ms", minimum=0),
    Field("paired_compiled_ms", float, "median compiled step time within the pairs, ms", minimum=0),
    # Distributed cases: per rank, in rank order, and the spread.
    Field("compile_s_spread", float, "slowest minus fastest rank's compile time, s", minimum=0),
    Field("rank_compile_s", str, "compile time of each rank, s, in rank order"),
    Field("rank_graph_breaks", str, "graph breaks of each rank"),
    Field("rank_recompiles", str, "recompiles of each rank"),
    Field("rank_peak_memory_bytes", str, "peak memory of each rank, bytes"),
    Field("parity_against", str, "what the loss curve was compared with", ("eager", "one process")),
    # What Dynamo did.
    Field("unique_graphs", int, "graphs Dynamo captured", minimum=0),
    Field("graph_breaks", int, "Dynamo graph breaks", minimum=0),
    Field("recompiles", int, "graphs compiled after the first call", minimum=0),
    # Work and memory.
    Field("flops_per_step", int, "FLOPs of one step (torch.utils.flop_counter)", minimum=0),
    Field("achieved_gflops", float, "FLOPs per step / median step time, GFLOP/s", minimum=0),
    Field("peak_memory_bytes", int, "peak memory of a warm step, bytes", minimum=0),
    Field("peak_memory_method", str, "how peak memory was measured"),
    Field(
        "estimated_flops_per_step", int, "the model's analytic FLOPs of a step (e.g. GPT's 6N + attention)", minimum=0
    ),
    Field(
        "mfu",
        float,
        "model FLOPs utilisation: achieved FLOP/s over the device's peak for the dtype",
        minimum=0,
        nan_ok=True,
    ),
    Field("mfu_note", str, "why there is no MFU (overhead-bound, unknown peak)"),
    # Loss parity against eager.
    Field("parity", str, "pass, fail or nondeterministic", PARITY_VERDICTS),
    Field("parity_max_abs_diff", float, "largest |compiled - eager| loss difference", minimum=0, nan_ok=True),
    Field("parity_max_rel_diff", float, "that difference relative to eager's loss", minimum=0, nan_ok=True),
    Field("parity_worst_step", int, "1-based step of the largest difference", minimum=1),
    Field("parity_steps", int, "steps of the parity curve", minimum=1),
    Field("parity_fp64_error_ratio", float, "RMSE against fp64: compiled over eager", minimum=0, nan_ok=True),
    Field("parity_reason", str, "the failed parity checks, or 'all checks passed'"),
    Field(
        "parity_batchnorm_max_diff", float, "largest BatchNorm running-statistics difference", minimum=0, nan_ok=True
    ),
    # Baselines pinned from several runs.
    Field("baseline_runs", int, "runs whose per-case median this baseline holds", minimum=1),
    # What the machine was doing while the case was measured.
    *CONDITION_FIELDS,
)
FIELDS: dict[str, Field] = {field.name: field for field in _FIELDS}

#: Present in every record.
REQUIRED = (
    "id",
    *(name for name in ID_FIELDS if name not in ("scope", "backend", "strategy", "world_size", "scenario")),
    "compiled",
    "status",
)
#: Present in every record of a case that was measured.
REQUIRED_MEASURED = ("samples_per_s", "speedup")
#: Present, besides, in every measured compiled case: what the gate reads.
REQUIRED_COMPILED = ("speedup_q1", "speedup_q3", "compile_s", "parity", "graph_breaks", "recompiles")
MEASURED_STATUSES = ("ok", "parity-failed")


def fields(**values: Any) -> dict[str, Any]:
    """The writer's side: ``values`` unchanged, after refusing any undeclared name."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise KeyError(f"undeclared record field(s) {', '.join(unknown)}: declare them in hellotorch.record")
    return values


def is_measured(record: Mapping[str, Any]) -> bool:
    return record.get("status") in MEASURED_STATUSES


def validate_record(info: Any, *, where: str) -> dict[str, Any]:
    """The declared fields of ``info``, each checked; :class:`RecordError` names the culprit.

    Undeclared keys are dropped (a newer writer may add some); required ones
    must be there. A case id must match the fields it is made of.
    """
    if not isinstance(info, dict):
        raise RecordError(f"{where}: extra_info must be an object, got {type(info).__name__}")
    record = {name: FIELDS[name].check(value, where=where) for name, value in info.items() if name in FIELDS}
    required = list(REQUIRED)
    if record.get("compiled"):
        required += ["scope"]
    if is_measured(record):
        required += REQUIRED_MEASURED
        if record.get("compiled"):
            required += REQUIRED_COMPILED
    missing = [name for name in required if name not in record]
    if missing:
        case = record.get("id", "?")
        raise RecordError(f"{where}: case {case} lacks field(s) {', '.join(missing)}")
    where_case = f"{where}: case {record['id']}"
    if record["compiled"] != (record["mode"] != "eager"):
        raise RecordError(f"{where_case}: field 'compiled' is {record['compiled']} but mode is {record['mode']}")
    expected = case_id({**record, "scope": record.get("scope", "-")})
    if record["id"] != expected:
        raise RecordError(f"{where_case}: field 'id' does not match its fields (they make {expected})")
    if is_measured(record) and record["compiled"]:
        slack = 1e-9 * record["speedup"]  # float rounding in the quartile arithmetic
        if not record["speedup_q1"] - slack <= record["speedup"] <= record["speedup_q3"] + slack:
            raise RecordError(f"{where_case}: speedup {record['speedup']} lies outside its quartiles")
        if record["speedup"] <= 0:
            raise RecordError(f"{where_case}: field 'speedup' must be positive, got {record['speedup']}")
    return record

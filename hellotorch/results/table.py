"""The tidy results table: one row per case, units converted, derived columns added.

:func:`cases_frame` turns a validated :class:`~hellotorch.results.runs.Run` into a
pandas DataFrame with the columns of :data:`COLUMNS` (record fields from
:mod:`hellotorch.record`, plus what is derived here: milliseconds, the fair
"best eager" baseline, break-even steps). :func:`geomean_speedups` and
:func:`to_markdown` summarise it for people; Markdown comes from pandas'
``to_markdown``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from hellotorch.labels import case_title
from hellotorch.record import FIELDS
from hellotorch.results.machines import case_machines, host_speed_line
from hellotorch.results.runs import Run

_DERIVED = {
    "device_name": "CPU model or GPU name",
    "median_ms": "median step time over pytest-benchmark's rounds, ms",
    "iqr_ms": "interquartile range of the step time, ms",
    "speedup_vs_best_eager": "fastest eager implementation's median / this case's median (same run)",
    "best_eager": "the implementation that was the fastest eager baseline",
    "break_even_steps": "whole steps before compiling pays for itself: ceil(compile_s / (eager ms - eager ms / speedup)); inf = never",
    "peak_memory_mb": "peak memory of a warm step, MiB (see peak_memory_method)",
    "cudagraph_extra_mb": "CUDA-graph modes: peak memory beyond the default mode's on the same step, MiB",
}
_ORDER = (
    "id task device device_name model batch_size optimizer implementation dtype mode scope backend "
    "strategy world_size "
    "median_ms iqr_ms samples_per_s speedup speedup_q1 speedup_q3 speedup_ci_low speedup_ci_high speedup_quiet "
    "speedup_vs_best_eager best_eager "
    "compile_s compile_cache cold_compile_s warm_compile_s portable_compile_s regional_cold_compile_s "
    "regional_warm_compile_s regional_portable_compile_s regional_step_ms "
    "break_even_steps graph_breaks recompiles scenario scenario_compile_s peak_memory_mb cudagraph_extra_mb "
    "compile_s_spread rank_compile_s rank_graph_breaks rank_recompiles rank_peak_memory_bytes "
    "achieved_gflops mfu parity parity_against parity_max_abs_diff status failure "
    "host_state host_others_cores host_evidence host_speed_ms"
).split()
#: Column name -> what it means (docs/usage.md shows this table).
COLUMNS: dict[str, str] = {name: _DERIVED[name] if name in _DERIVED else FIELDS[name].meaning for name in _ORDER}
#: Numbers a disturbed case measured: kept in its record, never shown as a result (NaN in the table).
DISTURBED_NUMBERS = (
    "median_s iqr_s samples_per_s speedup speedup_q1 speedup_q3 speedup_ci_low speedup_ci_high speedup_quiet "
    "paired_eager_ms paired_compiled_ms achieved_gflops mfu step_per_reference"
).split()
#: What makes two rows the same step (the fair eager baseline is chosen among rows sharing these).
CASE_KEYS = ("task", "device", "model", "batch_size", "optimizer", "dtype", "strategy", "world_size")


def break_even_steps(compile_s: float, eager_ms: float, speedup: float) -> float:
    """Whole steps until compiling pays: ceil(compile time / time saved per step); inf = never.

    The time saved comes from the paired speedup (eager - eager / speedup),
    so break-even and the headline speedup never disagree on who is faster.
    """
    if any(math.isnan(value) for value in (compile_s, eager_ms, speedup)):
        return math.nan  # not measured (or disturbed): no claim either way
    if not all(math.isfinite(value) for value in (compile_s, eager_ms, speedup)) or speedup <= 0:
        return math.inf
    saved_s = eager_ms * (1 - 1 / speedup) / 1e3
    if not saved_s > 0:
        return math.inf
    return float(math.ceil(compile_s / saved_s))


def cases_frame(run: Run) -> pd.DataFrame:
    """One row per case (failed ones included), every declared column present."""
    frame = pd.DataFrame(run.records)
    for column in (*FIELDS, "median_s", "iqr_s"):
        if column not in frame:
            frame[column] = np.nan
    # A disturbed case's numbers are not results: out of every table, plot, geomean and baseline choice.
    disturbed = frame["host_state"] == "disturbed"
    frame.loc[disturbed, DISTURBED_NUMBERS] = np.nan
    # Records from before distributed cases existed ran in one process.
    frame["strategy"] = frame["strategy"].astype(object).fillna("none")
    frame["world_size"] = frame["world_size"].fillna(1).astype(int)
    frame["scenario"] = frame["scenario"].astype(object).fillna("none")
    frame["median_ms"] = frame["median_s"].astype(float) * 1e3
    frame["iqr_ms"] = frame["iqr_s"].astype(float) * 1e3
    frame["peak_memory_mb"] = frame["peak_memory_bytes"].astype(float) / 2**20
    frame["device_name"] = [
        run.machine.get("gpu", "cuda") if device == "cuda" else run.machine.get("cpu", "cpu")
        for device in frame["device"]
    ]
    # A fair baseline: the fastest eager implementation of the same step.
    eager = frame[(frame["mode"] == "eager") & frame["median_ms"].notna()]
    if len(eager):
        best = eager.loc[
            eager.groupby(list(CASE_KEYS))["median_ms"].idxmin(), [*CASE_KEYS, "median_ms", "implementation"]
        ]
        best = best.rename(columns={"median_ms": "best_eager_ms", "implementation": "best_eager"})
        frame = frame.merge(best, on=list(CASE_KEYS), how="left")
    else:
        frame["best_eager_ms"], frame["best_eager"] = np.nan, None
    frame["speedup_vs_best_eager"] = frame["best_eager_ms"] / frame["median_ms"]
    frame["cudagraph_extra_mb"] = _cudagraph_extra_mb(frame)
    frame["break_even_steps"] = [
        break_even_steps(float(c), float(e), float(s)) if m != "eager" else np.nan
        for c, e, s, m in zip(frame["compile_s"], frame["paired_eager_ms"], frame["speedup"], frame["mode"])
    ]
    known = set(frame["id"])
    failed_rows = [
        {"id": f["id"], "status": "failed", "failure": f["reason"]} for f in run.failed if f["id"] not in known
    ]
    if failed_rows:
        frame = pd.concat([frame, pd.DataFrame(failed_rows)], ignore_index=True)
    # Failed rows carry no fields: keep whole numbers whole (b64, not b64.0) where they are known.
    frame["batch_size"] = frame["batch_size"].astype("Int64")
    ordered = [column for column in COLUMNS if column in frame]
    extra = [column for column in frame.columns if column not in COLUMNS]
    return frame[ordered + extra].sort_values("id", kind="stable").reset_index(drop=True)


def _cudagraph_extra_mb(frame: pd.DataFrame) -> list[float]:
    """Peak memory a CUDA-graph mode holds beyond the default mode on the same step (its own cost)."""
    keys = [*CASE_KEYS, "scope", "backend", "implementation"]
    default = {
        tuple(row[k] for k in keys): row["peak_memory_mb"] for _, row in frame[frame["mode"] == "default"].iterrows()
    }
    extra = []
    for _, row in frame.iterrows():
        base = default.get(tuple(row[k] for k in keys)) if row["mode"] in ("reduce-overhead", "max-autotune") else None
        extra.append(row["peak_memory_mb"] - base if base is not None else np.nan)
    return extra


def disturbed_cases(frame: pd.DataFrame) -> pd.DataFrame:
    """The cases measured on a machine that never became fit: their evidence, and no numbers."""
    return frame[frame["host_state"] == "disturbed"]


def speedup_text(row: Mapping[str, Any]) -> str:
    """The headline as a reader should take it: with its interval, undecided where that spans 1, or disturbed."""
    if row.get("host_state") == "disturbed":
        evidence = str(row.get("host_evidence") or "the machine was busy").split(";")[0]
        return f"disturbed ({evidence})"
    speedup, low, high = row.get("speedup"), row.get("speedup_ci_low"), row.get("speedup_ci_high")
    if not isinstance(speedup, float) or math.isnan(speedup):
        return ""
    if not (isinstance(low, float) and isinstance(high, float)) or math.isnan(low) or math.isnan(high):
        return f"{speedup:.2f}x"
    verdict = ", undecided" if low <= 1 <= high and row.get("mode") != "eager" else ""
    return f"{speedup:.2f}x [{low:.2f}-{high:.2f}]{verdict}"


def compiled_measured(frame: pd.DataFrame) -> pd.DataFrame:
    """Compiled cases that were measured (a finite speedup; disturbed cases have none)."""
    return frame[(frame["mode"] != "eager") & frame["mode"].notna() & frame["speedup"].notna()]


def geomean_speedups(frame: pd.DataFrame) -> pd.DataFrame:
    """Geometric-mean paired speedup per device, model and optimizer.

    Every compiled case that ran counts, slowdowns included: a slowdown is
    never clipped to 1.0.
    """
    compiled = compiled_measured(frame)
    if compiled.empty:
        return pd.DataFrame(columns=["device", "model", "optimizer", "cases", "geomean_speedup"])
    grouped = compiled.groupby(["device", "model", "optimizer"])["speedup"]
    return grouped.agg(cases="count", geomean_speedup=lambda s: float(np.exp(np.log(s).mean()))).reset_index()


def _fmt(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return "never"
        return f"{value:.{digits}f}" if abs(value) >= 10**-digits or value == 0 else f"{value:.1e}"
    return "" if value is None else str(value)


SUMMARY_VIEW = {
    "case": "case",
    "median_ms": "step ms",
    "iqr_ms": "IQR ms",
    "samples_per_s": "samples/s",
    "speedup_text": "speedup, typical [95 % interval]",
    "speedup_quiet": "uncontended",
    "speedup_spread": "IQR of ratios",
    "speedup_vs_best_eager": "vs best eager",
    "compile_s": "compile s",
    "cold_compile_s": "cold compile s",
    "break_even_steps": "break-even steps",
    "graph_breaks": "breaks",
    "recompiles": "recompiles",
    "peak_memory_mb": "peak MiB",
    "achieved_gflops": "GFLOP/s",
    "mfu": "MFU",
    "parity": "parity",
    "parity_max_abs_diff": "max loss diff",
    "status": "status",
}


DISTRIBUTED_VIEW = {
    "case": "case",
    "median_ms": "slowest-rank step ms",
    "samples_per_s": "global samples/s",
    "speedup": "speedup",
    "rank_compile_s": "compile s per rank",
    "compile_s_spread": "compile spread s",
    "rank_graph_breaks": "breaks per rank",
    "rank_recompiles": "recompiles per rank",
    "peak_memory_mb": "peak MiB (largest rank)",
    "parity": "parity vs one process",
    "parity_max_abs_diff": "max loss diff",
}


def _distributed_section(ok: pd.DataFrame) -> list[str]:
    """Per-rank facts of the distributed cases, in a table of their own."""
    distributed = ok[ok["strategy"] != "none"]
    if distributed.empty:
        return []
    view = distributed.assign(case=[case_title(row) for _, row in distributed.iterrows()])
    view = view[list(DISTRIBUTED_VIEW)].rename(columns=DISTRIBUTED_VIEW)
    lines = ["", "## Distributed (torchrun): per rank, parity against one process on the global batch", ""]
    notes = sorted({note for note in distributed["note"].dropna()})
    return lines + [f"_{note}_" for note in notes] + ["", markdown(view.map(_fmt))]


def markdown(frame: pd.DataFrame, **options: Any) -> str:
    """A GitHub Markdown table of ``frame`` (pandas' ``to_markdown``)."""
    return frame.to_markdown(index=False, **options)


def to_markdown(frame: pd.DataFrame, run: Run) -> str:
    """The summary for people: machine, geomeans, then a table per task, device and model."""
    machine = run.machine
    several = sorted(set(case_machines(run).values()))
    host_speed = host_speed_line(frame["host_speed_ms"])
    lines = [
        f"# hellotorch results: {run.label}",
        "",
        f"- machines: {'; '.join(several)}"
        if several
        else f"- machine: {machine.get('cpu', '?')}, {machine.get('threads', '?')} threads; GPU {machine.get('gpu', 'none')}",
        f"- torch {machine.get('torch', '?')}, CUDA {machine.get('cuda', 'none')}, {machine.get('cxx', '?')}",
        f"- profile {run.meta.get('profile', '?')}, commit {machine.get('git_commit', '?')}",
        *([f"- {host_speed}"] if host_speed else []),
        "",
        "Speedup is eager time / compiled time from interleaved pairs in one process (>1: compile wins): "
        "typical, the median of the pairs measured while no other process took CPU, with its 95 % interval; "
        "'uncontended' is the quietest tenth of those pairs, which reads high. A case whose interval spans 1 is "
        "undecided.",
        "",
        "## Geometric-mean speedup (slowdowns included)",
        "",
    ]
    geo = geomean_speedups(frame)
    lines.append(markdown(geo, floatfmt=".2f") if not geo.empty else "(no compiled case finished)")
    disturbed = disturbed_cases(frame)
    if len(disturbed):
        lines += [
            "",
            f"**{len(disturbed)} case(s) disturbed**: other processes took CPU while they were measured; their "
            "numbers are not results and are left out of every table, plot and geomean above and below.",
            "",
        ]
        lines += [f"- `{row['id']}`: {row['host_evidence']}" for _, row in disturbed.iterrows()]
    ok = frame[frame["status"].isin(["ok", "parity-failed"])]
    # A hardware-comparison merge: each machine's cases under its own headings.
    machines = case_machines(run)
    ok = ok.assign(machine=ok["id"].map(machines).fillna("") if machines else "")
    for (machine_name, task, device, model), group in ok.groupby(["machine", "task", "device", "model"], sort=True):
        view = group.assign(
            case=[case_title(row, omit=("task", "device", "model")) for _, row in group.iterrows()],
            speedup_text=[speedup_text(row) for _, row in group.iterrows()],
            speedup_spread=[
                f"{a:.2f}-{b:.2f}" if a == a else "" for a, b in zip(group["speedup_q1"], group["speedup_q3"])
            ],
        )
        view = view[[c for c in SUMMARY_VIEW if c in view]].rename(columns=SUMMARY_VIEW)
        heading = " · ".join(filter(None, [machine_name, task, device, model]))
        lines += ["", f"## {heading}", "", markdown(view.map(_fmt))]
    lines += _distributed_section(ok)
    failed = frame[frame["status"] == "failed"]
    if len(failed):
        lines += ["", "## Failed cases", ""]
        lines += [f"- `{row['id']}`: {row['failure']}" for _, row in failed.iterrows()]
    return "\n".join(lines) + "\n"

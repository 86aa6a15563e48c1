"""The results schema: pytest-benchmark JSON in, one tidy pandas table out.

This module alone knows the raw format and converts units. :func:`load_run`
reads a run (a run folder or a JSON file; a run killed before its JSON was
written falls back to the per-case journal), :func:`cases_frame` turns it
into one row per case with the columns listed in :data:`COLUMNS`, and
:func:`geomean_speedups` / :func:`to_markdown` summarise it for people.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hellotorch.markdown import markdown_table
from hellotorch.runfiles import BENCHMARK_JSON, CURVES, read_journal

#: Column name -> what it means (README.md shows this table).
COLUMNS: dict[str, str] = {
    "id": "case id: task-device-model-batch-optimizer.impl-dtype-mode.scope",
    "task": "train (all parameters) or finetune (frozen backbone, new head)",
    "device": "cpu or cuda",
    "device_name": "CPU model or GPU name",
    "model": "registered model name",
    "batch_size": "samples per step",
    "optimizer": "registered optimizer name",
    "implementation": "forloop, foreach or fused",
    "dtype": "float32, or bfloat16/float16 autocast",
    "mode": "eager or the torch.compile mode",
    "scope": "step (whole step compiled) or model (model alone)",
    "backend": "torch.compile backend",
    "median_ms": "median step time over pytest-benchmark's rounds, ms",
    "iqr_ms": "interquartile range of the step time, ms",
    "samples_per_s": "batch_size / median step time",
    "speedup": "paired speedup: eager / compiled time, interleaved in one process (median of pairs)",
    "speedup_q1": "first quartile of the paired ratios",
    "speedup_q3": "third quartile of the paired ratios",
    "speedup_vs_best_eager": "fastest eager implementation's median / this case's median (same run)",
    "best_eager": "the implementation that was the fastest eager baseline",
    "compile_s": "compile time in this process (first call minus a steady step), s",
    "compile_cache": "Inductor FX-graph cache during that compile: hit, miss or mixed",
    "cold_compile_s": "compile time from an empty cache in a fresh process, s (where the profile asks)",
    "break_even_steps": "steps before compiling pays for itself: compile_s / (eager ms - eager ms / speedup); inf = never",
    "graph_breaks": "Dynamo graph breaks",
    "recompiles": "graphs compiled after the first call",
    "peak_memory_mb": "peak memory of a warm step, MiB (see peak_memory_method)",
    "achieved_gflops": "FLOPs per step (torch.utils.flop_counter) / median step time, GFLOP/s",
    "parity": "pass, fail or nondeterministic (compiled cases)",
    "parity_max_abs_diff": "largest |compiled - eager| loss difference over the parity steps",
    "status": "ok, failed or parity-failed",
    "failure": "why a case failed",
}
CASE_KEYS = ("task", "device", "model", "batch_size", "optimizer", "dtype")


class RunError(ValueError):
    """A run that cannot be read, with the reason."""


@dataclass(frozen=True)
class Run:
    """One benchmark run: where it came from, its machine, its per-case records."""

    path: Path
    machine: dict[str, Any]
    meta: dict[str, Any]
    records: list[dict[str, Any]]
    failed: list[dict[str, str]]

    @property
    def label(self) -> str:
        name = self.path.parent.name if self.path.name == BENCHMARK_JSON else self.path.stem
        return name.removeprefix("run-")

    @property
    def torch_version(self) -> str:
        return str(self.machine.get("torch", "unknown"))

    @property
    def folder(self) -> Path:
        return self.path if self.path.is_dir() else self.path.parent


def _record(bench: dict[str, Any]) -> dict[str, Any]:
    stats = bench.get("stats", {})
    return {**bench.get("extra_info", {}), "median_s": stats.get("median"), "iqr_s": stats.get("iqr")}


def load_run(path: str | Path) -> Run:
    """Read a run folder or a pytest-benchmark JSON file; :class:`RunError` says what is wrong."""
    path = Path(path)
    if path.is_dir():
        raw_path = path / BENCHMARK_JSON
        if not raw_path.is_file():
            journal = read_journal(path)
            if not journal:
                raise RunError(f"{path} holds neither {BENCHMARK_JSON} nor a case journal: not a run folder")
            records = [{**r["extra_info"], "median_s": r.get("median_s"), "iqr_s": r.get("iqr_s")} for r in journal]
            failed = [
                {"id": r["id"], "reason": r["extra_info"].get("failure", "")}
                for r in journal
                if "failure" in r["extra_info"]
            ]
            return Run(path, {}, {"from_journal": True}, [r for r in records if r.get("median_s")], failed)
        path = raw_path
    if not path.is_file():
        raise RunError(f"{path} does not exist")
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunError(f"{path} is not valid JSON ({error})") from error
    if not isinstance(raw, dict) or not isinstance(raw.get("benchmarks"), list):
        raise RunError(f"{path} is not a pytest-benchmark JSON (no 'benchmarks' list)")
    meta = raw.get("hellotorch", {})
    records = [_record(bench) for bench in raw["benchmarks"] if "id" in bench.get("extra_info", {})]
    if not records and not meta.get("failed"):
        raise RunError(f"{path} has no hellotorch cases")
    return Run(path, raw.get("machine_info", {}).get("hellotorch", {}), meta, records, meta.get("failed", []))


def _break_even(compile_s: float, eager_ms: float, speedup: float) -> float:
    """Steps until compiling pays: compile time / time saved per step.

    The time saved comes from the paired speedup (eager - eager / speedup),
    so break-even and the headline speedup never disagree on who is faster.
    """
    saved_s = eager_ms * (1 - 1 / speedup) / 1e3 if speedup > 0 else 0.0
    if not (compile_s == compile_s) or not saved_s > 0:  # NaN compile time, or compiled is not faster
        return math.inf
    return compile_s / saved_s


def cases_frame(run: Run) -> pd.DataFrame:
    """One row per case (failed ones included), units converted, derived columns added."""
    frame = pd.DataFrame(run.records)
    if frame.empty:
        frame = pd.DataFrame(columns=["id", *CASE_KEYS, "mode", "status"])
    for column in (
        "cold_compile_s",
        "compile_s",
        "compile_cache",
        "parity",
        "parity_max_abs_diff",
        "failure",
        "paired_eager_ms",
        "paired_compiled_ms",
        "speedup_q1",
        "speedup_q3",
        "graph_breaks",
        "recompiles",
        "peak_memory_bytes",
        "achieved_gflops",
        "speedup",
    ):
        if column not in frame:
            frame[column] = np.nan
    frame["median_ms"] = frame["median_s"].astype(float) * 1e3
    frame["iqr_ms"] = frame["iqr_s"].astype(float) * 1e3
    frame["peak_memory_mb"] = frame["peak_memory_bytes"].astype(float) / 2**20
    frame["device_name"] = [
        run.machine.get("gpu", "cuda") if device == "cuda" else run.machine.get("cpu", "cpu")
        for device in frame["device"]
    ]
    # A fair baseline: the fastest eager implementation of the same step.
    eager = frame[frame["mode"] == "eager"]
    key = [*CASE_KEYS]
    best = (
        eager.loc[eager.groupby(key)["median_ms"].idxmin(), [*key, "median_ms", "implementation"]]
        if len(eager)
        else None
    )
    if best is not None:
        best = best.rename(columns={"median_ms": "best_eager_ms", "implementation": "best_eager"})
        frame = frame.merge(best, on=key, how="left")
    else:
        frame["best_eager_ms"], frame["best_eager"] = np.nan, None
    frame["speedup_vs_best_eager"] = frame["best_eager_ms"] / frame["median_ms"]
    frame["break_even_steps"] = [
        _break_even(c, e, s) if m != "eager" else np.nan
        for c, e, s, m in zip(frame["compile_s"], frame["paired_eager_ms"], frame["speedup"], frame["mode"])
    ]
    failed_rows = [
        {"id": f["id"], "status": "failed", "failure": f.get("reason", "")}
        for f in run.failed
        if f["id"] not in set(frame["id"])
    ]
    if failed_rows:
        frame = pd.concat([frame, pd.DataFrame(failed_rows)], ignore_index=True)
    ordered = [column for column in COLUMNS if column in frame]
    extra = [column for column in frame.columns if column not in COLUMNS]
    return frame[ordered + extra].sort_values("id", kind="stable").reset_index(drop=True)


def geomean_speedups(frame: pd.DataFrame) -> pd.DataFrame:
    """Geometric-mean paired speedup per device, model and optimizer.

    Every compiled case that ran counts, slowdowns included: a slowdown is
    never clipped to 1.0.
    """
    compiled = frame[(frame["mode"] != "eager") & frame["speedup"].notna()]
    if compiled.empty:
        return pd.DataFrame(columns=["device", "model", "optimizer", "cases", "geomean_speedup"])
    grouped = compiled.groupby(["device", "model", "optimizer"])["speedup"]
    return grouped.agg(cases="count", geomean_speedup=lambda s: float(np.exp(np.log(s).mean()))).reset_index()


def read_curves(run: Run) -> pd.DataFrame:
    path = run.folder / CURVES
    if not path.is_file():
        return pd.DataFrame(columns=["case", "task", "step", "eager_loss", "compiled_loss"])
    return pd.read_csv(path)


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
    "speedup": "speedup",
    "speedup_spread": "IQR of ratios",
    "speedup_vs_best_eager": "vs best eager",
    "compile_s": "compile s",
    "cold_compile_s": "cold compile s",
    "break_even_steps": "break-even steps",
    "graph_breaks": "breaks",
    "recompiles": "recompiles",
    "peak_memory_mb": "peak MiB",
    "achieved_gflops": "GFLOP/s",
    "parity": "parity",
    "parity_max_abs_diff": "max loss diff",
    "status": "status",
}


def _short_case(row: pd.Series) -> str:
    how = row["implementation"] if row["mode"] == "eager" else f"{row['mode']}/{row['scope']}"
    if row["mode"] != "eager" and row.get("backend", "inductor") != "inductor":
        how += f" ({row['backend']})"
    return f"b{row['batch_size']} {row['optimizer']} {row['dtype']} {'eager ' if row['mode'] == 'eager' else ''}{how}"


def to_markdown(frame: pd.DataFrame, run: Run) -> str:
    """The summary for people: machine, geomeans, then a table per task, device and model."""
    machine = run.machine
    lines = [
        f"# hellotorch results: {run.label}",
        "",
        f"- machine: {machine.get('cpu', '?')}, {machine.get('threads', '?')} threads; GPU {machine.get('gpu', 'none')}",
        f"- torch {machine.get('torch', '?')}, CUDA {machine.get('cuda', 'none')}, {machine.get('cxx', '?')}",
        f"- profile {run.meta.get('profile', '?')}, commit {machine.get('git_commit', '?')}",
        "",
        "Speedup is eager time / compiled time from interleaved pairs in one process (>1: compile wins).",
        "",
        "## Geometric-mean speedup (slowdowns included)",
        "",
    ]
    geo = geomean_speedups(frame)
    lines.append(markdown_table(geo, floatfmt=".2f") if not geo.empty else "(no compiled case finished)")
    ok = frame[frame["status"] != "failed"]
    for (task, device, model), group in ok.groupby(["task", "device", "model"], sort=True):
        view = group.assign(
            case=group.apply(_short_case, axis=1),
            speedup_spread=[
                f"{a:.2f}-{b:.2f}" if a == a else "" for a, b in zip(group["speedup_q1"], group["speedup_q3"])
            ],
        )
        view = view[[c for c in SUMMARY_VIEW if c in view]].rename(columns=SUMMARY_VIEW)
        lines += ["", f"## {task} · {device} · {model}", "", markdown_table(view.map(_fmt))]
    failed = frame[frame["status"] == "failed"]
    if len(failed):
        lines += ["", "## Failed cases", ""]
        lines += [f"- `{row['id']}`: {row['failure']}" for _, row in failed.iterrows()]
    return "\n".join(lines) + "\n"

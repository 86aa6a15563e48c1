"""Tables of what compiling cost: per cache state (with break-even steps) and per recompilation scenario.

:func:`cache_state_frame` summarises a run's ``compile_costs.jsonl`` (one row
per fresh process, :data:`hellotorch.runfiles.COST_FIELDS`): per case,
variant (whole step or regional) and state, the median compile time, its
spread, the median of each phase, and the break-even steps against the
case's eager step. :func:`phase_frame` is what the stacked-bar plot draws.
:func:`markdown_sections` adds both, and the scenario table, to the summary.
"""

from __future__ import annotations

import math

import pandas as pd

from hellotorch.labels import case_title
from hellotorch.results.table import break_even_steps, markdown
from hellotorch.runfiles import PHASES, STATES, VARIANTS

#: Columns the per-state summary derives from the samples (beside COST_FIELDS).
DERIVED = ("spread_s", "processes", "steady_ms", "break_even_steps")
PHASE_LABELS = {
    "dynamo": "Dynamo tracing",
    "aot_autograd": "AOTAutograd (and cache loads)",
    "inductor_lowering": "Inductor lowering",
    "codegen_and_compile": "code generation, C++/Triton compile",
}


def _samples(rows: list[dict]) -> pd.DataFrame:
    samples = pd.DataFrame(rows)
    samples["state"] = pd.Categorical(samples["state"], STATES, ordered=True)
    samples["variant"] = pd.Categorical(samples["variant"], VARIANTS, ordered=True)
    return samples


def cache_state_frame(rows: list[dict], cases: pd.DataFrame) -> pd.DataFrame:
    """One row per case, variant and state: median and spread of the processes, and break-even steps."""
    if not rows:
        return pd.DataFrame()
    samples = _samples(rows)
    grouped = samples.groupby(["id", "variant", "state"], observed=True)
    summary = grouped["compile_s"].agg(compile_s="median", spread_s=lambda s: s.max() - s.min(), processes="count")
    summary["steady_ms"] = grouped["steady_s"].median() * 1e3
    summary["load_s"] = grouped["load_s"].median()
    summary = summary.reset_index()
    measured = cases.set_index("id")
    even = []
    for _, row in summary.iterrows():
        case = measured.loc[row["id"]] if row["id"] in measured.index else None
        eager_ms = float(case["paired_eager_ms"]) if case is not None else math.nan
        # The regional variant's own step time decides what it saves per step.
        speedup = eager_ms / row["steady_ms"] if row["variant"] == "regional" else _value(case, "speedup")
        even.append(break_even_steps(row["compile_s"], eager_ms, speedup))
    summary["break_even_steps"] = even
    return summary


def _value(case, name: str) -> float:
    return float(case[name]) if case is not None else math.nan


def phase_frame(rows: list[dict]) -> pd.DataFrame:
    """Median seconds per phase, per case, variant and state."""
    if not rows:
        return pd.DataFrame()
    samples = _samples(rows)
    columns = [f"phase_{phase}_s" for phase in PHASES]
    return samples.groupby(["id", "variant", "state"], observed=True)[columns].median().reset_index()


def _fmt(value: float, digits: int = 1) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "never"
    return "" if value != value else f"{value:.{digits}f}"


def _cache_state_markdown(summary: pd.DataFrame, phases: pd.DataFrame, titles: dict[str, str]) -> list[str]:
    merged = summary.merge(phases, on=["id", "variant", "state"])
    view = pd.DataFrame(
        {
            "case": merged["id"].map(lambda case: titles.get(case, case)),
            "variant": merged["variant"].astype(str),
            "state": merged["state"].astype(str),
            "compile s (median)": merged["compile_s"].map(_fmt),
            "spread s": merged["spread_s"].map(lambda v: _fmt(v, 2)),
            "processes": merged["processes"],
            **{PHASE_LABELS[p]: merged[f"phase_{p}_s"].map(_fmt) for p in PHASES},
            "step ms": merged["steady_ms"].map(lambda v: _fmt(v, 2)),
            "break-even steps": merged["break_even_steps"].map(lambda v: _fmt(v, 0)),
        }
    )
    return [
        "",
        "## Compile time by cache state (fresh processes)",
        "",
        "cold: every cache off; warm: local caches filled by an earlier process; portable: "
        "`load_cache_artifacts()` into empty caches (load included); regional: each repeated block compiled. "
        "Phases from PyTorch's compile metrics (medians).",
        "",
        markdown(view),
    ]


def markdown_sections(frame: pd.DataFrame, rows: list[dict]) -> list[str]:
    """The compile-cost and recompilation-scenario sections of the summary."""
    lines: list[str] = []
    summary = cache_state_frame(rows, frame)
    if not summary.empty:
        titles = {row["id"]: case_title(row, omit=("device",)) for _, row in frame.iterrows()}
        lines += _cache_state_markdown(summary, phase_frame(rows), titles)
    # A failed case is known by its id alone.
    scenarios = frame[(frame["scenario"].fillna("none") != "none") | frame["id"].str.contains("-scenario.")]
    if len(scenarios):
        view = pd.DataFrame(
            {
                "case": [
                    row["id"] if row["status"] == "failed" else case_title(row, omit=("task", "device"))
                    for _, row in scenarios.iterrows()
                ],
                "recompiles": scenarios["recompiles"],
                "compile s (first)": scenarios["compile_s"].map(_fmt),
                "added by recompiles s": scenarios["scenario_compile_s"].map(_fmt),
                "steady step ms": scenarios["median_ms"].map(lambda v: _fmt(v, 2)),
                "status": scenarios["status"],
                "reason": scenarios["failure"].fillna(""),
            }
        )
        lines += ["", "## Recompilation scenarios", "", markdown(view)]
    return lines

"""``hellotorch report RUN --html``: the run as one offline page, the verdict first.

Sections, each linked from the top: the verdict (what pays off, what does
not, what is undecided, what failed or was disturbed, each linking to its
case), the geomeans, the summary table per model (sortable), the plots, every
case's details (step times, speedup with its interval, compile cost per
cache state, break-even, graph breaks, parity with its loss curve) and the
machine's facts. Built with :class:`hellotorch.results.html.Page` from the
same frame as ``summary.md``, so the two never disagree.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hellotorch.labels import case_title
from hellotorch.results import plots
from hellotorch.results.compile_tables import cache_state_frame
from hellotorch.results.html import Page, anchor, bullet_list, escape, figure_svg, link, table_html
from hellotorch.results.machines import case_machines
from hellotorch.results.report import PLOTS
from hellotorch.results.runs import Run, read_curves
from hellotorch.results.table import SUMMARY_VIEW, _fmt, cases_frame, geomean_speedups, speedup_text
from hellotorch.runfiles import read_compile_costs

#: what a case's details list, in this order (column, label).
DETAILS = (
    ("median_ms", "step, median ms"),
    ("iqr_ms", "step, IQR ms"),
    ("paired_eager_ms", "eager step in the pairs, ms"),
    ("paired_compiled_ms", "compiled step in the pairs, ms"),
    ("speedup_quiet", "uncontended speedup (quietest tenth)"),
    ("compile_s", "compile, s"),
    ("cold_compile_s", "cold compile, s"),
    ("break_even_steps", "break-even, steps"),
    ("graph_breaks", "graph breaks"),
    ("recompiles", "recompiles"),
    ("peak_memory_mb", "peak memory, MiB"),
    ("parity", "loss parity"),
    ("parity_max_abs_diff", "max loss difference"),
    ("host_state", "machine during the case"),
    ("host_evidence", "evidence"),
)


def verdicts(frame: pd.DataFrame) -> dict[str, list[pd.Series]]:
    """Compiled cases sorted by what a reader should take from them."""
    groups: dict[str, list[pd.Series]] = {"pays off": [], "does not pay off": [], "undecided": []}
    groups.update({"failed": [], "disturbed": []})
    for _, row in frame.iterrows():
        if row["status"] == "failed":
            groups["failed"].append(row)
        elif row.get("host_state") == "disturbed":
            groups["disturbed"].append(row)
        elif row.get("mode") == "eager" or pd.isna(row.get("speedup")):
            continue
        else:
            low, high = row.get("speedup_ci_low"), row.get("speedup_ci_high")
            known = not (pd.isna(low) or pd.isna(high))
            if known and low > 1 or not known and row["speedup"] > 1:
                groups["pays off"].append(row)
            elif known and high < 1 or not known and row["speedup"] < 1:
                groups["does not pay off"].append(row)
            else:
                groups["undecided"].append(row)
    return groups


def _verdict_section(frame: pd.DataFrame) -> str:
    style = {"pays off": "good", "does not pay off": "bad", "undecided": "plain", "failed": "bad"}
    boxes = []
    for name, rows in verdicts(frame).items():
        items = []
        for row in rows:
            why = str(row.get("failure") or "failed") if name == "failed" else speedup_text(row)
            items.append(f"{link('case-' + anchor(row['id']), _title(row))}: {escape(why)}")
        body = bullet_list(items) or '<p class="muted">none</p>'
        boxes.append(f'<div class="box {style.get(name, "warn")}"><h3>{escape(name)} ({len(rows)})</h3>{body}</div>')
    return f'<div class="verdict">{"".join(boxes)}</div>'


def _title(row: pd.Series) -> str:
    return case_title(row) if not pd.isna(row.get("model")) else str(row["id"])


def _summary_section(frame: pd.DataFrame, machines: dict[str, str]) -> str:
    ok = frame[frame["status"].isin(["ok", "parity-failed"])]
    parts = []
    keys = ["model"] if not machines else ["machine", "model"]
    ok = ok.assign(machine=ok["id"].map(machines).fillna("")) if machines else ok
    for key, group in ok.groupby(keys, sort=True):
        view = group.assign(
            case=[f"{case_title(row, omit=('model',))}" for _, row in group.iterrows()],
            speedup_text=[speedup_text(row) for _, row in group.iterrows()],
            speedup_spread=[
                f"{a:.2f}-{b:.2f}" if a == a else "" for a, b in zip(group["speedup_q1"], group["speedup_q3"])
            ],
        )
        view = view[[c for c in SUMMARY_VIEW if c in view]].rename(columns=SUMMARY_VIEW).map(_fmt)
        heading = " · ".join(str(part) for part in (key if isinstance(key, tuple) else (key,)))
        parts.append(f"<h3>{escape(heading)}</h3>{table_html(view)}")
    return "".join(parts) or '<p class="muted">no case finished</p>'


def _case_details(row: pd.Series, costs: pd.DataFrame, curves: pd.DataFrame) -> str:
    facts = [("speedup, typical [95 % interval]", speedup_text(row))]
    facts += [(label, _fmt(row.get(column))) for column, label in DETAILS if _fmt(row.get(column)) not in ("", "nan")]
    rows = "".join(f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>" for label, value in facts)
    body = f"<table>{rows}</table>"
    if row["status"] == "failed":
        body += f"<p><b>failed:</b> {escape(row.get('failure'))}</p>"
    mine = costs[costs["id"] == row["id"]] if not costs.empty else costs
    if len(mine):
        shown = mine.drop(columns=[c for c in ("id",) if c in mine])
        body += "<h4>Compile cost per cache state</h4>" + table_html(shown, sortable=False)
    curve = curves[curves["case"] == row["id"]] if not curves.empty else curves
    if len(curve):
        fig, _ = plots.loss_curves(curve)
        fig.set_size_inches(5.5, 3.6)
        body += f"<h4>Loss parity</h4>{figure_svg(fig)}"
    open_attr = " open" if row["status"] == "failed" or row.get("host_state") == "disturbed" else ""
    return (
        f'<details id="case-{anchor(row["id"])}"{open_attr}><summary>{escape(_title(row))} '
        f'<span class="muted">{escape(speedup_text(row) or row["status"])}</span></summary>{body}'
        f"<p>{link('summary', 'back to the summary')}</p></details>"
    )


def run_page(run: Run) -> Page:
    """The whole report of ``run`` as a page."""
    frame = cases_frame(run)
    curves = read_curves(run)
    costs_rows = read_compile_costs(run.folder)
    costs = cache_state_frame(costs_rows, frame) if costs_rows else pd.DataFrame()
    machine = run.machine
    page = Page(
        f"hellotorch: {run.label}",
        f"profile {run.meta.get('profile', '?')} · torch {machine.get('torch', '?')} · "
        f"{machine.get('cpu', '?')} · GPU {machine.get('gpu', 'none')} · commit {machine.get('git_commit', '?')}",
    )
    page.add("verdict", "Verdict", _verdict_section(frame))
    geo = geomean_speedups(frame)
    page.add(
        "geomeans", "Geometric-mean speedup", table_html(geo) if not geo.empty else "<p>no compiled case finished</p>"
    )
    intro = (
        "<p>Speedup is eager time / compiled time from interleaved pairs in one process (&gt;1: compile wins): "
        "typical, with its 95 % interval; 'uncontended' is the quietest tenth of the pairs, which reads high. "
        "Click a column to sort.</p>"
    )
    page.add("summary", "Summary by model", intro + _summary_section(frame, case_machines(run)))
    figures = []
    for name, make in PLOTS.items():
        fig, _ = make(frame, curves)
        if plots.is_empty(fig):
            plots.plt.close(fig)
            continue
        figures.append(f'<figure id="plot-{anchor(name)}">{figure_svg(fig)}</figure>')
    page.add("plots", "Plots", "".join(figures) or '<p class="muted">nothing to plot</p>')
    details = [_case_details(row, costs, curves) for _, row in frame.iterrows()]
    page.add("cases", "Every case", "".join(details))
    facts = pd.DataFrame(
        [{"fact": key, "value": str(value)} for key, value in sorted(machine.items())]
        + [
            {"fact": f"run.{key}", "value": str(run.meta.get(key))}
            for key in ("profile", "cases_planned", "cases_finished", "run_id")
        ]
    )
    page.add("machine", "Machine and run", table_html(facts, sortable=False))
    return page


def write_run_html(run: Run, out_dir: str | Path) -> Path:
    """``report.html`` in ``out_dir``."""
    return run_page(run).write(Path(out_dir) / "report.html")

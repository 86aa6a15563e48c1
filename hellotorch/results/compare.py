"""``hellotorch compare RUN_A RUN_B ...``: machines or PyTorch versions side by side.

Cases are matched by id. For each case the table gives every run's median
step time and paired speedup, and each later run's step time relative to the
first. Runs with no case in common are refused; differing PyTorch versions,
thread counts or CPUs/GPUs are named, since they are usually the point, and
so is a host that ran more than 10 % slower (a fixed Python loop each CPU case
times, :mod:`hellotorch.results.machines`), which no machine fact shows.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hellotorch.files import check_output_dir, write_atomic, write_text_atomic
from hellotorch.results import plots
from hellotorch.results.html import Page, bullet_list, escape, figure_svg, table_html
from hellotorch.results.machines import host_speed_difference
from hellotorch.results.report import save_figure
from hellotorch.results.runs import Run, RunError
from hellotorch.results.table import cases_frame, markdown

MACHINE_FACTS = ("torch", "cuda", "gpu", "gpu_driver", "cpu", "threads", "huge_pages", "allocator", "cxx")


def compare_table(runs: list[Run]) -> tuple[pd.DataFrame, list[str]]:
    """One row per case present in every run; columns per run. Returns (table, run labels)."""
    if len(runs) < 2:
        raise RunError("compare needs at least two runs")
    labels = []
    for run in runs:
        label = run.label
        while label in labels:
            label += "'"
        labels.append(label)
    frames = []
    for run, label in zip(runs, labels):
        frame = cases_frame(run)
        frame = frame[frame["status"].isin(["ok", "parity-failed"])].set_index("id")
        frames.append(frame[["median_ms", "speedup"]].add_suffix(f"[{label}]"))
    table = pd.concat(frames, axis=1, join="inner")
    if table.empty:
        raise RunError(f"the runs have no case in common ({', '.join(labels)})")
    first = labels[0]
    for label in labels[1:]:
        table[f"time_vs_first[{label}]"] = table[f"median_ms[{label}]"] / table[f"median_ms[{first}]"]
    # Repeatability across runs of the same code: the spread of each case's paired speedup.
    speedups = table[[f"speedup[{label}]" for label in labels]]
    table["speedup_cv"] = speedups.std(axis=1, ddof=1) / speedups.mean(axis=1)
    return table.reset_index().rename(columns={"id": "case"}), labels


def machine_differences(runs: list[Run], labels: list[str]) -> list[str]:
    """Lines naming each machine fact that differs between the runs."""
    lines = []
    for fact in MACHINE_FACTS:
        values = [str(run.machine.get(fact, "?")) for run in runs]
        if len(set(values)) > 1:
            lines.append(f"{fact} differs: " + "; ".join(f"{label}: {value}" for label, value in zip(labels, values)))
    # The same machine on a slower host: a tenant outside the VM, which its load checks do not see.
    host = host_speed_difference([cases_frame(run)["host_speed_ms"] for run in runs], labels)
    return [*lines, host] if host else lines


def to_markdown(table: pd.DataFrame, labels: list[str], differences: list[str]) -> str:
    lines = [f"# hellotorch compare: {' vs '.join(labels)}", ""]
    lines += [f"- **{line}**" for line in differences] or ["- the runs name the same machine and PyTorch"]
    lines += [
        "",
        "time_vs_first < 1: faster than the first run. Speedup: eager / compiled, interleaved pairs.",
        "speedup_cv: coefficient of variation of the speedup across the runs (eager cases: 0 by definition).",
        "",
    ]
    compiled = table[table["speedup_cv"] > 0]
    if len(compiled):
        lines += [f"Median speedup_cv over compiled cases: {compiled['speedup_cv'].median():.1%}", ""]
    lines.append(markdown(table, floatfmt=".3f"))
    return "\n".join(lines) + "\n"


def write_comparison(
    runs: list[Run], *, out_dir: str | Path | None = None, html: bool = False
) -> tuple[str, list[Path]]:
    """Compare ``runs`` and write compare.md, compare.csv and compare.png (and compare.html); the Markdown and files."""
    out = check_output_dir(out_dir or runs[0].folder, option="--output")
    table, labels = compare_table(runs)
    text = to_markdown(table, labels, machine_differences(runs, labels))
    fig, _ = plots.compare_runs(table, labels)
    written = [
        write_text_atomic(out / "compare.md", text),
        write_atomic(out / "compare.csv", lambda temp: table.to_csv(temp, index=False)),
        save_figure(fig, out / "compare.png"),
    ]
    if html:
        differences = machine_differences(runs, labels)
        written.append(
            compare_page(table, labels, differences, plots.compare_runs(table, labels)[0]).write(out / "compare.html")
        )
    return text, written


def compare_page(table: pd.DataFrame, labels: list[str], differences: list[str], figure) -> Page:
    """``compare --html``: what differs between the runs, the speedups side by side, the table."""
    page = Page(f"hellotorch compare: {' vs '.join(labels)}", f"{len(labels)} runs, {len(table)} cases in common")
    compiled = table[table["speedup_cv"] > 0]
    verdict = [f"the runs differ in: {line}" for line in differences] or ["the runs name the same machine and PyTorch"]
    if len(compiled):
        verdict.append(f"median speedup CV over the compiled cases: {compiled['speedup_cv'].median():.1%}")
    page.add("verdict", "What differs", bullet_list([escape(line) for line in verdict]))
    page.add("plot", "Speedup per case", figure_svg(figure))
    page.add("table", "Every case", table_html(table))
    return page

"""The fleet view: each case's speedup and step time per machine, side by side, with a geomean per machine.

This is the hardware comparison the project exists for. A *machine* is the
facts that change a measurement: the CPU, the GPU, the thread count and the
torch version (two thread counts on one CPU are two machines here, and said
to be). Its rows come from run folders (``hellotorch compare --machines
RUN...``; a hardware-comparison merge, ``merge --machines-differ``, is split
back into its machines by the shard list it keeps) or from the history
(``hellotorch history --machines``: each machine's newest run, made in
:mod:`hellotorch.history.fleet`). Several runs of one machine give each case
their median.

A disturbed case has no number here, as everywhere (its cell is empty and
its count said). The geomean per machine is over the compiled cases every
machine measured, so machines are compared on the same cases.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hellotorch.files import check_output_dir, write_atomic, write_text_atomic
from hellotorch.results.machines import FLEET_FACTS, machine_label, run_machines
from hellotorch.results.runs import Run, RunError
from hellotorch.results.table import cases_frame, markdown

#: the columns the rows of a fleet carry.
ROW_COLUMNS = ("machine", "case", "mode", "speedup", "median_ms", "disturbed", "parity_failed")


def _frame_rows(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    measured = frame[frame["status"].isin(["ok", "parity-failed"])]
    return pd.DataFrame(
        {
            "machine": label,
            "case": measured["id"],
            "mode": measured["mode"],
            "speedup": measured["speedup"].astype(float),
            "median_ms": measured["median_ms"].astype(float),
            "disturbed": measured["host_state"].eq("disturbed"),
            "parity_failed": measured["status"].eq("parity-failed"),
        }
    )


def rows_from_runs(runs: list[Run]) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Every measured case of ``runs`` with its machine's label, and each label's facts."""
    parts, facts = [], {}
    for run in runs:
        frame = cases_frame(run)
        for machine, cases in run_machines(run):
            label = machine_label(machine)
            facts.setdefault(label, {fact: machine.get(fact) for fact in FLEET_FACTS})
            parts.append(_frame_rows(frame if cases is None else frame[frame["id"].isin(cases)], label))
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=ROW_COLUMNS)
    return rows, facts


def fleet_table(rows: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """One row per case, ``speedup[<machine>]`` and ``median_ms[<machine>]`` per machine (medians over its runs)."""
    # An eager case's speedup is 1 by definition: no number, rather than a column of ones.
    numbers = rows.assign(speedup=rows["speedup"].where(~rows["disturbed"] & (rows["mode"] != "eager")))
    numbers = numbers.assign(median_ms=numbers["median_ms"].where(~numbers["disturbed"]))
    per_case = numbers.groupby(["case", "machine"], sort=True)[["speedup", "median_ms"]].median()
    wide = per_case.unstack("machine")
    table = pd.DataFrame({"case": wide.index})
    modes = rows.drop_duplicates("case").set_index("case")["mode"]
    table["mode"] = table["case"].map(modes)
    for label in labels:
        for metric in ("speedup", "median_ms"):
            column = (metric, label)
            table[f"{metric}[{label}]"] = wide[column].to_numpy() if column in wide else np.nan
    return table


def geomeans(table: pd.DataFrame, labels: list[str]) -> tuple[dict[str, float], int]:
    """Each machine's geomean speedup over the compiled cases every machine measured, and how many there were."""
    compiled = table[table["mode"] != "eager"]
    columns = [f"speedup[{label}]" for label in labels]
    common = compiled.dropna(subset=columns)
    means = {
        label: float(np.exp(np.log(common[f"speedup[{label}]"]).mean())) if len(common) else math.nan
        for label in labels
    }
    return means, len(common)


def differing_facts(facts: dict[str, dict[str, Any]]) -> list[str]:
    """A line per fact that differs between the machines, naming each machine's value."""
    lines = []
    for fact in FLEET_FACTS:
        values = {label: str(machine.get(fact)) for label, machine in facts.items()}
        if len(set(values.values())) > 1:
            lines.append(f"{fact}: " + "; ".join(f"{label} {value}" for label, value in values.items()))
    return lines


def machine_letter(index: int) -> str:
    """A, B, ..., Z, then M27, M28: the short name of a machine in a wide table."""
    return chr(ord("A") + index) if index < 26 else f"M{index + 1}"


def fleet_markdown(table: pd.DataFrame, facts: dict[str, dict[str, Any]], rows: pd.DataFrame, *, source: str) -> str:
    labels = list(facts)
    means, common = geomeans(table, labels)
    # Short names in the wide table; the legend says which machine each one is.
    short = {label: machine_letter(index) for index, label in enumerate(labels)}
    lines = [f"# hellotorch fleet: {len(labels)} machines ({source})", "", "What differs between them:", ""]
    named = {short[label]: machine for label, machine in facts.items()}
    lines += [f"- {line}" for line in differing_facts(named)] or ["- nothing recorded: the same facts on each"]
    lines += ["", f"Geomean speedup over the {common} compiled cases every machine measured:", ""]
    legend = {"": [short[label] for label in labels], "machine": labels}
    lines += [markdown(pd.DataFrame({**legend, "geomean speedup": [means[label] for label in labels]}), floatfmt=".3f")]
    disturbed = rows[rows["disturbed"]]
    if len(disturbed):
        lines += ["", f"Disturbed, so left out (no number): {len(disturbed)} case(s): "]
        lines[-1] += ", ".join(f"{row.case} on {short[row.machine]}" for row in disturbed.itertuples())
    broken = rows[rows["parity_failed"]]
    if len(broken):
        lines += [
            "",
            f"Parity failed (timed, but the compiled loss curve did not match eager's): {len(broken)} case(s): ",
        ]
        lines[-1] += ", ".join(f"{row.case} on {short[row.machine]}" for row in broken.itertuples())
    lines += ["", "x: eager / compiled, interleaved pairs (compiled cases); ms: the step's median; per machine.", ""]

    def renamed(column: str) -> str:
        metric, _, label = column.partition("[")
        return f"{'ms' if metric == 'median_ms' else 'x'} {short[label.rstrip(']')]}" if label else column

    cells = table.map(lambda value: "" if isinstance(value, float) and math.isnan(value) else value)
    lines.append(markdown(cells.rename(columns=renamed), floatfmt=".3f"))
    return "\n".join(lines) + "\n"


def fleet_plot(table: pd.DataFrame, labels: list[str]):
    """Speedup and compiled step time per compiled case, a bar per machine."""
    from hellotorch.results import plots

    compiled = table[table["mode"] != "eager"].reset_index(drop=True)
    if compiled.empty:
        return plots._empty("Fleet", "no compiled case measured")
    plt = plots.plt
    y = np.arange(len(compiled))
    height = 0.8 / len(labels)
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.45 * len(compiled) * max(1, len(labels) / 2) + 2.2), sharey=True)
    for index, label in enumerate(labels):
        offset = y + (index - (len(labels) - 1) / 2) * height
        axes[0].barh(offset, compiled[f"speedup[{label}]"], height=height, label=label)
        axes[1].barh(offset, compiled[f"median_ms[{label}]"], height=height, label=label)
    axes[0].axvline(1.0, color="black", linestyle="--", linewidth=1, label="no speedup")
    axes[0].set_yticks(y, compiled["case"], fontsize=8)
    axes[0].set_xlabel("speedup (eager / compiled, x)")
    axes[0].set_title("Speedup per machine")
    plots._plain_log_x(axes[1])
    axes[1].set_xlabel("compiled step, ms (log)")
    axes[1].set_title("Step time per machine")
    # Below the panels: a legend inside would cover a bar.
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(3, len(names)), fontsize=8)
    fig.tight_layout(rect=(0, 0.04 + 0.02 * math.ceil(len(names) / 3), 1, 1))
    return fig, axes


def fleet_report(rows: pd.DataFrame, facts: dict[str, dict[str, Any]], *, source: str) -> tuple[str, pd.DataFrame]:
    """The fleet's Markdown and its table; refused when the rows hold fewer than two machines."""
    labels = list(facts)
    if len(labels) < 2:
        raise RunError(f"a fleet needs two machines or more; {source} holds one ({labels[0] if labels else 'none'})")
    table = fleet_table(rows, labels)
    return fleet_markdown(table, facts, rows, source=source), table


def write_fleet(
    rows: pd.DataFrame, facts: dict[str, dict[str, Any]], out_dir: str | Path, *, source: str, html: bool = False
) -> tuple[str, list[Path]]:
    """fleet.md, fleet.csv and fleet.png (and fleet.html) in ``out_dir`` (checked before anything is drawn)."""
    from hellotorch.results.plots import is_empty
    from hellotorch.results.report import save_figure

    out = check_output_dir(out_dir, option="--output")
    text, table = fleet_report(rows, facts, source=source)
    written = [
        write_text_atomic(out / "fleet.md", text),
        write_atomic(out / "fleet.csv", lambda temp: table.to_csv(temp, index=False)),
    ]
    fig, _ = fleet_plot(table, list(facts))
    if not is_empty(fig):
        written.append(save_figure(fig, out / "fleet.png"))
    if html:
        from hellotorch.results.html_pages import fleet_page

        written.append(fleet_page(text, table, fleet_plot(table, list(facts))[0]).write(out / "fleet.html"))
    return text, written

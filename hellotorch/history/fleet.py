"""The history's machines view: each machine's newest run, as the rows :mod:`hellotorch.results.fleet` compares.

A machine here is what the history keys runs by (its fingerprint: CPU, GPU,
their counts, thread count, host) together with the torch version, so an
upgrade shows as a machine of its own beside the old one. Filters are the
trend's (case, machine, torch, since) plus the profile, since machines are
compared on the same plan.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pandas as pd

from hellotorch.history.store import run_filters
from hellotorch.results.fleet import ROW_COLUMNS
from hellotorch.results.machines import FLEET_FACTS, machine_label


def fleet_rows(
    connection: sqlite3.Connection,
    *,
    profile: str | None = None,
    case: str | None = None,
    machine: str | None = None,
    torch_version: str | None = None,
    since: str | None = None,
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """The measured cases of each machine's newest complete run, and each machine's facts."""
    query = (
        "SELECT r.run_key, r.started, r.machine, r.machine_fingerprint, r.torch, r.threads, r.profile "
        "FROM runs r WHERE r.complete = 1"
    )
    clauses, parameters = run_filters(profile=profile, machine=machine, torch_version=torch_version, since=since)
    query += clauses
    runs = pd.read_sql_query(query + " ORDER BY r.started", connection, params=parameters)
    newest = runs.groupby(["machine_fingerprint", "torch"], sort=False).tail(1)
    parts, facts = [], {}
    for run in newest.itertuples():
        cpu, _, gpu = str(run.machine).partition(" / ")
        threads = None if pd.isna(run.threads) else int(run.threads)
        machine_facts = {"cpu": cpu, "gpu": gpu or None, "threads": threads, "torch": run.torch}
        label = machine_label(machine_facts)
        facts.setdefault(label, {fact: machine_facts.get(fact) for fact in FLEET_FACTS})
        cases = pd.read_sql_query(
            "SELECT case_id AS 'case', json_extract(record, '$.mode') AS mode, speedup, median_ms, "
            "json_extract(record, '$.host_state') = 'disturbed' AS disturbed, status = 'parity-failed' AS parity_failed "
            "FROM cases WHERE run_key = ? AND status IN ('ok', 'parity-failed')"
            + (" AND instr(case_id, ?) > 0" if case else ""),
            connection,
            params=[run.run_key, *([case] if case else [])],
        )
        flags = {flag: cases[flag].fillna(0).astype(bool) for flag in ("disturbed", "parity_failed")}
        parts.append(cases.assign(machine=label, **flags))
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=ROW_COLUMNS)
    return rows[list(ROW_COLUMNS)], facts

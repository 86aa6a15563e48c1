"""The history of every run: an embedded SQLite database (stdlib ``sqlite3``), versioned and crash-safe.

One row per run (its machine fingerprint, torch version, git commit and its
date) and one per case of it (every measured column, status and parity), so
a case can be followed across commits, PyTorch versions and machines.

- **Versioned.** ``PRAGMA application_id`` marks the file as hellotorch's and
  ``PRAGMA user_version`` holds the schema version; an older schema is
  migrated forward (:mod:`hellotorch.history.schema`), a newer one is refused.
- **Never overwritten.** A file that is not SQLite, or another program's
  SQLite database, is refused with :class:`HistoryError` (exit 2).
- **Refused, not crashed on.** Whatever the file or SQLite refuses later (a
  lock held past the busy timeout, a read-only or immutable file, a full
  disk or a file-size limit, a damaged page or table, a value that is not
  what its column holds) is a :class:`HistoryError` naming the file and the
  reason (exit 2): every use goes through :func:`history_session`.
- **Concurrent and atomic.** WAL mode and a busy timeout let two processes
  ingest at once; each run is stored in one ``BEGIN IMMEDIATE`` transaction,
  so a process killed mid-ingest leaves the database as it was.
- **Calibrated.** Schema 2 adds each case's run-to-run noise per machine
  and thread count (``noise``), written by ``hellotorch calibrate``
  (:mod:`hellotorch.gate.noise`). Schema 3 adds the step time in reference-workload
  units (``step_per_reference``).
- **Idempotent.** A run is keyed by the id written into it when it started
  (``run_id``; older runs: their folder name and JSON timestamp): a run
  ingested twice, or renamed and ingested again, is stored once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from hellotorch.errors import BadInput
from hellotorch.history.schema import APPLICATION_ID, CASE_COLUMNS, SCHEMA_VERSION, migrate
from hellotorch.history.sqlitefile import is_empty, use_wal, why_refused
from hellotorch.results.runs import Run

#: The history's file name inside a results folder (``--results``): ``<results>/history.sqlite``.
HISTORY_FILE = "history.sqlite"
DEFAULT_PATH = Path("results") / HISTORY_FILE
BUSY_TIMEOUT_MS = 30_000


class HistoryError(BadInput):
    """A history database that cannot be used, named, with the reason (exit 2)."""


def _refuse(path: Path, why: str) -> HistoryError:
    return HistoryError(f"--history {path}: {why}; not touching it")


@contextmanager
def translated(path: Path) -> Iterator[None]:
    """Turn what SQLite, the file system or a damaged row raises into one :class:`HistoryError` naming ``path``."""
    try:
        yield
    except HistoryError:
        raise
    except (sqlite3.Error, OSError, ValueError, TypeError, KeyError) as error:
        raise _refuse(path, why_refused(error, busy_timeout_s=BUSY_TIMEOUT_MS / 1000)) from None


@contextmanager
def history_session(path: str | Path = DEFAULT_PATH) -> Iterator[sqlite3.Connection]:
    """The history at ``path``, open for the block and closed after it; every refusal a :class:`HistoryError`."""
    path = Path(path)
    connection = open_history(path)
    try:
        with translated(path):
            yield connection
    finally:
        connection.close()


def open_history(path: str | Path = DEFAULT_PATH) -> sqlite3.Connection:
    """Open (creating if absent) and migrate the history at ``path``; refuse a file that is not one."""
    path = Path(path)
    with translated(path):
        return _open(path)


def _open(path: Path) -> sqlite3.Connection:
    existed = path.exists() and path.stat().st_size > 0
    if path.exists() and not path.is_file():
        raise _refuse(path, "is not a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # One read transaction: read apart, the id came from before another process's schema commit, the tables after.
        connection.execute("BEGIN")
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        empty = is_empty(connection, application_id)
        connection.execute("COMMIT")
    except sqlite3.OperationalError:
        raise  # locked, read-only, unopenable: said as such by translated(), not "not a database"
    except sqlite3.DatabaseError as error:
        raise _refuse(path, f"is not a SQLite database ({error})") from None
    # An empty database is one another process is creating this moment (its schema not yet committed).
    if existed and application_id != APPLICATION_ID and not empty:
        connection.close()
        raise _refuse(path, "is a SQLite database, but not a hellotorch history")
    if version > SCHEMA_VERSION:
        connection.close()
        raise _refuse(path, f"has schema version {version}, newer than this hellotorch's {SCHEMA_VERSION}")
    use_wal(connection, busy_timeout_s=BUSY_TIMEOUT_MS / 1000)
    if version < SCHEMA_VERSION:
        migrate(connection)
    return connection


def check_history(path: str | Path) -> Path:
    """Refuse, before any work, a history file that is not one; create nothing."""
    from hellotorch.files import check_output_file

    path = Path(path)
    if path.exists():
        open_history(path).close()
        return path
    return check_output_file(path, option="--history")


@dataclass(frozen=True)
class RunFacts:
    """What identifies a run in the history, and what a trend groups it by."""

    run_key: str
    label: str
    started: str
    machine: str
    machine_fingerprint: str
    torch: str
    git_commit: str
    git_date: str
    profile: str
    threads: int | None
    complete: bool


def run_facts(run: Run) -> RunFacts:
    machine = run.machine
    raw = run.raw or {}
    started = str(raw.get("datetime", ""))
    commit = raw.get("commit_info") or {}
    described = {key: machine.get(key) for key in ("cpu", "cpu_count", "gpu", "gpu_count", "threads", "hostname")}
    fingerprint = hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:12]
    run_id = run.meta.get("run_id")
    return RunFacts(
        run_key=str(run_id) if run_id else f"{run.label}@{started}",
        label=run.label,
        started=started,
        machine=f"{machine.get('cpu', '?')} / {machine.get('gpu', 'no GPU')}",
        machine_fingerprint=fingerprint,
        torch=run.torch_version,
        git_commit=str(machine.get("git_commit") or commit.get("id") or "unknown"),
        git_date=str(commit.get("time") or ""),
        profile=str(run.meta.get("profile", "?")),
        threads=machine.get("threads"),
        complete=run.incomplete_reason is None,
    )


def _case_row(run_key: str, record: dict[str, Any]) -> tuple:
    derived = {
        "median_ms": (record.get("median_s") or float("nan")) * 1e3,
        "iqr_ms": (record.get("iqr_s") or float("nan")) * 1e3,
    }
    values = [derived.get(name, record.get(name)) for name in CASE_COLUMNS]
    return (run_key, record["id"], record.get("status", "ok"), *values, json.dumps(record, default=str))


def ingest(connection: sqlite3.Connection, run: Run) -> bool:
    """Store ``run`` in one transaction; False when it was already stored (nothing changes)."""
    facts = run_facts(run)
    rows = [_case_row(facts.run_key, record) for record in run.records]
    rows += [
        (facts.run_key, failure["id"], "failed", *[None] * len(CASE_COLUMNS), json.dumps(failure))
        for failure in run.failed
    ]
    connection.execute("BEGIN IMMEDIATE")
    try:
        if connection.execute("SELECT 1 FROM runs WHERE run_key = ?", (facts.run_key,)).fetchone():
            connection.execute("ROLLBACK")
            return False
        connection.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                facts.run_key,
                facts.label,
                facts.started,
                facts.machine,
                facts.machine_fingerprint,
                facts.torch,
                facts.git_commit,
                facts.git_date,
                facts.profile,
                facts.threads,
                int(facts.complete),
            ),
        )
        # Columns by name: a migrated file holds the newer columns after ``record``, a new one before it.
        names = ", ".join(("run_key", "case_id", "status", *CASE_COLUMNS, "record"))
        placeholders = ", ".join("?" * (3 + len(CASE_COLUMNS) + 1))
        connection.executemany(f"INSERT OR REPLACE INTO cases ({names}) VALUES ({placeholders})", rows)
        connection.execute("COMMIT")
    except BaseException:
        # SQLite may have rolled back on its own (a full disk, a file-size limit): the first error is the one to tell.
        with contextlib.suppress(sqlite3.Error):
            connection.execute("ROLLBACK")
        raise
    return True


def record_run(path: str | Path, run: Run) -> bool:
    """Store ``run`` in the history at ``path`` (opened and closed here); False when it was already there."""
    with history_session(path) as connection:
        return ingest(connection, run)


#: the filters the history's views share, as SQL on the runs table (aliased ``r``).
RUN_FILTERS = {
    "profile": " AND r.profile = ?",
    "machine": " AND (instr(r.machine, ?) > 0 OR r.machine_fingerprint = ?)",
    "torch_version": " AND r.torch LIKE ? || '%'",
    "since": " AND r.started >= ?",
}


def run_filters(**given: str | None) -> tuple[str, list[Any]]:
    """The SQL conditions of the filters given (by their :data:`RUN_FILTERS` names), and their parameters."""
    chosen = [(RUN_FILTERS[name], value) for name, value in given.items() if value]
    return "".join(clause for clause, _ in chosen), [v for clause, v in chosen for _ in range(clause.count("?"))]


def trend(
    connection: sqlite3.Connection,
    *,
    case: str | None = None,
    machine: str | None = None,
    torch_version: str | None = None,
    since: str | None = None,
) -> pd.DataFrame:
    """Every stored case row with its run's facts, oldest run first, filtered as asked.

    ``case`` and ``machine`` match a substring of the case id and of the
    machine (or its fingerprint); ``torch_version`` a prefix; ``since`` is an
    ISO date the run started on or after.
    """
    query = (
        "SELECT r.label, r.started, r.machine, r.machine_fingerprint, r.torch, r.git_commit, r.git_date, "
        f"r.threads, c.case_id, c.status, {', '.join(f'c.{name}' for name in CASE_COLUMNS)} "
        "FROM cases c JOIN runs r USING (run_key) WHERE 1 = 1"
    )
    parameters: list[Any] = []
    if case:
        query += " AND instr(c.case_id, ?) > 0"
        parameters.append(case)
    clauses, values = run_filters(machine=machine, torch_version=torch_version, since=since)
    query += clauses
    parameters += values
    query += " ORDER BY r.started, c.case_id"
    return _typed(pd.read_sql_query(query, connection, params=parameters))


#: the trend's text columns; every other column but ``parity`` and ``threads`` holds numbers.
TEXT_COLUMNS = ("label", "started", "machine", "machine_fingerprint", "torch", "git_commit", "git_date", "case_id")


def _typed(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with each column of the type its schema declares; a cell that is not is a ``ValueError`` naming it.

    SQLite stores any value in any column: a damaged or hand-edited file can
    hold bytes where a machine's name belongs, or text where a time does.
    """
    for column in (*TEXT_COLUMNS, "status", "parity"):
        if column in rows:
            wrong = rows[column][~rows[column].map(lambda value: isinstance(value, str) or bool(pd.isna(value)))]
            if len(wrong):
                raise ValueError(f"column {column} holds {wrong.iloc[0]!r:.40}, not text")
    for column in (*CASE_COLUMNS, "threads"):
        if column in rows and column != "parity":
            try:
                rows[column] = pd.to_numeric(rows[column], errors="raise")
            except (ValueError, TypeError):
                raise ValueError(f"column {column} holds a value that is not a number") from None
    return rows

"""The history database's schema: what marks the file as hellotorch's, its tables, and each version's migration.

:mod:`hellotorch.history.store` opens, ingests and reads; this module owns what
the file holds and how an older file is brought forward. A migration is
never edited once released: a new column or table is a new version, so a
file made by any earlier hellotorch reaches the same schema as a new one.
"""

from __future__ import annotations

import sqlite3

#: "htor": what marks a SQLite file as a hellotorch history.
APPLICATION_ID = 0x68746F72
SCHEMA_VERSION = 3

#: The measured columns of schema 1, frozen: version 1's table is created with exactly these.
_SCHEMA_1_COLUMNS = (
    "median_ms",
    "iqr_ms",
    "samples_per_s",
    "speedup",
    "speedup_q1",
    "speedup_q3",
    "compile_s",
    "cold_compile_s",
    "warm_compile_s",
    "portable_compile_s",
    "graph_breaks",
    "recompiles",
    "peak_memory_bytes",
    "parity",
    "parity_max_abs_diff",
)
#: The measured columns kept per case (besides its whole record, as JSON), in every schema from the newest.
CASE_COLUMNS = (*_SCHEMA_1_COLUMNS, "step_per_reference")

#: Each schema version's statements, applied in order from the file's version to the newest.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE runs (
            run_key TEXT PRIMARY KEY,
            label TEXT NOT NULL,
            started TEXT NOT NULL,
            machine TEXT NOT NULL,
            machine_fingerprint TEXT NOT NULL,
            torch TEXT NOT NULL,
            git_commit TEXT NOT NULL,
            git_date TEXT NOT NULL,
            profile TEXT NOT NULL,
            threads INTEGER,
            complete INTEGER NOT NULL
        )""",
        f"""CREATE TABLE cases (
            run_key TEXT NOT NULL REFERENCES runs(run_key),
            case_id TEXT NOT NULL,
            status TEXT NOT NULL,
            {", ".join(f"{name} {'TEXT' if name == 'parity' else 'REAL'}" for name in _SCHEMA_1_COLUMNS)},
            record TEXT NOT NULL,
            PRIMARY KEY (run_key, case_id)
        )""",
        "CREATE INDEX cases_by_case ON cases (case_id)",
    ),
    # Version 2: each case's calibrated run-to-run noise on a machine (hellotorch calibrate).
    2: (
        """CREATE TABLE noise (
            machine_fingerprint TEXT NOT NULL,
            threads INTEGER NOT NULL,
            case_id TEXT NOT NULL,
            metric TEXT NOT NULL,
            runs INTEGER NOT NULL,
            center REAL NOT NULL,
            cv REAL NOT NULL,
            calibrated TEXT NOT NULL,
            labels TEXT NOT NULL,
            PRIMARY KEY (machine_fingerprint, threads, case_id, metric)
        )""",
    ),
    # Version 3: the step time in units of the fixed reference workload (profiles with reference = true),
    # filled in for rows stored before from their whole record; NULL where the run did not time it.
    3: (
        "ALTER TABLE cases ADD COLUMN step_per_reference REAL",
        "UPDATE cases SET step_per_reference = json_extract(record, '$.step_per_reference')",
    ),
}


def migrate(connection: sqlite3.Connection) -> None:
    """Bring the open file to :data:`SCHEMA_VERSION` in one transaction (all of it, or none)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have migrated while this one waited for the lock.
        current = connection.execute("PRAGMA user_version").fetchone()[0]
        for step in range(current + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[step]:
                connection.execute(statement)
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise

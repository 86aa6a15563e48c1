"""Opening a shared SQLite file safely while another process may be creating it (used by :mod:`hellotorch.history.store`)."""

from __future__ import annotations

import sqlite3
import time


def is_empty(connection: sqlite3.Connection, application_id: int) -> bool:
    """No application id and no table: nobody's data, so a history may be made in it."""
    return application_id == 0 and connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def use_wal(connection: sqlite3.Connection, *, busy_timeout_s: float) -> None:
    """Switch a new database to WAL (it stays so), waiting out another process's lock.

    The switch needs the database to itself and, unlike a transaction, does
    not wait on the busy timeout: two processes creating the same history at
    once failed here with "database is locked" (1 in 15 tries).
    """
    deadline = time.monotonic() + busy_timeout_s
    while True:
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)

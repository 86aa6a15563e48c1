"""A shared SQLite file: opening it safely while another process may be creating it, and what its refusals mean (used by :mod:`hellotorch.history.store`)."""

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


def why_refused(error: BaseException, *, busy_timeout_s: float) -> str:
    """What SQLite's (or the file system's) refusal means for the user, in their words."""
    if isinstance(error.__cause__, sqlite3.Error):  # pandas wraps SQLite's error in its own
        return why_refused(error.__cause__, busy_timeout_s=busy_timeout_s)
    text = str(error)
    if isinstance(error, OSError):
        return f"cannot be written ({error.strerror or text}: a full disk or a file-size limit?)"
    if isinstance(error, sqlite3.OperationalError):
        if "locked" in text or "busy" in text:
            return f"another process has held its lock for more than {busy_timeout_s:g} s; try again after it"
        if "readonly" in text:
            return "cannot be written (a read-only or immutable file, or a read-only folder)"
        if "disk" in text or "full" in text:
            return f"cannot be written ({text}: a full disk or a file-size limit?)"
        if "unable to open" in text:
            return f"cannot be opened ({text}: is its folder writable?)"
        return f"is damaged ({text})"
    if isinstance(error, sqlite3.DatabaseError):
        return f"is damaged or not a SQLite database ({text})"
    return f"holds a value it cannot read ({type(error).__name__}: {text})"

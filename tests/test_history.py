"""The history store: versioned, idempotent, refusing what is not its own, atomic under kill, concurrent."""

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hellotorch.history.schema import APPLICATION_ID, SCHEMA_VERSION
from hellotorch.history.store import HistoryError, ingest, open_history, trend
from hellotorch.results.runs import load_run

from .fixtures_util import FIXTURE_RUN, edited_run, run_cli

ROOT = Path(__file__).resolve().parents[1]


def _count(path: Path) -> tuple[int, int]:
    connection = sqlite3.connect(path)
    try:
        return tuple(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("runs", "cases"))
    finally:
        connection.close()


def test_a_run_ingested_twice_is_stored_once(tmp_path):
    db = tmp_path / "history.sqlite"
    connection = open_history(db)
    run = load_run(FIXTURE_RUN)
    assert ingest(connection, run) is True
    assert ingest(connection, run) is False
    rows = trend(connection, case="mlp-b64-adamw.forloop-float32-default.step")
    connection.close()
    assert _count(db) == (1, len(run.records) + len(run.failed))
    assert set(rows["status"]) == {"ok"} and rows["speedup"].notna().all()
    assert {"machine_fingerprint", "torch", "git_commit", "git_date"} <= set(rows.columns)


def test_the_schema_is_marked_and_versioned(tmp_path):
    connection = open_history(tmp_path / "h.sqlite")
    assert connection.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()


@pytest.mark.parametrize("kind", ["garbage", "foreign", "newer"])
def test_a_file_that_is_not_our_history_is_refused_and_left_as_it_was(tmp_path, kind):
    db = tmp_path / "h.sqlite"
    if kind == "garbage":
        db.write_bytes(b"not a database at all" * 100)
    else:
        connection = sqlite3.connect(db)
        connection.execute("CREATE TABLE notes (text)")
        if kind == "newer":
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        connection.commit()
        connection.close()
    before = db.read_bytes()
    with pytest.raises(HistoryError, match="not touching it"):
        open_history(db)
    assert db.read_bytes() == before
    code, _, err = run_cli(["history", "ingest", str(FIXTURE_RUN), "--history", str(db)])
    assert code == 2 and err.count("\n") == 1 and "--history" in err
    assert db.read_bytes() == before


# Ingests a run through a connection that stops for a minute after writing the
# case rows, inside the transaction, so the test can kill it there.
_SLOW_INGEST = """
import sqlite3, sys, time
from hellotorch.history import store
from hellotorch.results.runs import load_run

class Slow(sqlite3.Connection):
    def executemany(self, *args):
        result = super().executemany(*args)
        print("inside", flush=True)
        time.sleep(60)
        return result

connect = sqlite3.connect
sqlite3.connect = lambda *args, **kwargs: connect(*args, factory=Slow, **kwargs)
store.ingest(store.open_history(sys.argv[1]), load_run(sys.argv[2]))
"""


def test_a_process_killed_mid_ingest_leaves_the_database_as_it_was(tmp_path):
    db = tmp_path / "h.sqlite"
    open_history(db).close()
    script = tmp_path / "slow_ingest.py"
    script.write_text(_SLOW_INGEST)
    child = subprocess.Popen(
        [sys.executable, str(script), str(db), str(FIXTURE_RUN)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert child.stdout.readline().strip() == "inside"  # the rows are written, not committed
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert _count(db) == (0, 0)
    connection = open_history(db)  # still usable, and the run can be stored afterwards
    assert ingest(connection, load_run(FIXTURE_RUN)) is True
    connection.close()


def test_two_processes_ingesting_at_once_both_land(tmp_path):
    db = tmp_path / "h.sqlite"
    runs = [
        edited_run(tmp_path, lambda raw, n=n: raw.update(datetime=f"2026-01-0{n}T00:00:00"), name=f"run-{n}")
        for n in (1, 2)
    ]
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "hellotorch", "history", "ingest", str(run), "--history", str(db)], cwd=ROOT
        )
        for run in runs
    ]
    assert [child.wait(timeout=120) for child in children] == [0, 0]
    assert _count(db)[0] == 2


def test_a_schema_1_history_is_migrated_forward_and_keeps_its_runs(tmp_path):
    from hellotorch.history.schema import MIGRATIONS

    db = tmp_path / "h.sqlite"
    old = sqlite3.connect(db)
    for statement in MIGRATIONS[1]:
        old.execute(statement)
    old.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    old.execute("PRAGMA user_version = 1")
    old.commit()
    old.close()
    connection = open_history(db)
    assert ingest(connection, load_run(FIXTURE_RUN))
    assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    assert connection.execute("SELECT count(*) FROM noise").fetchone()[0] == 0
    connection.close()


def test_a_schema_2_history_gains_the_reference_column_filled_from_its_stored_records(tmp_path):
    from hellotorch.history.schema import MIGRATIONS

    db = tmp_path / "h.sqlite"
    old = sqlite3.connect(db)
    for statement in MIGRATIONS[1] + MIGRATIONS[2]:
        old.execute(statement)
    old.execute("INSERT INTO runs VALUES ('old@1', 'old', '2026-01-01', 'm', 'f', '2.13', 'c', '', 'p', 2, 1)")
    for case_id, record in (("timed", '{"step_per_reference": 0.42}'), ("untimed", "{}")):
        old.execute(
            "INSERT INTO cases (run_key, case_id, status, record) VALUES ('old@1', ?, 'ok', ?)", (case_id, record)
        )
    old.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    old.execute("PRAGMA user_version = 2")
    old.commit()
    old.close()
    connection = open_history(db)
    assert ingest(connection, load_run(FIXTURE_RUN))  # a new row lands by column name after the added column
    rows = trend(connection).set_index("case_id")
    connection.close()
    assert rows.loc["timed", "step_per_reference"] == 0.42
    assert rows["step_per_reference"].drop("timed").isna().all()
    assert rows.loc["train-cpu-mlp-b64-adamw.forloop-float32-default.step", "speedup"] > 0


def test_the_trend_plot_gives_an_eager_case_its_step_time_alone_and_names_each_machine_with_its_threads(tmp_path):
    from hellotorch.history.report import trend_plot
    from hellotorch.history.store import history_session, record_run, trend
    from hellotorch.results.runs import load_run

    history = tmp_path / "h.sqlite"
    record_run(history, load_run(FIXTURE_RUN))
    with history_session(history) as connection:
        rows = trend(connection)
    eager = sorted(case for case in rows["case_id"].unique() if case.endswith("-eager"))[0]
    fig, axes = trend_plot(rows[rows["case_id"] == eager])
    speedup, step, compile_time = axes[0]
    assert not speedup.lines and not speedup.axison and not compile_time.lines
    assert step.get_ylabel() == "step, ms"
    (label,) = [text.get_text() for text in step.get_legend().get_texts()]
    assert "threads" in label and "(" in label

"""Malformed run files, field by field: every command refuses them with exit 2, never 1, never a traceback.

Hypothesis picks a field of a valid run (the saved fixture) and breaks it:
a value of the wrong type, null, NaN, +/-inf, a numeric string, a negative
number, a missing key; or it truncates the file or plants bytes that are not
UTF-8. ``report``, ``compare``, ``gate`` (the broken run as current and as
baseline) and ``baseline`` then run on it. A mutation that leaves the run
valid (a field no command reads) may pass (0); none may end in 1 ("the
check failed") or in anything but one line on stderr.
"""

import json
import math
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .fixtures_util import FIXTURE_RUN, run_cli

RAW = json.loads((FIXTURE_RUN / "benchmark.json").read_text())
DELETE = object()
MUTATIONS = [None, math.nan, math.inf, -math.inf, "text", "1.5", [], {}, True, -1, DELETE]


def _leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield path + (key,)
            yield from _leaves(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield path + (index,)
            yield from _leaves(value, path + (index,))


PATHS = list(_leaves(RAW))


def _same_kind(old, new) -> bool:
    """A replacement of the same type and validity is a different valid run, not a malformed one."""
    if new is DELETE or new is None or old is None:
        return False
    if isinstance(old, bool) or isinstance(new, bool):
        return isinstance(old, bool) and isinstance(new, bool)
    if isinstance(new, float) and not math.isfinite(new):
        return False
    if new == -1:
        return False  # out of range where it matters
    return type(old) is type(new) and not isinstance(new, (list, dict))


def _mutated(path, mutation):
    raw = json.loads(json.dumps(RAW))
    parent = raw
    for key in path[:-1]:
        parent = parent[key]
    if mutation is DELETE:
        if isinstance(parent, list):
            return None  # a run that lacks a case is valid (and gated as missing), not malformed
        del parent[path[-1]]
    else:
        if _same_kind(parent[path[-1]], mutation):
            return None
        parent[path[-1]] = mutation
    return json.dumps(raw).encode()


def _commands(run: Path, out: Path) -> dict[str, list[str]]:
    fixture = str(FIXTURE_RUN)
    return {
        "report": ["report", str(run), "--no-plots", "--output", str(out / "report")],
        "compare": ["compare", fixture, str(run), "--output", str(out / "compare")],
        "gate current": ["gate", "--baseline", fixture, "--current", str(run)],
        "gate baseline": ["gate", "--baseline", str(run), "--current", fixture],
        "baseline": ["baseline", str(run), "--output", str(out / "pinned.json")],
    }


def _check_every_command(tmp: Path, content: bytes, what: str) -> None:
    run = tmp / "run-fuzz"
    shutil.rmtree(tmp, ignore_errors=True)
    run.mkdir(parents=True)
    (run / "benchmark.json").write_bytes(content)
    shutil.copy(FIXTURE_RUN / "loss_curves.csv", run / "loss_curves.csv")
    for name, argv in _commands(run, tmp).items():
        code, _, err = run_cli(argv)
        assert code in (0, 2), f"{what}: {name} exited {code}: {err}"
        assert "Traceback" not in err, f"{what}: {name}: {err}"
        if code == 2:
            assert len(err.strip().splitlines()) == 1 and "error:" in err, f"{what}: {name}: {err!r}"


FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.slow
@FUZZ
@given(path=st.sampled_from(PATHS), mutation=st.sampled_from(MUTATIONS))
def test_a_broken_field_is_refused_by_every_command(tmp_path, path, mutation):
    content = _mutated(path, mutation)
    if content is None:
        return
    shown = "<deleted>" if mutation is DELETE else repr(mutation)
    _check_every_command(tmp_path / "case", content, f"{'.'.join(map(str, path))} = {shown}")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(min_value=0.0, max_value=0.999), garbage=st.sampled_from([b"\xff", b"\xc3\x28", b"\x80\x80"]))
def test_truncated_or_non_utf8_files_are_refused(tmp_path, cut, garbage):
    content = (FIXTURE_RUN / "benchmark.json").read_bytes()
    at = int(len(content) * cut)
    _check_every_command(tmp_path / "cut", content[:at], f"truncated at byte {at}")
    _check_every_command(tmp_path / "bytes", content[:at] + garbage + content[at:], f"{garbage!r} at byte {at}")


def test_the_fuzzer_reaches_the_fields_the_gate_reads():
    # A guard on the strategy itself: the fields that decide a verdict are among the mutated paths.
    names = {path[-1] for path in PATHS if isinstance(path[-1], str)}
    assert {"speedup", "speedup_q1", "status", "parity", "median", "cases_finished", "machine_info"} <= names


SQL_VALUES = [None, "text", -1, 1e308, b"\xff\xfe", "", 0]


def _history_with_the_fixture(folder: Path) -> Path:
    from hellotorch.history.store import record_run
    from hellotorch.results.runs import load_run

    history = folder / "history.sqlite"
    record_run(history, load_run(FIXTURE_RUN))
    return history


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    table=st.sampled_from(["runs", "cases"]),
    column=st.integers(min_value=0, max_value=40),
    value=st.sampled_from(SQL_VALUES),
    regressions=st.booleans(),
)
def test_a_damaged_history_cell_is_read_or_refused_never_crashed_on(
    tmp_path_factory, table, column, value, regressions
):
    import sqlite3

    history = _history_with_the_fixture(tmp_path_factory.mktemp("history"))
    connection = sqlite3.connect(history, isolation_level=None)
    names = [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]
    name = names[column % len(names)]
    try:
        connection.execute(f'UPDATE {table} SET "{name}" = ?', (value,))
    except sqlite3.IntegrityError:
        connection.close()
        return  # a constraint refused the damage itself: nothing to read
    connection.close()
    argv = ["history", "--history", str(history)] + (["--regressions"] if regressions else [])
    code, _, err = run_cli(argv)
    assert code in (0, 2), (table, name, value, code, err[-500:])
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    field=st.sampled_from(["id", "variant", "state", "compile_s", "steady_s", "load_s"]),
    mutation=st.sampled_from(MUTATIONS),
)
def test_a_broken_compile_cost_row_is_refused_naming_the_file(tmp_path_factory, field, mutation):
    run = tmp_path_factory.mktemp("run") / "run"
    shutil.copytree(FIXTURE_RUN, run)
    row = {
        "id": "x",
        "variant": "whole",
        "state": "cold",
        "process": 0,
        "compile_s": 1.0,
        "steady_s": 0.001,
        "load_s": 0.0,
    }
    if mutation is DELETE:
        row.pop(field)
    else:
        row[field] = mutation
    (run / "compile_costs.jsonl").write_text(json.dumps(row) + "\n")
    code, _, err = run_cli(["report", str(run)])
    assert code in (0, 2), err[-500:]
    if code == 2:
        assert "compile_costs.jsonl" in err and len(err.strip().splitlines()) == 1

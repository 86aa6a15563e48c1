"""Hostile conditions that are not one bad argument: races, renamed runs, locks, full disks, hung cases, FIFOs.

The bad arguments and files are in tests/bad_inputs.py; these need a process,
a thread, a lock or a planted function to set up.
"""

import datetime as dt
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

from hellotorch.errors import BadInput
from hellotorch.history import store
from hellotorch.results.runs import load_run
from hellotorch.runfiles import new_run_dir

FIXTURE_RUN = Path(__file__).parent / "fixtures" / "run-quick"
ROOT = Path(__file__).parent.parent


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path):
    now, made, barrier = dt.datetime(2026, 12, 7, 12, 0, 0), [], threading.Barrier(8)

    def start():
        barrier.wait()
        made.append(new_run_dir(tmp_path, device="cpu", profile="quick", now=now))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 8 and all(path.is_dir() for path in made)


def _with_run_id(tmp_path: Path, name: str, run_id: str) -> Path:
    run = tmp_path / name
    shutil.copytree(FIXTURE_RUN, run)
    raw = json.loads((run / "benchmark.json").read_text())
    raw["hellotorch"]["run_id"] = run_id
    (run / "benchmark.json").write_text(json.dumps(raw))
    return run


def test_a_renamed_run_is_stored_once(tmp_path):
    history = tmp_path / "history.sqlite"
    first = _with_run_id(tmp_path, "run-a", "feedc0de")
    assert store.record_run(history, load_run(first))
    renamed = first.rename(tmp_path / "run-renamed")
    assert not store.record_run(history, load_run(renamed))


def test_a_history_locked_past_the_busy_timeout_is_refused_not_crashed_on(tmp_path, monkeypatch):
    history = tmp_path / "history.sqlite"
    store.record_run(history, load_run(FIXTURE_RUN))
    holder = sqlite3.connect(history, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(store, "BUSY_TIMEOUT_MS", 200)
    try:
        with pytest.raises(store.HistoryError, match="lock"):
            store.record_run(history, load_run(_with_run_id(tmp_path, "run-b", "b")))
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_text_in_a_numeric_column_is_refused_naming_the_history(tmp_path):
    history = tmp_path / "history.sqlite"
    store.record_run(history, load_run(FIXTURE_RUN))
    connection = sqlite3.connect(history, isolation_level=None)
    connection.execute("UPDATE cases SET median_ms = 'fast'")
    connection.close()
    from hellotorch.cli import main

    code = main(["history", "--history", str(history), "--regressions"])
    assert code in (0, 2)  # read as it is, or refused with its name: never a traceback or a 70


def test_bench_keeps_its_run_when_the_history_cannot_take_it(tmp_path, monkeypatch, capsys):
    from hellotorch.cli import main
    from hellotorch.suite import launch

    history = tmp_path / "history.sqlite"
    run = tmp_path / "results" / "run-kept"
    shutil.copytree(FIXTURE_RUN, run)

    def finished_run(**kwargs):
        history.write_bytes(b"not a database any more" * 10)  # damaged while the cases ran
        profile = load_run(run)
        return launch.SuiteOutcome(run, None, [{}] * len(profile.records), [], False, launch.PYTEST_OK)

    monkeypatch.setattr(launch, "run_suite", finished_run)
    code = main(["bench", "--profile", "smoke", "--results", str(tmp_path / "results"), "--history", str(history)])
    err = capsys.readouterr().err
    assert code == 2 and run.is_dir()
    assert f"hellotorch history ingest {run}" in err


@pytest.mark.parametrize("status", [-signal.SIGXFSZ, 75])
def test_a_child_stopped_by_a_full_disk_or_a_file_size_limit_is_the_environments_failure(status, tmp_path):
    from hellotorch.suite.launch import _refuse_full_storage

    with pytest.raises(BadInput, match="could not be written"):
        _refuse_full_storage(status, tmp_path)
    _refuse_full_storage(0, tmp_path)  # a finished child is not refused


def test_a_case_past_its_time_limit_is_stopped():
    from hellotorch.suite.benchsuite.test_steps import CaseTimedOut, time_limit

    started = time.monotonic()
    with pytest.raises(CaseTimedOut, match="case_timeout_s"):
        with time_limit(0.2):
            while True:  # a plug-in building an enormous batch in a Python loop
                pass
    assert time.monotonic() - started < 5
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0  # nothing left armed for the next case


def test_a_plan_estimated_past_six_hours_needs_long(tmp_path):
    from hellotorch.suite.launch import run_suite

    profile = tmp_path / "huge.toml"
    profile.write_text(
        f'models = ["mlp"]\nbatch_sizes = [{", ".join(str(size) for size in range(1, 101))}]\n'
        'optimizers = ["sgd", "adamw"]\nmodes = ["default"]\nmax_time = 60\n'
    )
    with pytest.raises(BadInput, match="--long"):
        run_suite(profile=str(profile), results_root=tmp_path / "results")
    assert not any((tmp_path / "results").glob("run-*"))


def test_a_plug_in_that_changes_the_default_dtype_is_undone_and_said(monkeypatch):
    import torch

    from hellotorch.models.plugins import load_reference

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_reference("tests.plugin_faults:sets_float64", name="f64")
    assert torch.get_default_dtype() == torch.float32
    assert any("default dtype" in str(warning.message) for warning in caught)


def test_dropout_hidden_from_the_config_is_found_by_parity():
    from hellotorch.parity.arms import Arms
    from hellotorch.training.compiling import CompileConfig
    from hellotorch.training.config import RunConfig

    run = RunConfig(model="tests.plugin_faults:hidden_dropout", compile=CompileConfig(mode="default"))
    assert run.resolved_model_config.dropout == 0
    arms = Arms.for_run(run)
    assert arms.compiled_run.compile.fallback_random and "fallback_random" in arms.notes[0]


@pytest.mark.parametrize("name", ["benchmark.json", "cases.jsonl", "loss_curves.csv", "compile_costs.jsonl"])
def test_report_does_not_hang_on_a_fifo(name, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE_RUN, run)
    (run / name).unlink(missing_ok=True)
    os.mkfifo(run / name)
    done = subprocess.run(
        [sys.executable, "-m", "hellotorch", "report", str(run)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode in (0, 2), done.stderr


def _repo_with_profile(tmp_path: Path, *, committed: bool, working: bool) -> Path:
    repo = tmp_path / "project"
    repo.mkdir()
    for args in (["init", "-q"], ["config", "user.email", "t@example.com"], ["config", "user.name", "t"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True)
    (repo / "p.toml").write_text(f'models = ["hello"]\nreference = {str(committed).lower()}\n')
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "profile"], check=True)
    (repo / "p.toml").write_text(f'models = ["hello"]\nreference = {str(working).lower()}\n')  # edited, not committed
    return repo


@pytest.mark.parametrize(("committed", "working", "expected"), [(False, True, "median"), (True, False, "reference")])
def test_ab_reads_the_profile_the_sides_run_not_the_uncommitted_one(
    tmp_path, monkeypatch, committed, working, expected
):
    from hellotorch.ab.sides import choose_statistic

    repo = _repo_with_profile(tmp_path, committed=committed, working=working)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    monkeypatch.chdir(repo)
    chosen = choose_statistic(
        "auto", profile="p.toml", one_interpreter=True, folders=(repo,), repo=repo, commits=(head, head)
    )
    assert chosen == expected


@pytest.mark.slow
def test_a_plug_in_that_ends_the_measuring_process_is_named_not_called_an_internal_error(tmp_path):
    command = [sys.executable, "-m", "hellotorch", "bench", "--model", "tests.plugin_faults:batch_os_exit"]
    command += ["--results", str(tmp_path / "results"), "--no-report", "--history", str(tmp_path / "h.sqlite")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "ended with status 7 while measuring train-cpu-" in done.stderr


def test_what_ran_out_is_found_through_the_causes_and_in_a_compilers_words():
    import errno

    from hellotorch.runfiles import storage_failure

    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/results/run/cases.jsonl")
        except OSError as inner:
            raise RuntimeError("compile failed") from inner
    except RuntimeError as outer:
        assert storage_failure(outer) == "No space left on device (/results/run/cases.jsonl)"
    assert storage_failure(RuntimeError("g++: internal compiler error: File size limit exceeded signal")) is not None
    assert storage_failure(RuntimeError("a compile error of the model's own")) is None


def _limited(bytes_: int):
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (bytes_, bytes_))


def test_a_history_past_a_file_size_limit_is_refused_with_exit_2(tmp_path):
    command = [sys.executable, "-m", "hellotorch", "history", "ingest", str(FIXTURE_RUN)]
    command += ["--history", str(tmp_path / "h.sqlite")]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, preexec_fn=_limited(40 * 1024))
    assert done.returncode == 2 and "cannot be written" in done.stderr, done.stderr


@pytest.mark.slow
def test_bench_past_a_file_size_limit_exits_2_and_says_so(tmp_path):
    command = [sys.executable, "-m", "hellotorch", "bench", "--profile", "smoke", "--results", str(tmp_path)]
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "cache"))  # a cold compile writes its C++ output
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, env=env, preexec_fn=_limited(60 * 1024), timeout=600
    )
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "could not be written" in done.stderr

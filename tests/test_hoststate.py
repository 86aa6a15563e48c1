"""Binding the bench process's threads to cores (opt-in), and keeping the processes it starts free of it."""

import os
import subprocess
import sys

import pytest

from hellotorch.measuring.thread_state import (
    BIND_ENV,
    BIND_VARIABLES,
    binding_requested,
    bound_child,
    threads_bound,
    unbound_child,
)

from .fixtures_util import run_cli

needs_affinity = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2, reason="needs thread affinity and 2 cores"
)


@pytest.mark.parametrize(("value", "wanted"), [("", False), ("0", False), ("1", True), (" 1 ", True)])
def test_binding_is_asked_for_with_0_or_1(value, wanted):
    assert binding_requested({BIND_ENV: value}) is wanted
    assert binding_requested({}) is False


def test_another_value_is_refused_naming_the_variable():
    with pytest.raises(ValueError, match=f"{BIND_ENV} must be 0 or 1, got 'yes'"):
        binding_requested({BIND_ENV: "yes"})


def test_a_bad_value_stops_bench_before_any_run_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(BIND_ENV, "yes")
    code, _, err = run_cli(["bench", "--profile", "smoke", "--results", str(tmp_path / "results")])
    assert code == 2
    assert err.strip().count("\n") == 0 and BIND_ENV in err
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_threads_count_as_bound_when_omp_proc_bind_says_so():
    assert threads_bound({"OMP_PROC_BIND": "true"}) and threads_bound({"OMP_PROC_BIND": "close"})
    assert not threads_bound({"OMP_PROC_BIND": "FALSE"}) and not threads_bound({})


def test_a_child_of_a_bound_process_gets_no_binding_and_every_core():
    env, preexec = unbound_child({"PATH": "/bin", **BIND_VARIABLES})
    assert env == {"PATH": "/bin"} and callable(preexec)
    assert unbound_child({"PATH": "/bin"}) == ({"PATH": "/bin"}, None)  # nothing bound: nothing to undo


_REPORT = (
    "import os, sys, subprocess, torch\n"
    "from hellotorch.measuring.thread_state import unbound_child\n"
    "torch.zeros(40000).add_(1.0)\n"  # a parallel region: the workers exist and are bound
    "env, preexec = unbound_child(os.environ)\n"
    "child = subprocess.run([sys.executable, '-c', 'import os; print(len(os.sched_getaffinity(0)))'],"
    " env=env, preexec_fn=preexec, capture_output=True, text=True, check=True)\n"
    "print(len(os.sched_getaffinity(0)), child.stdout.strip())\n"
)


@needs_affinity
def test_the_bound_process_sits_on_one_core_and_what_it_starts_on_all():
    env, preexec = bound_child(dict(os.environ, OMP_NUM_THREADS="2"))
    done = subprocess.run(
        [sys.executable, "-c", _REPORT], env=env, preexec_fn=preexec, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    mine, child = map(int, done.stdout.split())
    assert mine == 1  # libgomp bound the main thread to the first core
    assert child == os.cpu_count()

"""Every bad input of tests/bad_inputs.py, in-process: its exit code, one line on stderr, no traceback."""

import contextlib
import io
import os
import tempfile
from pathlib import Path

import pytest

from hellotorch.cli import main

from .bad_inputs import build


def _run(argv, env):
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(argv))
            except SystemExit as exit:
                code = exit.code
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return code, err.getvalue()


def _names() -> list[str]:
    """The in-process bad inputs' names (building them writes their files: into a folder thrown away here)."""
    with tempfile.TemporaryDirectory() as folder:
        return [case.name for case in build(Path(folder)) if not case.slow]


def test_there_are_more_than_a_hundred_bad_inputs():
    assert len(_names()) >= 100


@pytest.mark.parametrize("name", _names())
def test_a_bad_input_gets_its_exit_code_and_one_line(name, tmp_path, monkeypatch):
    import torch

    monkeypatch.delenv("HELLOTORCH_DEBUG", raising=False)
    case = next(case for case in build(tmp_path) if case.name == name)
    if case.name.endswith("cuda absent") and torch.cuda.is_available():
        pytest.skip("CUDA is available here: the input is not bad on this machine")
    threads = torch.get_num_threads()
    try:
        code, err = _run(case.argv, case.env)
    finally:
        torch.set_num_threads(threads)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    one_line = len(lines) == 1 if case.expected == 2 else len(lines) <= 1
    assert code == case.expected, err[-2000:]
    assert one_line and "Traceback" not in err, err[-2000:]
    assert not (tmp_path / "r1").exists()  # nothing to run leaves no run folder


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bench: -k matches nothing", "bench: malformed -k"])
def test_a_bench_that_selects_nothing_is_exit_2_and_leaves_no_folder(tmp_path, name):
    from .bad_inputs import run_subprocess

    case = next(case for case in build(tmp_path) if case.name == name)
    code, err = run_subprocess(case, tree=Path(__file__).parent.parent)
    assert code == 2, err[-2000:]
    results = tmp_path / case.argv[case.argv.index("--results") + 1]
    assert not results.exists() or not any(results.iterdir())

"""The reading half runs where torch cannot be imported, and every command finds the history by one rule."""

import subprocess
import sys
from pathlib import Path

import pytest

from .fixtures_util import FIXTURE_RUN

ROOT = Path(__file__).parent.parent
#: Runs the command line in a process where `import torch` fails, as on a machine that only reads results.
WITHOUT_TORCH = "import sys; sys.modules['torch'] = None; from hellotorch.cli import main; sys.exit(main(sys.argv[1:]))"


def _without_torch(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_TORCH, *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.mark.parametrize(
    "command",
    [
        ["--help"],
        ["env", "--check", "--window", "0.1"],
        ["report", str(FIXTURE_RUN), "--output", "{tmp}/report"],
        ["compare", str(FIXTURE_RUN), str(FIXTURE_RUN), "--output", "{tmp}/compare"],
        ["gate", "--baseline", str(FIXTURE_RUN), "--current", str(FIXTURE_RUN), "--results", "{tmp}"],
        ["history", "ingest", str(FIXTURE_RUN), "--results", "{tmp}"],
        ["latest", "--results", str(FIXTURE_RUN.parent)],
    ],
    ids=lambda command: command[0].strip("-"),
)
def test_reading_commands_run_with_torch_unimportable(command, tmp_path):
    done = _without_torch(*(word.format(tmp=tmp_path) for word in command))
    fit_or_busy = (0, 2) if command[0] == "env" else (0,)  # a check of the machine may find it busy
    assert done.returncode in fit_or_busy, done.stdout + done.stderr
    assert "torch" not in done.stderr


def test_a_measuring_command_still_needs_torch():
    # The check above is real: the same blocking stops a command that measures.
    assert _without_torch("train", "--steps", "1").returncode != 0


def test_a_history_recorded_under_results_is_found_by_every_reader_given_the_same_results(tmp_path):
    results = tmp_path / "elsewhere"
    ingest = _without_torch("history", "ingest", str(FIXTURE_RUN), "--results", str(results))
    assert ingest.returncode == 0, ingest.stderr
    assert (results / "history.sqlite").is_file()
    found = _without_torch("history", "--results", str(results))
    assert found.returncode == 0, found.stderr
    assert "## Change points" in found.stdout and "2.13.0+cpu" in found.stdout
    # Not given --results, the reader looks in ./results, and says where it looked.
    missing = _without_torch("history", cwd=tmp_path)
    assert missing.returncode == 2 and "results/history.sqlite: no such file" in missing.stderr

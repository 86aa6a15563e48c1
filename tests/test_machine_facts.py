"""The machine's facts a run records: the commit of the code measured, wherever the run folder is."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hellotorch.measuring.machine import git_commit, huge_pages

ROOT = Path(__file__).parent.parent


def test_the_commit_is_the_checkouts_even_when_the_run_folder_is_elsewhere(tmp_path, monkeypatch):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (an sdist or a copy): there is no commit to record")
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    monkeypatch.chdir(tmp_path)  # the bench child runs in its run folder, which may be anywhere
    monkeypatch.delenv("HELLOTORCH_GIT_DIR", raising=False)
    assert git_commit().removesuffix("-dirty") == head.strip()


def test_huge_pages_say_the_kernel_mode_and_the_allocator(monkeypatch):
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "1")
    assert huge_pages().endswith("allocator on") and huge_pages().startswith("kernel ")
    monkeypatch.delenv("THP_MEM_ALLOC_ENABLE")
    assert huge_pages().endswith("allocator off")

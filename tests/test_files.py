"""Writing files: atomic, with the umask's permissions, nothing left behind, outputs checked before work."""

import os
from pathlib import Path

import pytest

from hellotorch.files import OutputError, check_output_dir, check_output_file, write_atomic, write_text_atomic


@pytest.fixture
def umask():
    def set_umask(mask):
        previous.append(os.umask(mask))

    previous = []
    yield set_umask
    for mask in reversed(previous):
        os.umask(mask)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_mode_the_umask_gives(tmp_path, umask, mask, mode):
    umask(mask)
    path = write_text_atomic(tmp_path / "summary.md", "hello")
    assert path.stat().st_mode & 0o777 == mode


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = write_text_atomic(tmp_path / "a.csv", "old")

    def explode(temp):
        Path(temp).write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(target, explode)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.csv"]


def test_report_files_are_readable_by_others(tmp_path, umask):
    import shutil

    from hellotorch.results.report import build_report

    from .fixtures_util import FIXTURE_RUN

    umask(0o022)
    run = tmp_path / "run"
    shutil.copytree(FIXTURE_RUN, run)
    for path in build_report(run):
        assert path.stat().st_mode & 0o044 == 0o044, path.name


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: tmp, "is a folder; give a file name"),
        (lambda tmp: (tmp / "file").write_text("x") and tmp / "file" / "out.pt", "is a file, not a folder"),
        (lambda tmp: Path("/proc/hellotorch/out.pt"), "cannot write in /proc"),
        (lambda tmp: "", "empty path"),
    ],
)
def test_an_output_file_that_cannot_be_written_is_refused_naming_the_option(tmp_path, make, message):
    with pytest.raises(OutputError, match=message) as caught:
        check_output_file(make(tmp_path), option="--save")
    assert str(caught.value).startswith("--save")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".hellotorch-probe")]


def test_a_missing_parent_folder_is_fine_and_is_not_created_by_the_check(tmp_path):
    target = tmp_path / "new" / "deeper" / "out.pt"
    assert check_output_file(target, option="--save") == target
    assert not (tmp_path / "new").exists()


def test_an_output_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="--results .*is a file, not a folder"):
        check_output_dir(tmp_path / "f", option="--results")
    assert check_output_dir(tmp_path / "fresh", option="--results") == tmp_path / "fresh"

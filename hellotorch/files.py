"""Writing files: atomically, with the umask's permissions, and checked before the work.

Every file hellotorch writes (checkpoints, reports, plots, baselines, tables)
goes through :func:`write_atomic`: the content is written to a temporary file
beside the target and renamed onto it, so a crash never leaves a half-written
file, and nothing is left behind when writing fails. ``mkstemp`` creates its
file mode 0600; the rename would carry that onto the target, so the temporary
file is given the mode a plain ``open()`` would have had (0666 less the umask)
before it is renamed: CI artifact viewers and shared results folders can read it.

:func:`check_output_file` and :func:`check_output_dir` are called by every
command before its work starts, so a bad ``--save`` path costs a second, not a
ten-minute run. They raise :class:`OutputError` naming the option and the path.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


class OutputError(ValueError):
    """An output path that cannot be written, named with the option that gave it."""


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back.
    current = os.umask(0)
    os.umask(current)
    return current


def default_file_mode() -> int:
    """The mode ``open(path, "w")`` would create a file with under the current umask."""
    return 0o666 & ~_umask()


def write_atomic(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(temp_path)``, then rename the result onto ``path``; return ``path``.

    The parent folder is created if missing. On any failure the temporary file
    is removed and the target is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temp)
        os.chmod(temp, default_file_mode())
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_atomic(path, lambda temp: Path(temp).write_text(text, encoding="utf-8"))


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def _check_can_create_in(folder: Path, *, option: str, target: Path) -> None:
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise OutputError(f"{option} {target}: {existing} is a file, not a folder")
    # Create and remove a probe file: os.access says yes to root everywhere,
    # and some folders (/proc, read-only mounts) refuse files whatever it says.
    try:
        handle, probe = tempfile.mkstemp(dir=existing, prefix=".hellotorch-probe-")
    except OSError as error:
        raise OutputError(f"{option} {target}: cannot write in {existing} ({error.strerror})") from None
    os.close(handle)
    os.unlink(probe)


def check_output_file(path: str | os.PathLike | None, *, option: str) -> Path | None:
    """Refuse, before any work, a file path that cannot be written (``None`` passes)."""
    if path is None:
        return None
    target = Path(path)
    if str(path).strip() == "":
        raise OutputError(f"{option}: empty path")
    if target.is_dir():
        raise OutputError(f"{option} {target}: is a folder; give a file name")
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputError(f"{option} {target}: file exists and is not writable")
    _check_can_create_in(target.parent, option=option, target=target)
    return target


def check_output_dir(path: str | os.PathLike | None, *, option: str) -> Path | None:
    """Refuse, before any work, a folder that cannot be created or written into."""
    if path is None:
        return None
    target = Path(path)
    if str(path).strip() == "":
        raise OutputError(f"{option}: empty path")
    if target.exists() and not target.is_dir():
        raise OutputError(f"{option} {target}: is a file, not a folder")
    _check_can_create_in(target, option=option, target=target)
    return target


#: Folders torch creates or opens when it is imported: a bad one would fail a command before its error policy runs.
CACHE_VARIABLES = ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")


def check_cache_folders(environ: dict[str, str] | None = None) -> None:
    """Refuse a cache folder variable that names a file or a folder that cannot be written, naming the variable."""
    environ = os.environ if environ is None else environ
    for name in CACHE_VARIABLES:
        value = environ.get(name)
        if value:
            check_output_dir(value, option=name)

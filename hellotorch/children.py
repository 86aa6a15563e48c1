"""Every child process hellotorch starts, through one launcher with one interrupt and timeout policy.

The pytest child of ``bench``, the fresh compile workers, torchrun (and so
its ranks) and each side of an A/B are started by :func:`run_child`:

- in a session (process group) of its own, so that stopping it stops
  everything it started, and a terminal's Ctrl-C reaches it only through
  this policy;
- set to die with its parent (Linux's ``PR_SET_PDEATHSIG``), so a SIGKILL of
  hellotorch leaves nothing running;
- on Ctrl-C or SIGTERM here (both arrive as ``KeyboardInterrupt``, see
  :func:`signals_as_interrupt`): SIGINT to the group, ``grace_s`` for it to
  write what it has, then SIGTERM, then SIGKILL; the interrupt goes on up;
- past ``timeout_s``: SIGTERM to the group, ``grace_s``, SIGKILL, and
  :class:`ChildTimedOut`.

A ground-floor module: no torch, no other hellotorch package.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Seconds a child gets, after SIGINT or SIGTERM, before the next signal.
GRACE_S = 10.0
_PR_SET_PDEATHSIG = 1


class ChildTimedOut(RuntimeError):
    """A child that ran past its time limit; its whole process group has been stopped."""


@dataclass(frozen=True)
class Finished:
    returncode: int
    #: the child's output, when captured (``capture=True``).
    stdout: str = ""
    stderr: str = ""


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; elsewhere nothing)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def watch_process(pid: int, *, every_s: float = 1.0, leftovers: Path | None = None) -> None:
    """SIGKILL this process as soon as process ``pid`` is gone: a daemon thread polling it.

    ``leftovers``: a folder the dead process would have removed (the
    launcher's temporary folder), removed first, so nothing of the run stays.

    ``PR_SET_PDEATHSIG`` fires when the parent *thread* that started this
    process exits, and torchrun's agent starts its ranks in a way that never
    fires it (a rank saw its parent's pid as 1 from its first line). A rank
    therefore watches the hellotorch process that launched torchrun, named in
    its request, whatever killed that process.
    """

    def alive() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def watch() -> None:
        while alive():
            time.sleep(every_s)
        if leftovers is not None:
            shutil.rmtree(leftovers, ignore_errors=True)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="hellotorch-watch", daemon=True).start()


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is still there (a zombie counts until it is reaped)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(child: subprocess.Popen, *, first: int = signal.SIGTERM, grace_s: float = GRACE_S) -> None:
    """``first`` to the child's whole group, then SIGTERM, then SIGKILL, each after ``grace_s``; reaped."""
    signals = [first] + [sig for sig in (signal.SIGTERM, signal.SIGKILL) if sig != first]
    for sig in signals:
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + (grace_s if sig != signal.SIGKILL else 5.0)
        while time.monotonic() < deadline and group_alive(child.pid):
            child.poll()  # reap the leader: a zombie still counts as a member of the group
            time.sleep(0.05)
        if not group_alive(child.pid):
            break
    child.wait()


def run_child(
    command: Sequence[str],
    *,
    cwd: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    output: Path | None = None,
    keep_stderr: bool = False,
    capture: bool = False,
    timeout_s: float | None = None,
    grace_s: float = GRACE_S,
    preexec: Callable[[], None] | None = None,
) -> Finished:
    """Run ``command`` to the end under the policy above; its output to ``output``, captured, or inherited.

    With ``keep_stderr``, only standard output goes to ``output``: standard
    error stays this process's (where a progress bar is drawn).
    """

    def setup() -> None:
        die_with_parent()
        if preexec is not None:
            preexec()

    sink = open(output, "w") if output is not None else None  # noqa: SIM115 (closed below, whatever happens)
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE} if capture else {}
    if sink is not None:
        streams = {"stdout": sink} if keep_stderr else {"stdout": sink, "stderr": subprocess.STDOUT}
    try:
        child = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            text=True,
            preexec_fn=setup,
            start_new_session=True,
            **streams,
        )
        try:
            out, err = child.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop_group(child, grace_s=grace_s)
            raise ChildTimedOut(f"timed out after {timeout_s:g} s; its process group was stopped") from None
        except BaseException:  # Ctrl-C or SIGTERM here: let the child write what it has, then make sure
            stop_group(child, first=signal.SIGINT, grace_s=grace_s)
            raise
        if group_alive(child.pid):  # the leader is gone; what it left in its group goes too
            stop_group(child, grace_s=1.0)
        return Finished(child.returncode, out or "", err or "")
    finally:
        if sink is not None:
            sink.close()


#: whether SIGINT or SIGTERM reached this process while :func:`signals_as_interrupt` was in force.
_SIGNALLED = {"yes": False}


def _signalled(signum, frame) -> None:
    _SIGNALLED["yes"] = True
    raise KeyboardInterrupt


@contextlib.contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """Within the block SIGINT and SIGTERM raise ``KeyboardInterrupt`` and are remembered.

    So a ``KeyboardInterrupt`` that no signal caused (raised by a model's own
    code) can be told from a user's Ctrl-C or a cancelled job
    (:func:`interrupted_by_signal`). The previous handlers come back after it;
    from a thread other than the main one it changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _SIGNALLED["yes"] = False
    previous = {number: signal.signal(number, _signalled) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def interrupted_by_signal() -> bool:
    return _SIGNALLED["yes"]

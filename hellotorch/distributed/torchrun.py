"""Launching a distributed case with PyTorch's own launcher, ``torchrun`` (``torch.distributed.run``).

:func:`launch_case` starts ``python -m torch.distributed.run --standalone
--nproc-per-node N -m hellotorch.distributed.worker REQUEST`` in a session (process
group) of its own, waits at most ``timeout_s``, and returns rank 0's report.
Whatever happens, the whole process group is gone when it returns:

- a rank that raises writes its reason, and torchrun stops the others;
- a rank that dies (a signal, ``os._exit``) is named from torchrun's summary;
- a rank that hangs (a collective nobody else joins) is stopped at the
  timeout, SIGTERM then SIGKILL to the group, and each rank's last phase is
  reported, so the reason says where it hung.

Each failure is :class:`LaunchFailed` with that reason, which the suite
records as the case's failure before going on to the next case.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hellotorch.children import ChildTimedOut, run_child
from hellotorch.measuring.thread_state import unbound_child
from hellotorch.profiles.cases import BenchCase
from hellotorch.settings import Measurement

#: seconds between SIGTERM and SIGKILL when the group must be stopped.
TERMINATE_GRACE_S = 5.0
#: collectives give up a little before the launcher's timeout would stop them.
COLLECTIVE_MARGIN_S = 10.0


class LaunchFailed(RuntimeError):
    """A distributed case that did not finish; the message is the recorded reason."""


@dataclass(frozen=True)
class Launch:
    """What torchrun is asked to run, and for how long at most."""

    case: BenchCase
    #: the profile's measurement settings, whole: the ranks honour every one of them.
    measurement: Measurement
    #: train the parity curve only (``train --nproc``, ``parity --nproc``): no timing, no pairs.
    curve_only: bool = False
    timeout_s: float = 900.0
    python: str = sys.executable
    #: how long a collective waits for a missing rank (default: just under ``timeout_s``).
    collective_timeout_s: float | None = None

    @property
    def collective_timeout(self) -> float:
        if self.collective_timeout_s is not None:
            return self.collective_timeout_s
        return max(10.0, self.timeout_s - COLLECTIVE_MARGIN_S)


def rank_threads(world_size: int) -> int:
    """CPU threads per rank: the cores shared out, at least one each."""
    return max(1, torch.get_num_threads() // world_size)


def torchrun_command(launch: Launch, request: Path) -> list[str]:
    return [
        launch.python,
        "-m",
        "torch.distributed.run",
        "--standalone",  # rendezvous on a free local port: cases never collide
        f"--nproc-per-node={launch.case.world_size}",
        "--max-restarts=0",
        "-m",
        "hellotorch.distributed.worker",
        str(request),
    ]


def _phases(out_dir: Path, world_size: int) -> str:
    parts = []
    for rank in range(world_size):
        phase = out_dir / f"rank{rank}.phase"
        parts.append(f"rank {rank}: {phase.read_text() if phase.exists() else 'not started'}")
    return "; ".join(parts)


def _crash_reason(out_dir: Path, world_size: int, output: str, returncode: int) -> str:
    """Why the ranks failed: the ranks that died first (the cause), then what the others reported."""
    errors = {
        rank: (out_dir / f"rank{rank}.error").read_text()
        for rank in range(world_size)
        if (out_dir / f"rank{rank}.error").exists()
    }
    deaths = []
    # torchrun's failure summary gives each failed rank's exit code; a rank that
    # died without a Python error (a signal, os._exit, the OOM killer) is the
    # cause, and SIGTERM is torchrun stopping the survivors.
    for rank, code in dict.fromkeys(re.findall(r"rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)", output, flags=re.S)):
        number = int(code)
        if int(rank) in errors or number in (0, -signal.SIGTERM):
            continue
        how = f"killed by {signal.Signals(-number).name}" if number < 0 else f"exit status {number}"
        deaths.append(f"rank {rank} died ({how})")
    reasons = deaths + [f"rank {rank}: {text}" for rank, text in sorted(errors.items())]
    if reasons:
        return "; ".join(reasons)
    return f"torchrun exited with status {returncode}: {output.strip().splitlines()[-1:] or 'no output'}"


def request_payload(launch: Launch, out_dir: Path) -> dict[str, Any]:
    """What the ranks are asked to do: the case and the measurement, each serialised whole."""
    return {
        "case": dataclasses.asdict(launch.case),
        "measurement": launch.measurement.to_json(),
        "curve_only": launch.curve_only,
        "out_dir": str(out_dir),
        "collective_timeout_s": launch.collective_timeout,
        # The ranks watch this process: torchrun dies with it (hellotorch.children), the ranks by this.
        "launcher_pid": os.getpid(),
    }


def launch_case(launch: Launch) -> dict[str, Any]:
    """Run the case under torchrun; rank 0's report, or :class:`LaunchFailed` with the reason."""
    world_size = launch.case.world_size
    with tempfile.TemporaryDirectory(prefix="hellotorch-dist-") as folder:
        out_dir = Path(folder)
        request = out_dir / "request.json"
        request.write_text(json.dumps(request_payload(launch, out_dir)))
        env, preexec = unbound_child(  # ranks bound to the bench process's one core would share it
            dict(
                os.environ,
                HELLOTORCH_THREADS=str(rank_threads(world_size)),
                OMP_NUM_THREADS=str(rank_threads(world_size)),
            )
        )
        log = out_dir / "torchrun.log"
        started = time.monotonic()
        try:
            # Whatever ends it (exit, timeout, Ctrl-C, hellotorch killed), nothing of the group is left running.
            returncode = run_child(
                torchrun_command(launch, request),
                env=env,
                preexec=preexec,
                output=log,
                timeout_s=launch.timeout_s,
                grace_s=TERMINATE_GRACE_S,
            ).returncode
        except ChildTimedOut:
            raise LaunchFailed(
                f"timed out after {launch.timeout_s:g} s, stopped (a rank hung or a collective stalled): "
                f"{_phases(out_dir, world_size)}"
            ) from None
        elapsed = time.monotonic() - started
        output = log.read_text(errors="replace")
        report_path = out_dir / "report.json"
        if returncode != 0 or not report_path.exists():
            reason = _crash_reason(out_dir, world_size, output, returncode)
            raise LaunchFailed(f"{reason} (after {elapsed:.0f} s; last phases: {_phases(out_dir, world_size)})")
        report = json.loads(report_path.read_text())
    report["launch_s"] = elapsed
    return report

"""pytest-benchmark wiring for the hellotorch suite.

Run it through ``make bench`` / ``hellotorch bench`` (which name the run
folder), or directly: ``pytest bench --hellotorch-profile smoke``.

This file only connects hellotorch to pytest and pytest-benchmark:
- options choosing the profile, device and run folder;
- the case grid, parametrized from the profile with each case's id;
- pytest-benchmark's timer (CUDA-synchronised), rounds and groups, through
  its ``benchmark`` marker;
- machine metadata (torch, CUDA, GPU, CPU, threads, compiler, commit) through
  ``pytest_benchmark_update_machine_info``; failed cases and run facts through
  ``pytest_benchmark_update_json``;
- the crash-safe run files (:mod:`hellotorch.runfiles`);
- case k of N and the time left (:mod:`hellotorch.suite.progress_plugin`).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
import torch

from hellotorch import runfiles
from hellotorch.distributed.bench import DEFAULT_TIMEOUT_S, SlowestRankTimer
from hellotorch.measuring import machine
from hellotorch.measuring.allocator import apply_allocator_policy
from hellotorch.measuring.clock import synchronized_clock
from hellotorch.measuring.host_load import HostMonitor
from hellotorch.measuring.host_speed import read_host_speed
from hellotorch.measuring.peaks import device_peaks
from hellotorch.measuring.thread_state import ThreadStateMonitor
from hellotorch.profiles.cases import Profile
from hellotorch.profiles.named import build_profile
from hellotorch.progress import STYLES
from hellotorch.suite.progress_plugin import CaseProgress
from hellotorch.training.devices import set_threads

# Rounds shorter than this are dominated by the clock (and, on CUDA, the sync).
MIN_ROUND_SECONDS = 0.002


def pytest_addoption(parser):
    group = parser.getgroup("hellotorch")
    group.addoption(
        "--hellotorch-profile",
        default="quick",
        help="smoke, quick, compile, dist or full (default quick), or a profile file",
    )
    group.addoption(
        "--hellotorch-plan",
        default=None,
        help="a plan.json that `hellotorch bench` resolved (replaces --hellotorch-profile, -case and -nproc)",
    )
    group.addoption("--hellotorch-device", default="cpu", help="cpu, cuda or all (default cpu)")
    group.addoption("--hellotorch-run-dir", default=None, help="run folder for the journal and loss curves")
    group.addoption("--hellotorch-threads", type=int, default=None, help="CPU threads (default: PyTorch's)")
    group.addoption("--hellotorch-case", action="append", default=[], help="run only this case id (repeatable)")
    group.addoption("--hellotorch-nproc", type=int, default=None, help="ranks of the distributed cases")
    group.addoption(
        "--hellotorch-dist-timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds a distributed case may run before its ranks are stopped (default {DEFAULT_TIMEOUT_S:g})",
    )
    group.addoption(
        "--hellotorch-progress",
        default="lines",
        choices=STYLES,
        help="case k of N and the time left: bar (a terminal), lines (logs) or off (default lines)",
    )


class RunState:
    """What the session learns as it goes: the profile, failures, the run folder."""

    def __init__(self, config):
        devices = config.getoption("--hellotorch-device")
        self.devices = ("cpu", "cuda") if devices == "all" else (devices,)
        for device in self.devices:
            if device not in ("cpu", "cuda"):
                raise pytest.UsageError(f"unknown device {device!r}; choose one of: cpu, cuda, all")
        self.profile = _plan(config, self.devices)
        run_dir = config.getoption("--hellotorch-run-dir")
        self.run_dir = Path(run_dir) if run_dir else None
        #: this run's identity wherever its folder is moved or renamed: the history keys runs by it.
        self.run_id = uuid.uuid4().hex
        self.failed: list[dict[str, str]] = []
        self.parity_failed: list[dict[str, str]] = []
        self.finished = 0
        #: set by Ctrl-C; the case it stopped, if it stopped one mid-measurement.
        self.interrupted = False
        self.interrupted_case: str | None = None
        self.session: pytest.Session | None = None
        self.peaks: dict[str, dict[str, float]] | None = None
        #: cases left after -k and other deselection: what this run set out to finish.
        self.selected: int | None = None
        #: the CPU threads' state, probed through the whole run (hellotorch.measuring.thread_state).
        self.thread_state = ThreadStateMonitor()
        #: the machine's load, read around every case (hellotorch.measuring.host_load).
        self.host = HostMonitor()
        #: the host's speed, read around every CPU case (hellotorch.measuring.host_speed).
        self.host_speed = read_host_speed


def _plan(config, devices: tuple[str, ...]) -> Profile:
    """The plan this session runs: the parent's ``plan.json`` as it is, or (pytest run by hand) built here."""
    plan = config.getoption("--hellotorch-plan")
    if plan is not None:
        return Profile.from_json(json.loads(Path(plan).read_text()))
    try:
        return build_profile(
            config.getoption("--hellotorch-profile"),
            devices=devices,
            only=config.getoption("--hellotorch-case"),
            nproc=config.getoption("--hellotorch-nproc"),
        )
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


def pytest_configure(config):
    # Fixed before anything compiles: Inductor specialises CPU code to it.
    set_threads(config.getoption("--hellotorch-threads"))
    config._hellotorch = RunState(config)
    # Before the first model is built: its buffers are then kept, not page-faulted in again every step.
    apply_allocator_policy(config._hellotorch.profile.measurement.steady_allocator)
    style = config.getoption("--hellotorch-progress")
    if style != "off":
        config.pluginmanager.register(CaseProgress(config, style), "hellotorch-progress")


def _peaks(state: RunState) -> dict[str, dict[str, float]]:
    """Each device's peak GFLOP/s per dtype, for MFU: measured (CPU) or looked up (GPU) once per run."""
    if state.peaks is None:
        usable = [d for d in state.devices if d == "cpu" or torch.cuda.is_available()]
        state.peaks = {device: device_peaks(device) for device in usable}
    return state.peaks


def pytest_generate_tests(metafunc):
    if "case" not in metafunc.fixturenames:
        return
    state = metafunc.config._hellotorch
    params = []
    for case in state.profile.cases:
        marks = [
            pytest.mark.benchmark(
                group=f"{case.task}-{case.device}-{case.model}",
                # A distributed case is timed on its ranks; its own timer replays their rounds.
                timer=SlowestRankTimer() if case.distributed else synchronized_clock,
                max_time=state.profile.max_time,
                min_rounds=state.profile.min_rounds,
                min_time=MIN_ROUND_SECONDS,
                warmup=False,  # measure_case warms up itself, and times the compile apart
            )
        ]
        if case.device == "cuda" and not torch.cuda.is_available():
            marks.append(
                pytest.mark.skip(reason="CUDA is not available on this machine (torch.cuda.is_available() is False)")
            )
        params.append(pytest.param(case, id=case.id, marks=marks))
    metafunc.parametrize("case", params)


@pytest.fixture
def run_state(request):
    state = request.config._hellotorch
    _peaks(state)
    return state


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["hellotorch"] = machine.collect()
    state = getattr(config, "_hellotorch", None)
    for device, peaks in (state.peaks or {}).items() if state is not None else ():
        for dtype, gflops in peaks.items():
            machine_info["hellotorch"][f"peak_gflops_{device}_{dtype}"] = round(gflops)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    state = getattr(config, "_hellotorch", None)
    if state is None:
        return
    # pytest sets INTERRUPTED before pytest-benchmark writes this JSON, so the JSON can say so.
    if state.session is not None and state.session.exitstatus == pytest.ExitCode.INTERRUPTED:
        state.interrupted = True
    output_json["hellotorch"] = {
        "run_id": state.run_id,
        "profile": state.profile.name,
        "devices": list(state.devices),
        "threads": torch.get_num_threads(),
        "cases_planned": state.selected if state.selected is not None else len(state.profile.cases),
        "cases_finished": state.finished,
        "failed": state.failed,
        "parity_failed": state.parity_failed,
        "interrupted": state.interrupted,
        **({"interrupted_case": state.interrupted_case} if state.interrupted_case else {}),
        "inductor_cache_dir": os.environ.get("TORCHINDUCTOR_CACHE_DIR", "default"),
        **({"shard": state.profile.shard} if state.profile.shard else {}),
    }


def pytest_collection_finish(session):
    state = getattr(session.config, "_hellotorch", None)
    if state is not None:
        state.selected = sum(
            1
            for item in session.items
            if "case" in getattr(item, "fixturenames", ()) and item.get_closest_marker("skip") is None
        )


def pytest_sessionstart(session):
    state = getattr(session.config, "_hellotorch", None)
    if state is not None:
        state.session = session


def pytest_sessionfinish(session, exitstatus):
    # pytest-benchmark wrote its JSON in its own (wrapping) sessionfinish,
    # before this runs; only now is a .partial file complete.
    target = session.config.getoption("benchmark_json", None)
    if target is None:
        return
    # pytest-benchmark < 5.3 hands over an open file, 5.3 and later a Path.
    path = Path(target) if isinstance(target, (str, os.PathLike)) else Path(target.name)
    if path.name.endswith(runfiles.PARTIAL_SUFFIX):
        runfiles.finalize_json(path)

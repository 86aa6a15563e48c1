"""Launching a profile of the pytest-benchmark suite: profile in, run folder out.

:func:`run_suite` validates the request before anything is created, names a
fresh run folder, runs the suite the package ships (:mod:`hellotorch.suite.benchsuite`)
in a pytest child, lets an interrupted run finish writing, then reads the
journal. ``bench`` and ``gate --confirm`` both call it.

A request that can run nothing (CUDA asked for where there is none, a ``-k``
that matches no case) raises :class:`~hellotorch.errors.NothingToRun` and
leaves no run folder behind. With ``HELLOTORCH_BIND_THREADS=1`` the child
starts with its threads bound to cores (:mod:`hellotorch.measuring.thread_state`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hellotorch.children import run_child
from hellotorch.distributed.strategies import check_ranks_fit
from hellotorch.errors import BadInput, NothingToRun
from hellotorch.files import check_output_dir, write_text_atomic
from hellotorch.measuring.thread_state import binding_requested, bound_child
from hellotorch.profiles.cases import Profile
from hellotorch.profiles.file import models_profile_text
from hellotorch.profiles.named import build_profile
from hellotorch.progress import style_for
from hellotorch.runfiles import BENCHMARK_JSON, PLAN, JournalError, new_run_dir, read_journal
from hellotorch.settings import is_profile_file
from hellotorch.suite.keyword import check_keyword, select_by_keyword
from hellotorch.suite.shards import Shard, sharded_plan
from hellotorch.training.devices import environment_threads

#: The suite the package ships (a checkout's bench/ re-exports it): runs wherever hellotorch is installed.
SUITE_DIR = Path(__file__).resolve().parent / "benchsuite"
DEVICE_CHOICES = {"cpu": ("cpu",), "cuda": ("cuda",), "all": ("cpu", "cuda")}
#: pytest's exit statuses that matter here.
PYTEST_OK, PYTEST_TESTS_FAILED, PYTEST_INTERRUPTED, PYTEST_USAGE_ERROR, PYTEST_NO_TESTS = 0, 1, 2, 4, 5
#: every status pytest itself exits with (3: its internal error).
PYTEST_STATUSES = (0, 1, 2, 3, 4, 5)
#: a plan estimated past this many seconds starts only when asked to (``bench --long``).
LONG_PLAN_SECONDS = 6 * 3600
#: the child's status when the run folder cannot be written (a full disk, a quota, a file-size limit).
PYTEST_STORAGE_FULL = 75
#: pytest's own output, when a terminal shows the progress bar instead.
PYTEST_LOG = "pytest.log"
#: How long an interrupted pytest gets to write its JSON before it is signalled again.
INTERRUPT_GRACE_S = 10


@dataclass(frozen=True)
class SuiteOutcome:
    """What a launched profile left behind."""

    run_dir: Path
    profile: Profile
    #: journal records of the cases that finished (ok, failed or parity-failed).
    finished: list[dict[str, Any]]
    #: ``{"id", "reason"}`` of every case that failed.
    failed: list[dict[str, str]]
    interrupted: bool
    pytest_status: int

    @property
    def planned(self) -> int:
        """Cases this run set out to finish: the profile's, less what -k deselected (as the JSON says)."""
        if self.json_path is not None:
            try:
                meta = json.loads(self.json_path.read_text()).get("hellotorch", {})
                if isinstance(meta.get("cases_planned"), int):
                    return meta["cases_planned"]
            except (OSError, ValueError, AttributeError):
                pass
        return len(self.profile.cases)

    @property
    def disturbed(self) -> list[dict[str, str]]:
        """``{"id", "evidence"}`` of every finished case measured on a machine that never became fit."""
        return [
            {"id": r["id"], "evidence": r["extra_info"].get("host_evidence", "")}
            for r in self.finished
            if r["extra_info"].get("host_state") == "disturbed"
        ]

    @property
    def json_path(self) -> Path | None:
        path = self.run_dir / BENCHMARK_JSON
        return path if path.is_file() else None


def resolve_devices(device: str) -> tuple[str, ...]:
    if device not in DEVICE_CHOICES:
        raise BadInput(f"unknown device {device!r}; choose one of: {', '.join(DEVICE_CHOICES)}")
    return DEVICE_CHOICES[device]


def _runnable_here(devices: tuple[str, ...]) -> None:
    if all(device == "cuda" for device in devices) and not torch.cuda.is_available():
        raise NothingToRun(
            "--device cuda: CUDA is not available on this machine (torch.cuda.is_available() is False); "
            "nothing to run, no run folder created"
        )


def _pytest_command(
    plan_path: Path,
    device: str,
    run_dir: Path,
    *,
    threads: int | None,
    dist_timeout_s: float | None = None,
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(SUITE_DIR),
        f"--rootdir={SUITE_DIR}",
        "-p",
        "no:cacheprovider",
        "-v",
        "-rfEs",
        f"--hellotorch-plan={plan_path}",
        f"--hellotorch-device={device}",
        f"--hellotorch-run-dir={run_dir}",
        f"--benchmark-json={run_dir / (BENCHMARK_JSON + '.partial')}",
        "--benchmark-columns=median,iqr,rounds",
        # "Not saving anything" when -k selects nothing: hellotorch says so itself, in one line.
        "-W",
        "ignore::pytest_benchmark.logger.PytestBenchmarkWarning",
        "--benchmark-sort=name",
    ]
    if threads:
        command.append(f"--hellotorch-threads={threads}")
    if dist_timeout_s is not None:
        command.append(f"--hellotorch-dist-timeout={dist_timeout_s}")
    return command


def _run_pytest(
    command: list[str], *, cwd: Path, env: dict[str, str], preexec, log: Path | None = None
) -> tuple[int, bool]:
    """pytest's exit status, and whether this process was interrupted meanwhile.

    With ``log``, pytest's own lines go there and the terminal keeps the progress bar.

    Interrupted (Ctrl-C, SIGTERM), the launcher (:mod:`hellotorch.children`)
    gives pytest SIGINT and time to write what it has; the run is then read
    as any other, marked interrupted.
    """
    try:
        finished = run_child(
            command, cwd=cwd, env=env, preexec=preexec, grace_s=INTERRUPT_GRACE_S, output=log, keep_stderr=True
        )
        return finished.returncode, False
    except KeyboardInterrupt:
        return PYTEST_INTERRUPTED, True


def _refuse_full_storage(status: int, run_dir: Path) -> None:
    """A child stopped by a full disk or a file-size limit is the environment's failure (exit 2), said as such."""
    by_limit = status == -signal.SIGXFSZ
    by_disk = status == PYTEST_STORAGE_FULL or (
        status not in (PYTEST_OK, PYTEST_TESTS_FAILED, PYTEST_INTERRUPTED, PYTEST_NO_TESTS)
        and shutil.disk_usage(run_dir).free < 1 << 20
    )
    if by_limit or by_disk:
        why = (
            "a file-size limit (ulimit -f)" if by_limit else "a full disk, a quota or a file-size limit, as said above"
        )
        raise BadInput(
            f"the run folder {run_dir} could not be written ({why}); the cases finished so far are in it. "
            "Free space or raise the limit, then run again"
        )


def run_suite(
    *,
    profile: str,
    device: str = "cpu",
    results_root: str | Path,
    cases: Sequence[str] = (),
    keyword: str | None = None,
    threads: int | None = None,
    models: Sequence[str] = (),
    nproc: int | None = None,
    dist_timeout_s: float | None = None,
    long_ok: bool = False,
    on_plan: Callable[[Profile, float], None] | None = None,
    shard: Shard | None = None,
) -> SuiteOutcome:
    """Run ``profile`` on ``device`` (cpu, cuda or all) into a new run folder under ``results_root``.

    ``models``, when given, replaces the profile with the default matrix of
    those models (:func:`hellotorch.profiles.file.models_profile_text`), kept
    in the run folder as ``models.toml``. ``nproc`` sets the ranks of the
    profile's distributed cases; ``dist_timeout_s`` how long one may run.
    ``on_plan`` hears the plan and its estimated seconds before anything
    starts; a plan estimated past :data:`LONG_PLAN_SECONDS` is refused unless
    ``long_ok``. ``shard`` runs one slice of the plan (:mod:`hellotorch.suite.shards`).
    """
    devices = resolve_devices(device)
    check_keyword(keyword)
    try:
        progress = style_for(sys.stdout)
        bind = binding_requested()
        environment_threads()  # the child would refuse it after the run folder exists
    except ValueError as error:
        raise BadInput(str(error)) from None
    root = check_output_dir(results_root, option="--results")
    staging = None
    if models:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".hellotorch-", dir=root))
        profile = str(staging / "models.toml")
        Path(profile).write_text(models_profile_text(models))
    try:
        if is_profile_file(profile):
            profile = str(Path(profile).resolve())  # the child runs elsewhere
        try:
            plan = build_profile(profile, devices=devices, only=cases, nproc=nproc)
        except ValueError as error:
            if staging is None:
                raise
            raise BadInput(str(error).split(": models: ", 1)[-1]) from None  # name the model, not the staged file
        if keyword:
            cases = select_by_keyword(keyword, [case.id for case in plan.cases])
            if not cases:
                raise NothingToRun(
                    f"nothing ran: -k {keyword!r} matches no case of profile {plan.name}; no run folder kept"
                )
            # Applied here to the case ids: pytest's -k would also match folder names.
            plan = dataclasses.replace(plan, cases=tuple(case for case in plan.cases if case.id in set(cases)))
        if shard is not None:
            plan = sharded_plan(plan, shard)
        _runnable_here(devices)
        for planned in plan.cases:
            check_ranks_fit(device=planned.device, world_size=planned.world_size)
        estimate = plan.estimated_seconds()
        if estimate > LONG_PLAN_SECONDS and not long_ok:
            raise BadInput(
                f"profile {plan.name} plans {len(plan.cases)} cases, about {estimate / 3600:.0f} h here; "
                "narrow it (--case, -k, a smaller profile) or pass --long to run it"
            )
        if on_plan is not None:
            on_plan(plan, estimate)
        label = plan.name if shard is None else f"{plan.name}-shard{shard.index + 1}of{shard.count}"
        run_dir = new_run_dir(root.resolve(), device=device, profile=label)
        if staging is not None:
            profile = str(shutil.move(profile, run_dir / "models.toml"))
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    # The plan is built and validated once, here; the child runs it as it is (plug-ins are not re-checked).
    plan_path = write_text_atomic(run_dir / PLAN, json.dumps(plan.to_json(), indent=1))
    command = _pytest_command(plan_path, device, run_dir, threads=threads, dist_timeout_s=dist_timeout_s)
    command.append(f"--hellotorch-progress={progress}")
    # On a terminal the progress bar is the one line that updates: pytest's own lines go to a log.
    log = run_dir / PYTEST_LOG if progress == "bar" else None
    # Plug-in models beside the user's code stay importable from the child, which
    # runs from the run folder: nothing pytest writes lands in the package.
    path = os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    env, preexec = bound_child(env) if bind else (env, None)
    status, interrupted = _run_pytest(command, cwd=run_dir, env=env, preexec=preexec, log=log)
    storage = run_dir / ".benchmarks"  # pytest-benchmark's storage, created even when nothing is saved there
    if storage.is_dir() and not any(storage.iterdir()):
        storage.rmdir()
    interrupted = interrupted or status == PYTEST_INTERRUPTED
    _refuse_full_storage(status, run_dir)
    try:
        journal = read_journal(run_dir)
    except JournalError as error:
        raise BadInput(str(error)) from error
    if status == PYTEST_USAGE_ERROR:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise BadInput("pytest refused the request (usage error above: a malformed -k expression?)")
    if not journal and not interrupted and status in (PYTEST_OK, PYTEST_NO_TESTS):
        shutil.rmtree(run_dir, ignore_errors=True)
        what = f"-k {keyword!r} matches no case of profile {plan.name}" if keyword else "every case was skipped"
        raise NothingToRun(f"nothing ran: {what} (reasons above); no run folder kept")
    finished = [r for r in journal if r.get("extra_info", {}).get("status") != "interrupted"]
    failed = [
        {"id": r["id"], "reason": r["extra_info"].get("failure") or r["extra_info"].get("parity_reason") or "failed"}
        for r in finished
        if r["extra_info"].get("status") not in ("ok", None)
    ]
    return SuiteOutcome(run_dir, plan, finished, failed, interrupted, status)

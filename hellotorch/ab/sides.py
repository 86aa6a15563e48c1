"""The request and the two sides of an A/B (:mod:`hellotorch.ab.run`): the options, each side's code, one fresh process of it.

A side is a Python interpreter and, for a git ref, a detached ``git
worktree`` of the repository at that ref, removed afterwards (even on
Ctrl-C). Its process runs that checkout's ``hellotorch bench`` with the
checkout first on ``PYTHONPATH``, passing only options every hellotorch
version has, so an older commit can still be a side.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import tomllib

from hellotorch.children import run_child
from hellotorch.errors import BadInput
from hellotorch.results.runs import Run, load_run
from hellotorch.settings import is_profile_file, measurement_from_file, profile_measurement

#: the per-process step time an A/B compares, by name: the record field it reads. "reference" is the step
#: in units of the fixed reference workload (hellotorch.measuring.reference_workload; a profile with ``reference = true``).
STATISTICS = {"median": "median_s", "min": "min_s", "reference": "step_per_reference"}
#: the default: "reference" where the profile measures it and both sides run one interpreter, else "median".
AUTO = "auto"
DEFAULT_THRESHOLD = 0.02
DEFAULT_CONFIDENCE = 0.95
MIN_PAIRS = 3


@dataclass(frozen=True)
class AbOptions:
    profile: str = "quick"
    device: str = "cpu"
    keyword: str | None = None
    cases: tuple[str, ...] = ()
    threads: int | None = None
    min_pairs: int = MIN_PAIRS
    max_pairs: int = MIN_PAIRS
    threshold: float = DEFAULT_THRESHOLD
    confidence: float = DEFAULT_CONFIDENCE
    #: which per-process step time is compared: "median", "min" or "reference" (see STATISTICS).
    statistic: str = "median"

    def __post_init__(self) -> None:
        if self.statistic not in STATISTICS:
            raise BadInput(f"--statistic {self.statistic}: choose one of {', '.join(STATISTICS)}")
        if self.min_pairs < MIN_PAIRS:
            raise BadInput(f"--pairs: an A/B needs at least {MIN_PAIRS} pairs for an interval, got {self.min_pairs}")
        if self.max_pairs < self.min_pairs:
            raise BadInput(f"--max-pairs ({self.max_pairs}) must be at least --pairs ({self.min_pairs})")
        if not (math.isfinite(self.threshold) and 0 <= self.threshold < 1):
            raise BadInput(f"--threshold must be a fraction in [0, 1), got {self.threshold}")
        if not (0.5 <= self.confidence < 1):
            raise BadInput(f"--confidence must be in [0.5, 1), got {self.confidence}")


def committed_profile_text(repo: Path, commit: str, profile: str) -> str | None:
    """A profile file as ``commit`` holds it (what that side runs), or None where the commit has no such file.

    A side of a git ref runs its own checkout, so the working folder's copy,
    edited and not committed, is not what it measures.
    """
    if not is_profile_file(profile):
        return None
    path = Path(profile)
    try:
        relative = (path.resolve() if path.is_absolute() else (Path.cwd() / path).resolve()).relative_to(repo)
    except ValueError:
        return None  # outside the repository: every side reads the same file from disk
    done = subprocess.run(
        ["git", "-C", str(repo), "show", f"{commit}:{relative.as_posix()}"], capture_output=True, text=True
    )
    return done.stdout if done.returncode == 0 else None


def _profile_times_reference(
    profile: str, *, folders: tuple[Path, ...], repo: Path | None = None, commits: tuple[str, ...] = ()
) -> bool:
    """Whether ``profile`` times its cases against the reference workload, on every side.

    For a side of a git ref the profile file is read as its commit holds it
    (:func:`committed_profile_text`); otherwise it is looked for in
    ``folders`` in turn. A file found nowhere, or unreadable, does not.
    """
    try:
        texts = [committed_profile_text(repo, commit, profile) for commit in commits] if repo else []
        if texts and all(text is not None for text in texts):
            where = f"profile file {profile} as committed"
            measurements = [measurement_from_file(tomllib.loads(text), where=where) for text in texts]
            return all(measurement.reference for measurement in measurements)
        measurement = profile_measurement(profile, folders=folders)
    except (ValueError, tomllib.TOMLDecodeError):
        return False
    return measurement is not None and measurement.reference


def choose_statistic(
    requested: str,
    *,
    profile: str,
    one_interpreter: bool,
    folders: tuple[Path, ...] = (),
    repo: Path | None = None,
    commits: tuple[str, ...] = (),
) -> str:
    """The statistic an A/B compares; ``auto`` picks ``reference`` where it is both measured and meaningful.

    ``reference`` cancels how fast each process ran, which the medians do
    not (docs/trials.md, the regression trials), but it compares code
    on one PyTorch: two interpreters may hold two PyTorch versions, whose
    reference workloads differ, so ``auto`` is ``median`` there and where
    the profile does not time its cases against the reference. Bad input
    (one line, before any side runs): an unknown name, or ``reference`` on
    a profile that does not measure it. A profile file is looked for in
    ``folders`` (the working folder, the repository the refs belong to), or,
    with ``commits``, read as each of those commits of ``repo`` holds it.
    """
    if requested not in (*STATISTICS, AUTO):
        raise BadInput(f"--statistic {requested}: choose one of {', '.join((AUTO, *STATISTICS))}")
    measured = _profile_times_reference(profile, folders=folders or (Path.cwd(),), repo=repo, commits=commits)
    if requested == "reference" and not measured:
        raise BadInput(
            f"--statistic reference: profile {profile!r} does not time its cases against the reference "
            "workload; use a profile file with reference = true (bench/trials.toml has it)"
        )
    if requested != AUTO:
        return requested
    return "reference" if one_interpreter and measured else "median"


@dataclass(frozen=True)
class Side:
    """One arm of an A/B: an interpreter, and a checkout when it is a git ref."""

    name: str
    python: str
    ref: str | None = None
    commit: str | None = None
    #: the worktree holding ``ref`` (set once checked out).
    source: Path | None = None

    @property
    def describe(self) -> str:
        what = f"{self.ref} ({self.commit[:12]})" if self.ref and self.commit else "this checkout"
        return f"{what}, {self.python}"


def _git(repo: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *arguments], capture_output=True, text=True)


def resolve_ref(repo: Path, ref: str, *, option: str) -> str:
    """The commit ``ref`` names in ``repo``; one line naming the option when it names none."""
    if shutil.which("git") is None:
        raise BadInput(f"{option} {ref}: git is not installed")
    found = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if found.returncode != 0:
        raise BadInput(f"{option} {ref}: not a commit of the repository at {repo}")
    return found.stdout.strip()


def check_python(python: str, *, option: str) -> str:
    """The interpreter's path; it must run and import torch."""
    found = shutil.which(python)
    if found is None:
        raise BadInput(f"{option} {python}: no such executable")
    probe = subprocess.run([found, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["failed"])[-1]
        raise BadInput(f"{option} {python}: cannot import torch ({last})")
    return found


@contextlib.contextmanager
def checked_out(repo: Path, sides: list[Side]) -> Iterator[list[Side]]:
    """Each ref side in a detached worktree of its own, removed afterwards (even on Ctrl-C)."""
    scratch = Path(tempfile.mkdtemp(prefix="hellotorch-ab-"))
    ready, added = [], []
    try:
        for side in sides:
            if side.ref is None:
                ready.append(side)
                continue
            tree = scratch / side.name
            made = _git(repo, "worktree", "add", "--detach", "--quiet", str(tree), side.commit or side.ref)
            if made.returncode != 0:
                raise BadInput(f"--{side.name} {side.ref}: git worktree add failed: {made.stderr.strip()[:200]}")
            added.append(tree)
            ready.append(Side(side.name, side.python, side.ref, side.commit, tree))
        yield ready
    finally:
        for tree in added:
            _git(repo, "worktree", "remove", "--force", str(tree))
        _git(repo, "worktree", "prune")
        shutil.rmtree(scratch, ignore_errors=True)


def side_command(side: Side, options: AbOptions, results: Path) -> list[str]:
    """The side's own ``hellotorch bench``, with only options every hellotorch version has."""
    command = [side.python, "-m", "hellotorch", "bench", "--profile", options.profile, "--device", options.device]
    command += ["--results", str(results), "--no-report"]
    if options.keyword:
        command += ["-k", options.keyword]
    for case in options.cases:
        command += ["--case", case]
    if options.threads:
        command += ["--threads", str(options.threads)]
    return command


def side_environment(side: Side) -> tuple[dict[str, str], Path]:
    """(environment, working folder) of a side's process: its checkout first on the path."""
    here = Path(__file__).resolve().parent.parent  # the hellotorch that runs this A/B
    source = side.source or Path.cwd()
    path = [str(source)] + ([] if side.source else [str(here)])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*path, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    env["HELLOTORCH_GIT_DIR"] = str(source)
    return env, source


class SideFailed(BadInput):
    """A side's process failed; ``environmental`` when the machine, not the request, is the likely cause."""

    def __init__(self, message: str, *, environmental: bool) -> None:
        super().__init__(message)
        self.environmental = environmental


#: what a side's log says when the machine, not the code or the request, failed it (bounded retries).
ENVIRONMENTAL = ("Resource temporarily unavailable", "Thread creation failed", "Cannot allocate memory", "MemoryError")


def run_side(side: Side, options: AbOptions, results: Path, log: Path) -> Run:
    """One fresh process of ``side``; its run. A side that refuses the request is bad input (exit 2).

    A side whose bench exits 2 with a finished run had disturbed cases (the
    machine was busy): its run is read, and those cases count as not measured.
    A side that crashed, was killed, or whose log names a machine-wide
    failure (``libgomp: Thread creation failed``) raises :class:`SideFailed`
    marked environmental, which :func:`hellotorch.ab.run.run_ab` retries.
    """
    env, cwd = side_environment(side)
    # Interrupted, the side gets SIGINT and time to stop its own pytest (hellotorch.children).
    status = run_child(side_command(side, options, results), cwd=cwd, env=env, output=log).returncode
    if status == 130:
        raise KeyboardInterrupt
    text = log.read_text(errors="replace")
    lines = text.strip().splitlines() or ["no output"]
    runs = sorted(run for run in results.glob("run-*") if (run / "benchmark.json").is_file())
    if status in (0, 1, 2) and runs:
        return load_run(runs[-1])
    environmental = status not in (0, 1, 2) or any(pattern in text for pattern in ENVIRONMENTAL)
    if status == 2 and not environmental:
        raise SideFailed(
            f"the {side.name} side ({side.describe}) refused the request: {lines[-1][:200]}", environmental=False
        )
    raise SideFailed(
        f"the {side.name} side ({side.describe}) failed with exit {status}: {lines[-1][:200]} (log {log})",
        environmental=environmental,
    )

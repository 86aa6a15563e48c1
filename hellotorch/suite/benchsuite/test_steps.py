"""The benchmark matrix: one test per case of the chosen profile.

Each test measures its case with :func:`hellotorch.suite.measure_case.measure_case`
(pytest-benchmark times the steady step; ``extra_info`` carries compile time,
the paired speedup, graph counters, FLOPs, memory and the parity verdict),
records it in the run folder, and fails, with the reason, when the case could
not be measured or its compiled arm does not learn what eager learns.
"""

from __future__ import annotations

import contextlib
import signal

import pytest

from hellotorch import record, runfiles
from hellotorch.children import interrupted_by_signal, signals_as_interrupt
from hellotorch.results.table import speedup_text
from hellotorch.runfiles import storage_failure
from hellotorch.suite.launch import PYTEST_STORAGE_FULL
from hellotorch.suite.measure_case import CaseFailed, Distributed, measure_case


def _write(append, *args) -> None:
    """Append to the run folder; a full disk or a file-size limit stops the run, which the parent reports (exit 2)."""
    try:
        append(*args)
    except OSError as error:
        ran_out = storage_failure(error)
        if ran_out is None:
            raise
        pytest.exit(f"cannot write the run folder: {ran_out}", returncode=PYTEST_STORAGE_FULL)


class CaseTimedOut(CaseFailed):
    """The case ran past the profile's ``case_timeout_s``."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise :class:`CaseTimedOut` in this (the main) thread after ``seconds``: a hung case fails, the run goes on.

    A Python-level signal: it interrupts Python loops (a plug-in building an
    enormous batch) and fires as soon as a long native call returns.
    """

    def expire(signum, frame):
        raise CaseTimedOut(f"timed out after {seconds:g} s (the profile's case_timeout_s)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _summary(benchmark) -> dict:
    stats = getattr(benchmark, "stats", None)
    if stats is None:
        return {}
    inner = stats.stats
    return {"median_s": inner.median, "iqr_s": inner.iqr, "mean_s": inner.mean, "rounds": inner.rounds}


def _progress(request, text: str) -> None:
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None and request.config.getoption("verbose") > 0:
        # The test's output is captured; the progress line goes to the terminal now.
        with capture.global_and_fixture_disabled():
            reporter.write_line(text)


def _compile_rows(run_state):
    if run_state.run_dir is None:
        return None
    return lambda rows: _write(runfiles.append_compile_costs, run_state.run_dir, rows)


def _distributed(case, request) -> Distributed | None:
    if not case.distributed:
        return None
    timer = request.node.get_closest_marker("benchmark").kwargs["timer"]
    return Distributed(timer=timer, timeout_s=request.config.getoption("--hellotorch-dist-timeout"))


def test_step(case, benchmark, run_state, request):
    report = None
    try:
        with time_limit(run_state.profile.measurement.case_timeout_s), signals_as_interrupt():
            report = measure_case(
                case,
                profile=run_state.profile,
                benchmark=benchmark,
                peaks=run_state.peaks.get(case.device, {}),
                distributed=_distributed(case, request),
                compile_rows=_compile_rows(run_state),
                progress=lambda text: _progress(request, f"  {text}"),
                thread_state=run_state.thread_state,
                host=run_state.host,
                host_speed=run_state.host_speed,
            )
    except CaseFailed as error:
        ran_out = storage_failure(error)
        if ran_out is not None:  # the disk, not the case: the run stops and the parent says so (exit 2)
            benchmark.extra_info.update(record.fields(failure=f"storage: {ran_out}"))
            pytest.exit(f"{case.id}: cannot write ({ran_out})", returncode=PYTEST_STORAGE_FULL)
        run_state.failed.append({"id": case.id, "reason": str(error)})
        benchmark.extra_info.update(record.fields(failure=str(error)))
        pytest.fail(f"{case.id}: {error}", pytrace=False)
    except KeyboardInterrupt:
        if not interrupted_by_signal():  # no Ctrl-C reached the run: the model's own code raised it
            reason = "the model's code raised KeyboardInterrupt"
            run_state.failed.append({"id": case.id, "reason": reason})
            benchmark.extra_info.update(record.fields(failure=reason))
            pytest.fail(f"{case.id}: {reason}", pytrace=False)
        # Not a failure of the case: recorded as interrupted, and not counted as finished.
        benchmark.extra_info.update(record.fields(status="interrupted", failure="interrupted (Ctrl-C)"))
        run_state.interrupted, run_state.interrupted_case = True, case.id
        raise
    finally:
        if benchmark.extra_info.get("status") != "interrupted":
            run_state.finished += 1
        if run_state.run_dir is not None:
            _write(
                runfiles.append_journal,
                run_state.run_dir,
                {"id": case.id, "extra_info": dict(benchmark.extra_info), **_summary(benchmark)},
            )
    extra = benchmark.extra_info
    if extra.get("host_state") == "disturbed":
        # Not a result: the line says so, and why, instead of printing the numbers the load made.
        line = f"  {case.id}: DISTURBED ({extra.get('host_evidence', 'the machine was busy')})"
    else:
        line = f"  {case.id}: median {extra['samples_per_s']:.0f} samples/s"
    if report is not None:
        if case.compiled and extra.get("host_state") != "disturbed":
            line += f", compile {extra['compile_s']:.1f} s, speedup {speedup_text(extra)}"
        line += f", parity {report.verdict}"
        if run_state.run_dir is not None:
            _write(
                runfiles.append_curves, run_state.run_dir, case.as_dict(), report.eager_losses, report.compiled_losses
            )
        if report.verdict == "fail":
            run_state.parity_failed.append({"id": case.id, "reason": report.reason})
            pytest.fail(f"{case.id}: parity failed: {report.reason}", pytrace=False)
    _progress(request, line)

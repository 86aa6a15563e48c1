"""The threads' state, probed: what one parallel region of the CPU threads costs.

On this project's 2-vCPU VM, with the threads left to the scheduler, the
cost of waking the second thread for a parallel region switches between two
levels for tens of seconds at a time, and a step made of many small
parallel kernels (a compiled CPU step) slows with it far more than its
eager twin: the paired speedup of the MLP at batch 16 read 1.5x in one
state and 1.15x in the other. Threads bound to cores (``OMP_PROC_BIND``)
stayed in the fast one for 60 windows of 60, and in 22 of 30 compiled
measurements of three bound ``quick`` runs (docs/trials.md, "Pinning
the threads to cores"). The suite records the probe beside each compiled
case's speedup so a run says which state it was measured in.

Binding is opt-in (``HELLOTORCH_BIND_THREADS=1``) because libgomp binds
the main thread when torch is imported and every process it starts
inherits that one core. :func:`bound_child` starts the bench process bound
(with every core in its mask, whatever its parent's); :func:`unbound_child`
gives a process the bench starts (a compile worker, torchrun) every core
back and no binding. g++ started by Inductor inside the bench process
stays on the first core: cold compiles there are slower.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from hellotorch.measuring.clock import synchronized_clock

#: Elements of the probe's tensor: above ATen's grain size (32768), so each call is one parallel region.
PROBE_ELEMENTS = 40_000


def parallel_region_us(*, calls: int = 50, repeats: int = 5, clock=synchronized_clock) -> float | None:
    """Microseconds per parallel region of the CPU threads (fork, a few microseconds of work, join).

    None with one thread, where there is no region to wake. The fastest of
    ``repeats`` blocks of ``calls``: a short burst of load is not the state
    being probed. On this project's 2-vCPU VM it reads about 4.5 us in the
    fast state and 6.5-7 us in the slow one (docs/methodology.md).
    """
    if torch.get_num_threads() < 2:
        return None
    probe = torch.zeros(PROBE_ELEMENTS)
    best = math.inf
    for _ in range(repeats):
        start = clock()
        for _ in range(calls):
            probe.add_(1.0)
        best = min(best, clock() - start)
    return best / calls * 1e6


#: A probe above this multiple of the fastest one the process has seen reads the slow state.
#: On this project's VM the two levels are 4.2-4.8 us and 6.3-7.1 us: a factor of about 1.5.
SLOW_STATE_FACTOR = 1.25


@dataclass
class ThreadStateMonitor:
    """The threads' state as the bench process goes: the fastest probe so far is the fast state's level.

    One per bench process (the suite's run state holds it, never a module
    global). Every CPU case reads it, eager ones too, so by the time the
    compiled cases pair their arms the reference has seen the process's
    fast state, unless the process never left the slow one. A reading is
    slow when it is more than ``factor`` times the reference; a pair judged
    early is judged again against the final reference
    (:func:`hellotorch.measuring.paired.paired_speedup`).
    """

    probe: Callable[[], float | None] = parallel_region_us
    factor: float = SLOW_STATE_FACTOR
    #: the fastest parallel region this process has measured, us (inf: none yet).
    fastest_us: float = math.inf

    def read(self) -> float | None:
        """Probe now; None where there is nothing to probe (one thread)."""
        value = self.probe()
        if value is not None:
            self.fastest_us = min(self.fastest_us, value)
        return value

    def is_slow(self, value: float | None) -> bool:
        return value is not None and value > self.factor * self.fastest_us

    def wait_until_fast(
        self, keep_busy: Callable[[], None], *, max_seconds: float, clock: Callable[[], float] = synchronized_clock
    ) -> tuple[float, bool]:
        """Run ``keep_busy`` until a probe reads the fast state or ``max_seconds`` pass: (seconds waited, fast).

        The threads are kept at the work being measured while waiting: the
        state is the host's placement of busy threads, and idle ones are no
        evidence of where busy ones will run.
        """
        started = clock()
        while True:
            if not self.is_slow(self.read()):
                return clock() - started, True
            if clock() - started >= max_seconds:
                return clock() - started, False
            keep_busy()


#: Set to 1 to bind the bench process's threads to cores, one each.
BIND_ENV = "HELLOTORCH_BIND_THREADS"
#: libgomp's binding, read when torch is imported: main thread on the first core, workers on the next.
BIND_VARIABLES = {"OMP_PROC_BIND": "true", "OMP_PLACES": "cores"}


def binding_requested(env: Mapping[str, str] = os.environ) -> bool:
    """Whether ``HELLOTORCH_BIND_THREADS`` asks for bound threads; another value than 0 or 1 is refused."""
    value = env.get(BIND_ENV, "").strip()
    if value not in ("", "0", "1"):
        raise ValueError(f"{BIND_ENV} must be 0 or 1, got {value!r}")
    return value == "1"


def threads_bound(env: Mapping[str, str] = os.environ) -> bool:
    """Whether this process's OpenMP threads are bound to cores (``OMP_PROC_BIND`` set and not false)."""
    return env.get("OMP_PROC_BIND", "").lower() not in ("", "false")


def _every_core() -> None:
    """In a child before it runs anything: every core of the machine (a parent bound to one is not inherited)."""
    os.sched_setaffinity(0, range(os.cpu_count() or 1))


#: Where the OS has no thread affinity there is nothing to undo in a child.
_EVERY_CORE = _every_core if hasattr(os, "sched_setaffinity") else None


def bound_child(env: Mapping[str, str]) -> tuple[dict[str, str], Callable[[], None] | None]:
    """(environment, preexec_fn) for the bench process with its threads bound to cores."""
    return dict(env, **BIND_VARIABLES), _EVERY_CORE


def unbound_child(env: Mapping[str, str]) -> tuple[dict[str, str], Callable[[], None] | None]:
    """(environment, preexec_fn) for a process a bound one starts: no binding, every core."""
    if not all(env.get(name) == value for name, value in BIND_VARIABLES.items()):
        return dict(env), None
    return {name: value for name, value in env.items() if name not in BIND_VARIABLES}, _EVERY_CORE

"""The threads' state, probed: what one parallel region of the CPU threads costs.

On this project's 2-vCPU VM, with the threads left to the scheduler, the
cost of waking the second thread for a parallel region switches between two
levels for tens of seconds at a time, and a step made of many small
parallel kernels (a compiled CPU step) slows with it far more than its
eager twin: the paired speedup of the MLP at batch 16 read 1.5x in one
state and 1.15x in the other. Threads bound to cores (``OMP_PROC_BIND``)
stayed in the fast one for 60 windows of 60, and in 22 of 30 compiled
measurements of three bound ``quick`` runs (docs/methodology.md, "Pinning
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

import torch

from hellotorch.timing import synchronized_clock

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

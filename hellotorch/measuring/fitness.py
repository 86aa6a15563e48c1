"""Is this machine fit to measure on now, and if not, what to do: ``hellotorch env --check``.

Each check reads the machine (no torch; Linux's ``/proc`` and ``/sys``):
other processes' CPU over a short window, runnable tasks against the usable
cores, steal time, the busiest processes by name, thread binding, the CPU
frequency governor and SMT. The load checks decide the verdict (a busy
machine gives numbers that are wrong, not noisy); the others are advice.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hellotorch.measuring.host_load import (
    OTHERS_CORES_LIMIT,
    STEAL_LIMIT,
    HostLoad,
    HostMonitor,
    cores_available,
)

#: A process using less than this share of a core over the window is not worth naming.
BUSY_PROCESS_CORES = 0.05


@dataclass(frozen=True)
class Check:
    """One thing looked at: whether it is fine, what was seen, what to do."""

    name: str
    ok: bool
    seen: str
    advice: str = ""
    #: only the load checks decide the verdict; the rest is advice.
    decides: bool = False


def _process_cpu_seconds(root: Path = Path("/proc")) -> dict[int, tuple[str, float]]:
    """pid -> (name, CPU seconds so far) of every process readable now."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    found = {}
    for entry in root.iterdir() if root.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        name = text[text.find("(") + 1 : text.rfind(")")]
        fields = text[text.rfind(")") + 2 :].split()
        try:
            found[int(entry.name)] = (name, (int(fields[11]) + int(fields[12])) / ticks)
        except (IndexError, ValueError):
            continue
    return found


def busy_processes(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], seconds: float):
    """(name, pid, cores) of the processes that used CPU between two readings, busiest first."""
    own = os.getpid()
    rows = []
    for pid, (name, cpu) in after.items():
        if pid == own or pid not in before:
            continue
        cores = (cpu - before[pid][1]) / seconds
        if cores >= BUSY_PROCESS_CORES:
            rows.append((name, pid, cores))
    return sorted(rows, key=lambda row: -row[2])


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def check_machine(
    *,
    window_s: float = 1.0,
    monitor: HostMonitor | None = None,
    processes: Callable[[], dict[int, tuple[str, float]]] = _process_cpu_seconds,
    environ: dict[str, str] | None = None,
) -> list[Check]:
    """Every check, the load ones first."""
    monitor = monitor or HostMonitor()
    environ = os.environ if environ is None else environ
    before_processes = processes()
    load: HostLoad | None = monitor.idle_load(window_s=window_s)
    busy = busy_processes(before_processes, processes(), window_s)
    named = ", ".join(f"{name} (pid {pid}, {cores:.2f} cores)" for name, pid, cores in busy[:3]) or "none named"
    checks = []
    if load is None:
        checks.append(
            Check("load", True, "the machine's counters cannot be read here: nothing is judged", decides=True)
        )
    else:
        checks.append(
            Check(
                "load",
                load.others_cores <= OTHERS_CORES_LIMIT,
                f"other processes used {load.others_cores:.2f} of {load.cores:g} cores over {window_s:g} s; "
                f"busiest: {named}",
                "stop them, or wait until they finish: a step measured beside them reads wrong, not noisy; "
                "if they cannot stop, --threads 1 leaves them a core (with every core's thread busy, OpenMP "
                "threads wait for each other: a user's profile ran 5-10x slower on 2 threads than on 1)",
                decides=True,
            )
        )
        checks.append(
            Check(
                "runnable tasks",
                load.runnable <= load.cores,
                f"{load.runnable} runnable on {load.cores:g} usable cores; 1-minute load {load.load1:.2f}",
                "more runnable tasks than cores means the step waits for a core",
                decides=True,
            )
        )
        checks.append(
            Check(
                "steal",
                load.steal_fraction < STEAL_LIMIT,
                f"{load.steal_fraction:.1%} of the CPU time stolen by the hypervisor",
                "a neighbour on the host: measure at another hour, or on a dedicated machine",
                decides=True,
            )
        )
    bound = environ.get("HELLOTORCH_BIND_THREADS", "") == "1"
    checks.append(
        Check(
            "thread binding",
            bound or cores_available() > 4,
            "threads bound to cores" if bound else "threads left to the scheduler",
            "on a small VM, make bench BIND=1 (HELLOTORCH_BIND_THREADS=1) keeps the threads' placement steady",
        )
    )
    governor = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    checks.append(
        Check(
            "frequency governor",
            governor in (None, "performance"),
            governor or "not readable (a VM, or no cpufreq): the host decides",
            "set the governor to performance (cpupower frequency-set -g performance) for steady clocks",
        )
    )
    smt = _read("/sys/devices/system/cpu/smt/active")
    checks.append(
        Check(
            "SMT",
            smt != "1",
            {"1": "on: sibling threads share a core", "0": "off"}.get(smt or "", "not readable"),
            "with SMT on, a neighbour on a sibling thread slows the step: use --threads at most the physical cores",
        )
    )
    return checks


def is_fit(checks: list[Check]) -> bool:
    return all(check.ok for check in checks if check.decides)

"""What a result needs to name the machine it came from.

One function, :func:`collect`, returns flat strings and numbers (PyTorch,
CUDA, GPU and its driver, CPU model, threads, huge pages, C++ compiler, git commit); ``hellotorch env``
prints them and the benchmark suite stores them in pytest-benchmark's
``machine_info``.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import socket
import subprocess
from pathlib import Path

import torch

from hellotorch.measuring.allocator import allocator_policy
from hellotorch.measuring.thread_state import threads_bound
from hellotorch.training.devices import cpu_has_native_bf16


def _first_line(command: list[str], cwd: Path | None = None) -> str:
    try:
        output = subprocess.run(command, capture_output=True, text=True, timeout=10, cwd=cwd, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return output.strip().splitlines()[0] if output.strip() else ""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def cxx_compiler() -> str:
    """The compiler Inductor's CPU backend will call, and its version."""
    from torch._inductor import config as inductor_config

    name = inductor_config.cpp.cxx[-1] if isinstance(inductor_config.cpp.cxx, tuple) else inductor_config.cpp.cxx
    name = name or "g++"
    path = shutil.which(name)
    return _first_line([path, "--version"]) if path else f"{name} (not found)"


#: PyTorch's CPU allocator backs allocations of 2 MiB and more with transparent huge pages when this is 1 (Linux).
#: Recorded, not set: the faults it made fewer are gone under the steady allocator (hellotorch.measuring.allocator).
HUGE_PAGES_ENV = "THP_MEM_ALLOC_ENABLE"


def gpu_driver() -> str:
    """The NVIDIA driver's version, as nvidia-smi reports it ("unknown" where it cannot be asked)."""
    query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
    return (_first_line(query) if shutil.which("nvidia-smi") else "") or "unknown"


def huge_pages() -> str:
    """The kernel's transparent-huge-page mode and whether PyTorch's allocator asks for them."""
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
        mode = text[text.index("[") + 1 : text.index("]")]
    except (OSError, ValueError):
        mode = "unknown"
    return f"kernel {mode}, allocator {'on' if os.environ.get(HUGE_PAGES_ENV) == '1' else 'off'}"


def git_commit() -> str:
    """The commit of the code being measured: the checkout an A/B side runs, hellotorch's, else the working folder's."""
    # hellotorch/measuring/machine.py: the checkout is two folders above the package (a worktree's .git is a file).
    checkout = Path(__file__).resolve().parents[2]
    root = checkout if (checkout / ".git").exists() else Path.cwd()
    root = Path(os.environ.get("HELLOTORCH_GIT_DIR") or root)  # set by hellotorch ab for each side's process
    commit = _first_line(["git", "rev-parse", "--short=12", "HEAD"], cwd=root)
    dirty = _first_line(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root)
    return f"{commit}{'-dirty' if dirty else ''}" if commit else "unknown"


def collect() -> dict[str, str | int]:
    """Facts about this machine and its PyTorch, as flat strings and numbers."""
    cuda = torch.cuda.is_available()
    # Bound threads (OMP_PROC_BIND) pin this thread to one core: count the machine's, as an unbound run would.
    bound = threads_bound()
    return {
        "hostname": socket.gethostname(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "none",
        "cuda_available": str(cuda).lower(),
        "gpu": torch.cuda.get_device_name(0) if cuda else "none",
        "gpu_count": torch.cuda.device_count() if cuda else 0,
        "gpu_driver": gpu_driver() if cuda else "none",
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count() if bound else len(os.sched_getaffinity(0)),
        "cpu_bf16": "native" if cpu_has_native_bf16() else "emulated",
        "threads": torch.get_num_threads(),
        "threads_bound": "cores" if bound else "no",
        "huge_pages": huge_pages(),
        "allocator": allocator_policy(),
        "cxx": cxx_compiler(),
        "git_commit": git_commit(),
    }

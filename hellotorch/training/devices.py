"""Device, dtype and thread policy, in one place.

Everything that depends on where a step runs lives here: resolving a device
name, the dtype table (fp32, fp64, and bf16/fp16 autocast), the autocast
context (``nullcontext`` when no autocast applies), the one ``synchronize``
helper, and the CPU thread count that Inductor bakes into its code.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass

import torch

from hellotorch.settings import check_thread_count

DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class Precision:
    """How a dtype name is realised in a training step."""

    name: str
    #: dtype of parameters and floating-point inputs.
    param_dtype: torch.dtype
    #: dtype autocast computes in, or None for no autocast.
    autocast_dtype: torch.dtype | None
    #: devices this precision is meaningful on.
    devices: tuple[str, ...] = DEVICES


PRECISIONS: dict[str, Precision] = {
    "float32": Precision("float32", torch.float32, None),
    # The fp64 run is the reference that PyTorch's parity rule measures against.
    "float64": Precision("float64", torch.float64, None),
    "bfloat16": Precision("bfloat16", torch.float32, torch.bfloat16),
    # fp16 autocast on CPU is slow and barely supported; CUDA only.
    "float16": Precision("float16", torch.float32, torch.float16, devices=("cuda",)),
}
DTYPE_ALIASES = {"fp32": "float32", "fp64": "float64", "bf16": "bfloat16", "fp16": "float16"}


def build_precision(name: str, *, device: str = "cpu") -> Precision:
    """Look up a dtype name (``float32``, ``bf16``, ...) for ``device``."""
    key = DTYPE_ALIASES.get(name, name)
    if key not in PRECISIONS:
        raise ValueError(f"unknown dtype {name!r}; choose one of: {', '.join(PRECISIONS)}")
    precision = PRECISIONS[key]
    if device not in precision.devices:
        raise ValueError(f"dtype {key} is not supported on {device}; it needs {' or '.join(precision.devices)}")
    return precision


def autocast_context(precision: Precision, device: str) -> Callable[[], ContextManager]:
    """A zero-argument factory of the context a forward pass runs in."""
    if precision.autocast_dtype is None:
        return contextlib.nullcontext
    dtype = precision.autocast_dtype
    return lambda: torch.autocast(device_type=device, dtype=dtype)


def resolve_device(name: str) -> torch.device:
    """Validate a device name and that the hardware behind it is present."""
    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; choose one of: {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for but CUDA is not available on this machine; use --device cpu")
    return torch.device(name)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX); else PyTorch emulates it."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = cpuinfo.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def available_memory_bytes(device: str) -> int | None:
    """Memory a step on ``device`` can still take: CUDA's free memory, or the OS's MemAvailable."""
    if device == "cuda":
        return int(torch.cuda.mem_get_info()[0])
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def synchronize(device: torch.device | str) -> None:
    """Wait for queued kernels, so a clock read after it means something."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def quiet_compile_logs() -> None:
    """Silence Dynamo's per-frame warnings (e.g. ignored profiler records) on the console."""
    import logging

    torch._logging.set_logs(dynamo=logging.ERROR)


def environment_threads() -> int | None:
    """``HELLOTORCH_THREADS``, checked (a positive integer this machine can run), or None when unset."""
    text = os.environ.get("HELLOTORCH_THREADS", "").strip()
    if not text:
        return None
    try:
        threads = int(text)
    except ValueError:
        raise ValueError(f"HELLOTORCH_THREADS must be a positive integer, got {text!r}") from None
    if threads < 1:
        raise ValueError(f"HELLOTORCH_THREADS must be a positive integer, got {threads}")
    return check_thread_count(threads, source="HELLOTORCH_THREADS")


def set_threads(threads: int | None) -> int:
    """Fix the intra-op thread count before anything compiles.

    Inductor specialises CPU kernels to the thread count and keys its cache on
    it, so it must be set first and never changed within a run. ``None`` keeps
    ``HELLOTORCH_THREADS`` if set, else PyTorch's own choice.
    """
    if threads is None:
        threads = environment_threads()
    if threads is not None:
        if threads < 1:
            raise ValueError(f"thread count must be positive, got {threads}")
        check_thread_count(threads)
        torch.set_num_threads(threads)
    return torch.get_num_threads()


@contextlib.contextmanager
def strict_float32(device: str):
    """Turn TF32 off on CUDA for the duration: parity compares true fp32 arithmetic.

    TF32 matmuls round to 10 mantissa bits, which would hide (or fake) a
    compiler difference. A no-op on CPU.
    """
    if device != "cuda":
        yield
        return
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn

"""The peak a device could reach, for MFU: measured on a CPU, looked up for a GPU.

MFU (model FLOPs utilisation) is the achieved FLOP/s of a step over the
device's peak for the step's dtype. A CPU has no datasheet figure worth
trusting (it depends on cores, clocks, threads and the BLAS), so its peak is
measured once per run: the best of several large square matmuls through
PyTorch, with the run's thread count. A GPU's peak comes from
:data:`GPU_PEAKS_TFLOPS`; an unknown GPU gets no MFU, and says so.
"""

from __future__ import annotations

import time

import torch

#: Dense peak TFLOP/s by GPU name fragment and dtype, from NVIDIA's datasheets:
#: "NVIDIA H100 Tensor Core GPU" (SXM5; H200 shares its compute), "NVIDIA A100
#: Tensor Core GPU" (SXM), "NVIDIA L4 Tensor Core GPU". Sparse figures halved
#: out; float32 is the non-tensor-core figure (hellotorch turns TF32 off only
#: for parity, so an fp32 step may run faster than this where TF32 is on).
GPU_PEAKS_TFLOPS: dict[str, dict[str, float]] = {
    "H200": {"float32": 67.0, "bfloat16": 989.4, "float16": 989.4},
    "H100": {"float32": 67.0, "bfloat16": 989.4, "float16": 989.4},
    "A100": {"float32": 19.5, "bfloat16": 312.0, "float16": 312.0},
    "L4": {"float32": 30.3, "bfloat16": 121.0, "float16": 121.0},
}
#: A step below this many FLOPs is bound by framework overhead: its "MFU" would only mislead.
OVERHEAD_BOUND_FLOPS = 10_000_000
MATMUL_SIZE = 1024
MATMUL_REPEATS = 8


def measure_cpu_matmul_gflops(dtype: torch.dtype = torch.float32, *, size: int = MATMUL_SIZE) -> float:
    """GFLOP/s of the best of a few ``size x size`` matmuls on the CPU, in ``dtype``."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(dtype)
    b = torch.randn(size, size, generator=generator).to(dtype)
    torch.mm(a, b)  # warm-up: first-call costs are not the peak
    best = float("inf")
    for _ in range(MATMUL_REPEATS):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def gpu_peak_gflops(name: str, dtype: str) -> float | None:
    for fragment, peaks in GPU_PEAKS_TFLOPS.items():
        if fragment in name:
            return peaks.get(dtype, 0.0) * 1e3 or None
    return None


def device_peaks(device: str) -> dict[str, float]:
    """Peak GFLOP/s per dtype name for ``device`` (empty for an unknown GPU)."""
    if device == "cuda":
        name = torch.cuda.get_device_name(0)
        found = {dtype: gpu_peak_gflops(name, dtype) for dtype in ("float32", "bfloat16", "float16")}
        return {dtype: peak for dtype, peak in found.items() if peak}
    return {
        "float32": measure_cpu_matmul_gflops(torch.float32),
        "bfloat16": measure_cpu_matmul_gflops(torch.bfloat16),
    }


def mfu(*, flops_per_step: int, seconds_per_step: float, dtype: str, peaks: dict[str, float]) -> tuple[float, str]:
    """MFU and a note; NaN with the reason when it would mean nothing."""
    if flops_per_step < OVERHEAD_BOUND_FLOPS:
        return float("nan"), f"overhead-bound: {flops_per_step:,} FLOPs per step"
    peak = peaks.get(dtype)
    if not peak:
        return float("nan"), f"no known peak for {dtype} on this device"
    return flops_per_step / seconds_per_step / 1e9 / peak, ""

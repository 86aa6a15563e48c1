"""MFU: the CPU's matmul peak is measured, a GPU's looked up, tiny steps are labelled overhead-bound."""

import math

import pytest

from hellotorch.measuring.peaks import (
    GPU_PEAKS_TFLOPS,
    OVERHEAD_BOUND_FLOPS,
    gpu_peak_gflops,
    measure_cpu_matmul_gflops,
    mfu,
)


def test_the_cpu_matmul_peak_is_measured_and_positive():
    assert measure_cpu_matmul_gflops(size=128) > 0


def test_gpu_peaks_come_from_the_table_and_an_unknown_gpu_has_none():
    assert gpu_peak_gflops("NVIDIA H200", "bfloat16") == pytest.approx(GPU_PEAKS_TFLOPS["H200"]["bfloat16"] * 1e3)
    assert gpu_peak_gflops("Some Future GPU", "bfloat16") is None


def test_mfu_is_achieved_over_peak_for_the_dtype():
    value, note = mfu(flops_per_step=2_000_000_000, seconds_per_step=0.1, dtype="float32", peaks={"float32": 100.0})
    assert value == pytest.approx(0.2) and note == ""


def test_tiny_steps_are_overhead_bound_not_given_a_misleading_mfu():
    value, note = mfu(flops_per_step=200, seconds_per_step=1e-4, dtype="float32", peaks={"float32": 100.0})
    assert math.isnan(value) and note.startswith("overhead-bound") and 200 < OVERHEAD_BOUND_FLOPS


def test_no_peak_for_the_dtype_means_no_mfu_and_says_so():
    value, note = mfu(flops_per_step=10**9, seconds_per_step=0.1, dtype="float16", peaks={"float32": 100.0})
    assert math.isnan(value) and "no known peak for float16" in note


def test_the_gpt_flops_estimate_is_six_n_plus_attention():
    from hellotorch.models import model_config
    from hellotorch.models.gpt import GPT, parameter_count

    config = model_config("gpt", width=64, depth=2, seq_len=32)
    weights = parameter_count(config) - 32 * 64
    assert GPT.flops_per_sample(config) == 32 * (6 * weights + 12 * 2 * 4 * 16 * 32)

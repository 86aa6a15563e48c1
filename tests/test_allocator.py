"""The allocator policy a measuring process sets: what it asks glibc for, what it records, and that it holds."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hellotorch.measuring import allocator
from hellotorch.settings import DEFAULT_ALLOCATOR_POLICY, Measurement


class FakeLibc:
    """mallopt(3) as glibc answers it: 1 when taken, 0 when refused."""

    def __init__(self, refuse_above: int | None = None) -> None:
        self.calls: list[tuple[int, int]] = []
        self.refuse_above = refuse_above

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append((parameter, value))
        return 0 if self.refuse_above is not None and value > self.refuse_above else 1


@pytest.fixture(autouse=True)
def fresh_policy():
    allocator._reset_for_tests()
    yield
    allocator._reset_for_tests()


def test_the_steady_policy_fixes_both_thresholds_and_says_so():
    libc = FakeLibc()
    said = allocator.apply_allocator_policy(True, libc=libc)
    assert libc.calls == [
        (allocator.M_MMAP_THRESHOLD, allocator.MMAP_THRESHOLD_BYTES),
        (allocator.M_TRIM_THRESHOLD, allocator.TRIM_THRESHOLD_BYTES),
    ]
    assert said == allocator.allocator_policy() == "glibc, freed memory kept (mmap threshold 1024 MiB, trim off)"


def test_a_refused_threshold_falls_back_to_the_largest_glibc_takes():
    libc = FakeLibc(refuse_above=allocator.MMAP_THRESHOLD_FALLBACK_BYTES)
    assert "mmap threshold 32 MiB" in allocator.apply_allocator_policy(True, libc=libc)
    assert (allocator.M_MMAP_THRESHOLD, allocator.MMAP_THRESHOLD_FALLBACK_BYTES) in libc.calls


def test_the_default_policy_sets_nothing_and_the_first_policy_of_a_process_holds():
    libc = FakeLibc()
    assert allocator.apply_allocator_policy(False, libc=libc) == DEFAULT_ALLOCATOR_POLICY
    assert allocator.apply_allocator_policy(True, libc=libc) == DEFAULT_ALLOCATOR_POLICY
    assert libc.calls == []


def test_the_setting_is_on_by_default_and_a_profile_file_can_turn_it_off():
    from hellotorch.settings import measurement_from_file

    assert Measurement().steady_allocator is True
    assert measurement_from_file({"steady_allocator": False}, where="f").steady_allocator is False
    with pytest.raises(ValueError, match="steady_allocator"):
        measurement_from_file({"steady_allocator": "yes"}, where="f")


STEP = """
import resource, sys, torch
from hellotorch.measuring.allocator import apply_allocator_policy
if sys.argv[1] == "steady":
    apply_allocator_policy(True)
torch.set_num_threads(1)
# Buffers freed and made again every step, as activations are. Above 32 MiB, glibc's most for the threshold it
# moves itself, so under its default they are mapped and unmapped every time (smaller ones: in some processes).
for step in range(25):
    if step == 5:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buffers = [torch.ones(12, 1024, 1024) for _ in range(2)]
    del buffers
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


@pytest.mark.skipif(allocator._glibc() is None, reason="the policy is glibc's; this C library is not glibc")
def test_kept_memory_is_not_page_faulted_in_again_every_step():
    def faults_per_step(policy: str) -> float:
        done = subprocess.run([sys.executable, "-c", STEP, policy], capture_output=True, text=True, check=True)
        return float(done.stdout.strip())

    default, steady = faults_per_step("default"), faults_per_step("steady")
    # 96 MiB a step: 24,576 pages of 4 KiB (48 where the kernel backs them with 2 MiB pages) faulted in again.
    assert default > 40
    assert steady < default / 10

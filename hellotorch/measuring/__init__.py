"""Measuring one bound step beside pytest-benchmark: the clock, the paired speedup, compile time, the host's condition, FLOPs and memory, peaks, the machine's facts."""

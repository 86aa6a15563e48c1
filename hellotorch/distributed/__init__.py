"""Distributed cases: data-parallel strategies, launching ranks under torchrun, and each rank's work."""

"""Benchmarks: engines side by side in one run (stages, cases, cold start, memory, accuracy)."""

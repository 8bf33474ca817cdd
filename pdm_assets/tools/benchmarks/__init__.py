"""Benchmark scripts that print their figures (speed is measured here, never in timed tests)."""

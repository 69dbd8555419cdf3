"""Benchmarks and load generators for Snapshot (run them by hand; they are not unit tests)."""

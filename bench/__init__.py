"""Benchmarks: load generators and runners that print figures (see docs/performance.md)."""

"""Benchmarks (measurements, not timed tests): `scripts/bench bench/run.py`; see README.md."""

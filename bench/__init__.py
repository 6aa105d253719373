"""Benchmarks, one command each: `python -m bench <name>` (see docs/benchmarks.md)."""

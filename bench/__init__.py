"""Benchmarks: run with ``python -m bench.<name>``; each prints its figures."""

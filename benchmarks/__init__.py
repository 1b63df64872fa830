"""Throughput benchmarks for the adaptor (run with `python benchmarks/run.py`)."""

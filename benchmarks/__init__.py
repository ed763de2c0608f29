"""Benchmark harness: the original TF1 graph as a reference, and timing helpers.

Not part of the installed package; `scripts/benchmark.py` and `tests/test_parity.py`
import it from the repository root.
"""

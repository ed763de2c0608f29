"""`python -m benchmarks.harness JOB.json`: one worker of `scripts/benchmark.py`."""

import sys

from benchmarks.harness.workers import worker_main

worker_main(sys.argv[1])

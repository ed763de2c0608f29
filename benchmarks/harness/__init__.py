"""Reusable logic of `scripts/benchmark.py`: `batches` (what is timed), `configs` (the variants),
`workers` (the timed runs) and `report` (tables and JSON).

Each measured configuration runs in a worker process of its own
(`python -m benchmarks.harness WORKER.json`): its peak RSS is its own, TensorFlow's
thread pools can be set before TensorFlow starts, and the TF1 reference can switch the
whole process to TF1 behaviour. All workers of one benchmark run read the same batches
from one `.npz` file, so the port and the reference are timed on identical inputs.
"""

from benchmarks.harness.batches import (bucketed_batches, load_batches, load_padded, random_batches, save_batches,
                                        warm_every_shape, widen)
from benchmarks.harness.configs import (MISSING_TF_KERAS, MISSING_TORCH, PART_NAMES, REF_PART, STREAM_PARTS,
                                        TORCH_CONSTANTS, configurations, installed, missing_backend, parse_variant,
                                        side_parts, unique, variant_type, without_effect)
from benchmarks.harness.report import (ESTIMATORS, data_meta, environment, flops_per_sample, gpu_name, print_tables,
                                       rate, table, variants_table, write_results)
from benchmarks.harness.workers import (as_dataset, merge_rounds, peak_rss_mib, run_all, run_worker, summarize,
                                        summarize_stream)

__all__ = ["ESTIMATORS", "MISSING_TF_KERAS", "MISSING_TORCH", "PART_NAMES", "REF_PART", "STREAM_PARTS",
           "TORCH_CONSTANTS", "as_dataset", "bucketed_batches", "configurations", "data_meta", "environment",
           "flops_per_sample", "gpu_name", "installed", "load_batches", "load_padded", "merge_rounds", "missing_backend",
           "parse_variant", "peak_rss_mib", "print_tables", "random_batches", "rate", "run_all", "run_worker",
           "save_batches", "side_parts", "summarize", "summarize_stream", "table", "unique", "variant_type",
           "variants_table", "warm_every_shape", "widen", "without_effect", "write_results"]

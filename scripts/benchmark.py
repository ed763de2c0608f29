"""Throughput of the port against the original TF1 graph, side by side, on the same batches.

Times training steps (`model.train_on_batch`) and prediction (`predict_on_batch`) of
`attention.build_model()` at batch 256, steady state (warm-up steps excluded), and the
reference TF1 graph (`benchmarks/tf1_reference.py`, needs tf_keras) on the same batches:

* (a) identical full-length (250) batches in random order, fed to both sides;
* (b) each side's default input pipeline on the real length distribution: the port's
  length bucketing (each batch cut to its longest review, as `make_dataset`) against the
  original's random full-length batches.

With --parts full/stream bucketed/stream it also times prediction streamed: one `model.predict`
over all the timed batches, read back once at the end, so that the host prepares the next batch
while the device works (the references likewise).

With --torch it also times the same network rewritten in PyTorch (`benchmarks/torch_reference.py`,
needs torch) on the full-length batches. Last, it measures the machine's float32 matmul rate
and prints the full-length throughput that rate allows for this network's matmuls.

Each configuration runs in a process of its own (so peak RSS is its own); timed steps
and the table go to --output as JSON. Hold the machine while it runs, e.g.

    flock /tmp/cpu.lock python scripts/benchmark.py
    flock /tmp/cpu.lock python scripts/benchmark.py --port default --port block+intra1+inter2 --rounds 3
"""

import argparse
import datetime as dt
import importlib.util
import shlex
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from attention import arguments  # noqa: E402
from benchmarks import harness  # noqa: E402

BATCH_SIZE = 256
STEPS = 20
WARMUP = 3
SEED = 0
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/aclImdb_v1-labeled.tar.gz"
# Raw runs go to an ignored folder; a run worth keeping is copied under benchmarks/ with a name
# that says what it shows (BENCHMARKS.md cites it).
RUNS = REPO / "benchmarks" / "runs"

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--data", default=str(DEFAULT_DATA), type=arguments.nonempty_path,
                    help="IMDB data for the length distribution; synthetic lengths if missing (default: %(default)s)")
parser.add_argument("--output", type=arguments.nonempty_path, help="JSON results (default: benchmarks/runs/benchmark-DATE-TIME.json, not tracked)")
parser.add_argument("--steps", type=arguments.positive_int, default=STEPS, help="timed batches per measurement (default: %(default)s)")
parser.add_argument("--warmup", type=arguments.non_negative_int, default=WARMUP, help="untimed batches first (default: %(default)s)")
parser.add_argument("--batch-size", type=arguments.positive_int, default=BATCH_SIZE, help="(default: %(default)s)")
parser.add_argument("--parts", nargs="+", default=list(harness.PART_NAMES),
                    choices=harness.PART_NAMES + harness.STREAM_PARTS,
                    help="what to time: full = (a) identical full-length batches, bucketed = (b) the port's pipeline; "
                         "stream = prediction over all the timed batches, read back once at the end, as "
                         "model.predict over a dataset (default: %(default)s)")
parser.add_argument("--port", action="append", metavar="VARIANT", type=harness.variant_type("port"),
                    help="port configuration, repeatable: 'default' (build_model() with the training script's threads) or "
                         "'+'-joined tokens of reset_after, xla, keras|projected|concat|fast|block|tf1cell (the GRU "
                         "class), per_direction|stacked|stacked_hoisted|graphed|cudnn (BidirectionalGRU's loop), "
                         "autograd (PyTorch: the loop's gradient step by step), compiled (PyTorch: its steps "
                         "compiled), fused (PyTorch: the loop as Triton kernels), tf32 (PyTorch: TensorFloat-32 matmuls), heap (glibc keeps freed blocks), "
                         "unrollN (the stacked loop's scan "
                         "unrolled N steps), widthN (JAX: bucketed widths in multiples of N), intraN, "
                         "interN (0: TensorFlow's choice), onednn0 (default: default)")
parser.add_argument("--reference", action="append", metavar="VARIANT", type=harness.variant_type("reference"),
                    help="reference configuration, repeatable: 'default' (TF1 behaviour) or tokens of tf2 (TF 2 "
                         "control flow), intraN, interN, onednn0 (default: default)")
parser.add_argument("--no-reference", action="store_true", help="time the port only")
parser.add_argument("--backend", action="append", choices=["tensorflow", "jax", "torch"],
                    help="Keras backend of the port, repeatable: each --port runs on each (default: tensorflow)")
parser.add_argument("--gpu", action="store_true",
                    help="run the port and the PyTorch rewrite on the GPU (default: CPU only, GPUs hidden)")
parser.add_argument("--torch", action="append", nargs="?", const="default", metavar="VARIANT",
                    type=harness.variant_type("torch"),
                    help="also time the original network rewritten in PyTorch (benchmarks/torch_reference.py, needs "
                         "torch), repeatable: 'default' or tokens packed, intraN, interN")
parser.add_argument("--rounds", type=arguments.positive_int, default=1,
                    help="run every configuration this many times, interleaved, and keep each part's median "
                         "(evens out drifts of a shared machine) (default: %(default)s)")
parser.add_argument("--seed", type=arguments.seed, default=SEED, help="seed of the batch sampling (default: %(default)s)")


def main(argv=None):
    args = parser.parse_args(argv)
    ports = []
    for backend in args.backend or ["tensorflow"]:
        for variant in args.port or ["default"]:
            config = {**harness.parse_variant(variant, "port"), "backend": backend, "gpu": args.gpu}
            if backend != "tensorflow":
                config["label"] = f"port[{backend}]:{variant}"
            ports.append(config)
    references = [harness.parse_variant(v, "reference") for v in args.reference or ["default"]]
    if args.no_reference or args.gpu:  # the TF1 graph runs on the CPU, as the original did
        references = []
    elif importlib.util.find_spec("tf_keras") is None:
        print(harness.MISSING_TF_KERAS, file=sys.stderr)
        references = []
    rewrites = [{**harness.parse_variant(v, "torch"), "gpu": args.gpu} for v in args.torch or []]
    if rewrites and importlib.util.find_spec("torch") is None:
        print(harness.MISSING_TORCH, file=sys.stderr)
        rewrites = []

    x, y, source = harness.load_padded(args.data, args.seed)
    lengths = np.count_nonzero(x, axis=1)
    rng = np.random.default_rng(args.seed)
    sets = {"full": harness.random_batches(x, y, args.batch_size, args.warmup + args.steps, rng),
            "bucketed": harness.bucketed_batches(x, y, args.batch_size, args.warmup, args.steps, rng)}
    print(f"data: {source}: {len(x)} reviews, median length {np.median(lengths):.0f}, "
          f"{np.mean(lengths >= 249):.0%} at 249 (cut); batch {args.batch_size}, "
          f"{args.warmup} warm-up + {args.steps} timed steps per measurement")

    configs = ports + references + rewrites
    output = Path(args.output) if args.output else RUNS / f"benchmark-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    meta = {"date": dt.date.today().isoformat(), "command": shlex.join(["python", *sys.argv]), "data": source,
            "reviews": len(x), "median_length": float(np.median(lengths)),
            "fraction_cut_at_249": round(float(np.mean(lengths >= 249)), 4),
            "bucketed_epoch_mean_width": round(float(np.mean([b[0].shape[1] for b in sets["bucketed"][args.warmup:]])), 1),
            "batch_size": args.batch_size, "steps": args.steps, "warmup": args.warmup, "rounds": args.rounds,
            "matmul_gflops": None, "full_length_ceiling_samples_per_s": None, "gpu": args.gpu,
            "gpu_name": harness.gpu_name() if args.gpu else None, **harness.environment()}
    with tempfile.TemporaryDirectory() as tmp:
        batches = Path(tmp) / "batches.npz"
        harness.save_batches(batches, sets)
        # What is measured so far is written after each run, kept if the run is stopped.
        merged = harness.run_all(configs, batches, args.parts, args.warmup, args.rounds, Path(tmp),
                                 save=lambda results: harness.write_results(output, meta, results))
        ceiling = None
        if not args.gpu and importlib.util.find_spec("tensorflow") is not None:
            print("running the matmul ceiling ...", flush=True)
            ceiling = harness.run_worker({"side": "ceiling", "label": "ceiling", "onednn": None}, batches, [], 0, Path(tmp))
    results = [r for r in merged if "error" not in r]
    failed = [r["config"]["label"] for r in merged if "error" in r]

    # The TF1 graph where it ran (CPU), else the PyTorch rewrite (on the GPU with --gpu).
    reference = next((r for r in results if r["config"]["side"] == "reference"), None)
    reference = reference or next((r for r in results if r["config"]["side"] == "torch"), None)
    headlines = {}
    for port in (r for r in results if r["config"]["side"] == "port"):
        headlines[port["config"]["label"]] = harness.table(port, reference)
        print(f"\n{port['config']['label']} vs {reference['config']['label'] if reference else '(no reference)'}:")
        print(headlines[port["config"]["label"]])
    if len(results) > 2 or reference is None:
        print("\nAll configurations (samples/s):")
        print(harness.variants_table(results))
    if ceiling is not None:
        gflops = ceiling["gflops"]
        limits = {mode: round(gflops * 1e9 / harness.flops_per_sample(training=mode == "train"), 1)
                  for mode in ("train", "predict")}
        meta.update(matmul_gflops=round(gflops, 1), full_length_ceiling_samples_per_s=limits)
        print(f"\nfloat32 matmul ceiling: {gflops:.1f} GFLOP/s on all cores; at full length (250) at most "
              f"{limits['train']:.0f} training and {limits['predict']:.0f} predicted samples/s")
    harness.write_results(output, meta, merged, headlines)
    if failed:
        print(f"\nfailed (see {output}): {', '.join(failed)}", file=sys.stderr)
    print(f"\nwrote {output}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Throughput of the port against the original TF1 graph, side by side, on the same batches.

Times training steps and prediction of `attention.build_model()` at --batch-size (256), steady
state (warm-up steps excluded): on TensorFlow batch by batch (`model.train_on_batch`,
`predict_on_batch`), on JAX and PyTorch through `model.fit` and `model.predict` as the training
script runs them (each batch timed to its loss or outputs read back); and the reference TF1
graph (`benchmarks/tf1_reference.py`, needs tf_keras) on the same batches:

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

Each configuration runs in a process of its own (so peak RSS is its own), each one once however
often it is asked for; timed steps and the table go to --output as JSON, rewritten after each
configuration with "complete": false until the run ends (so a stopped run keeps what it measured,
marked as such). Hold the machine while it runs, e.g.

    flock /tmp/cpu.lock python scripts/benchmark.py
    flock /tmp/cpu.lock python scripts/benchmark.py --port default --port block+intra1+inter2 --rounds 3
"""

import argparse
import datetime as dt
import shlex
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

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
parser.add_argument("--data", type=arguments.nonempty_path,
                    help=f"IMDB data for the length distribution (default: {DEFAULT_DATA}, or synthetic lengths of "
                         "IMDB's distribution where that is missing)")
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
                    help="run the port and the PyTorch rewrite on the GPU, without the TF1 reference (CPU only); "
                         "an error where nvidia-smi finds no GPU (default: CPU only, GPUs hidden)")
parser.add_argument("--torch", action="append", nargs="?", const="default", metavar="VARIANT",
                    type=harness.variant_type("torch"),
                    help="also time the original network rewritten in PyTorch (benchmarks/torch_reference.py, needs "
                         "torch), repeatable: 'default' or tokens packed, intraN, interN")
parser.add_argument("--rounds", type=arguments.positive_int, default=1,
                    help="run every configuration this many times, interleaved, and keep each part's median "
                         "(evens out drifts of a shared machine) (default: %(default)s)")
parser.add_argument("--seed", type=arguments.seed, default=SEED, help="seed of the batch sampling (default: %(default)s)")


def fail(message: str) -> NoReturn:
    parser.exit(2, f"{parser.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> None:
    args = parser.parse_args(argv)
    with arguments.clean_exit(parser):
        run(args)


def run(args: argparse.Namespace) -> None:
    try:
        configs = harness.configurations(args)
    except ValueError as error:  # one asked for that cannot run here
        fail(str(error))
    gpu = harness.gpu_name() if args.gpu else None
    if args.gpu and gpu is None:
        fail("--gpu: no GPU found (nvidia-smi lists none); leave out --gpu to run on the CPU")
    output = Path(args.output) if args.output else RUNS / f"benchmark-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    if problem := arguments.check_writable(output):
        fail(f"--output: {problem}")
    if args.data is not None and not Path(args.data).exists():  # synthetic lengths only in place of the default
        fail(f"--data: {args.data!r} does not exist")
    from attention.data.errors import DatasetError

    try:
        x, y, source = harness.load_padded(args.data or DEFAULT_DATA, args.seed)
    except DatasetError as error:
        fail(f"--data: {error}")
    lengths = np.count_nonzero(x, axis=1)
    rng = np.random.default_rng(args.seed)
    if args.batch_size > len(x):
        fail(f"--batch-size {args.batch_size} is more than the {len(x)} reviews; at most {len(x)}")
    try:  # bucketed batches are one epoch's, so only a run that times them is bound by its count
        sets = {"full": harness.random_batches(x, y, args.batch_size, args.warmup + args.steps, rng),
                "bucketed": harness.bucketed_batches(x, y, args.batch_size, args.warmup, args.steps, rng)
                if any(part.startswith("bucketed/") for part in args.parts) else []}
    except ValueError as error:  # more batches than an epoch has
        fail(str(error))
    print(f"data: {source}: {len(x)} reviews, median length {np.median(lengths):.0f}, "
          f"{np.mean(lengths >= 249):.0%} at 249 (cut); batch {args.batch_size}, "
          f"{args.warmup} warm-up + {args.steps} timed steps per measurement")

    meta = {"date": dt.date.today().isoformat(), "command": shlex.join(["python", *sys.argv]),
            **harness.data_meta(source, x, sets["bucketed"][args.warmup:]),
            "batch_size": args.batch_size, "steps": args.steps, "warmup": args.warmup, "rounds": args.rounds,
            "matmul_gflops": None, "full_length_ceiling_samples_per_s": None, "gpu": args.gpu,
            "gpu_name": gpu, **harness.environment()}
    with tempfile.TemporaryDirectory() as tmp:
        batches = Path(tmp) / "batches.npz"
        harness.save_batches(batches, sets)
        # What is measured so far is written after each run, kept (marked incomplete) if the run is stopped.
        merged = harness.run_all(configs, batches, args.parts, args.warmup, args.rounds, Path(tmp),
                                 save=lambda results: harness.write_results(output, meta, results, complete=False))
        ceiling = None
        if not args.gpu and harness.installed("tensorflow"):
            print("running the matmul ceiling ...", flush=True)
            ceiling = harness.run_worker({"side": "ceiling", "label": "ceiling", "onednn": None}, batches, [], 0, Path(tmp))
    report(output, meta, merged, ceiling)


def report(output: Path, meta: dict, merged: list[dict], ceiling: dict | None) -> None:
    """Prints the tables and writes the complete results; status 1 if a configuration failed."""
    headlines = harness.print_tables(merged, meta, ceiling)
    harness.write_results(output, meta, merged, headlines)
    failed = [r["config"]["label"] for r in merged if "error" in r]
    if failed:
        print(f"\nfailed (see {output}): {', '.join(failed)}", file=sys.stderr)
    print(f"\nwrote {output}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()

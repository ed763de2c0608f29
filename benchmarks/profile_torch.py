"""Where the PyTorch backend's training and prediction batches spend their time: the device's kernels against the clock.

    KERAS_BACKEND=torch python benchmarks/profile_torch.py --data gpu/imdb.npz --output profile.json

The default model (`attention.build_model()`) on full-length batches of the real training split,
through `model.fit` and `model.predict` as the training script runs them: warm-up batches first
(CUDA graphs are captured then), the timed batches once without and once under `torch.profiler`.
For each, it prints the seconds a batch takes, the seconds the device is busy in a batch (its
kernels' summed time; far less than the batch's seconds means the host sets the pace, not the
GPU), and the operators that took the most device time (CPU time without a GPU).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's package
if os.environ.setdefault("KERAS_BACKEND", "torch") != "torch":
    sys.exit(f"profile_torch.py profiles the PyTorch backend; KERAS_BACKEND is {os.environ['KERAS_BACKEND']!r}")

from attention.arguments import non_negative_int, positive_int, sequence_length  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--data", help="IMDB data (archive, folder or imdb.npz); synthetic reviews of IMDB's lengths "
                    "if left out or missing")
parser.add_argument("--steps", type=positive_int, default=10, help="timed batches (default: %(default)s)")
parser.add_argument("--warmup", type=non_negative_int, default=3, help="untimed batches first (default: %(default)s)")
parser.add_argument("--batch-size", type=positive_int, default=256, help="(default: %(default)s)")
parser.add_argument("--sequence-length", type=sequence_length, default=250,
                    help="steps a batch keeps, its first ones (default: %(default)s, the reviews' padded length)")
parser.add_argument("--reset-after", action="store_true", help="the cuDNN-style GRU instead of the original's")
parser.add_argument("--top", type=positive_int, default=20, help="operators listed per mode (default: %(default)s)")
parser.add_argument("--output", help="also write the results to this JSON file")
args = parser.parse_args()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from attention.backends import set_random_seed  # noqa: E402
from attention.model import build_model  # noqa: E402
from benchmarks.harness import as_dataset, load_padded, random_batches  # noqa: E402

gpu = torch.cuda.is_available()
sync = torch.cuda.synchronize if gpu else (lambda: None)
x, y, source = load_padded(args.data)
x = x[:, : args.sequence_length]
print(f"data: {source}; batch {args.batch_size} x {x.shape[1]} steps, {args.warmup} warm-up + {args.steps} timed "
      f"batches per mode")
batches = random_batches(x, y, args.batch_size, args.warmup + args.steps, np.random.default_rng(0))
set_random_seed(0)
model = build_model(reset_after=args.reset_after)
runs = {"train": lambda b: model.fit(as_dataset(b, "train"), epochs=1, shuffle=False, verbose=0),
        "predict": lambda b: model.predict(as_dataset(b, "predict"), verbose=0)}
device_time = "self_device_time_total" if gpu else "self_cpu_time_total"  # microseconds


def seconds(run, timed: list) -> float:
    sync()
    start = time.perf_counter()
    run(timed)
    sync()
    return time.perf_counter() - start


results = {"data": source, "device": torch.cuda.get_device_name() if gpu else "cpu", "torch": torch.__version__,
           "batch_size": args.batch_size, "sequence_length": x.shape[1], "steps": args.steps,
           "reset_after": args.reset_after}
for mode, run in runs.items():
    if args.warmup:
        run(batches[: args.warmup])
    timed = batches[args.warmup :]
    plain = seconds(run, timed)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if gpu else [])
    with profile(activities=activities) as prof:
        profiled = seconds(run, timed)
    ops = sorted(prof.key_averages(), key=lambda e: getattr(e, device_time), reverse=True)
    busy = sum(getattr(e, device_time) for e in ops) / 1e6 if gpu else None
    results[mode] = {
        "seconds_per_batch": round(plain / args.steps, 5),
        "seconds_per_batch_profiled": round(profiled / args.steps, 5),
        "device_busy_seconds_per_batch": None if busy is None else round(busy / args.steps, 5),
        "top": [{"op": e.key, "calls_per_batch": e.count / args.steps, "self_ms_per_batch": round(getattr(e, device_time) / 1e3 / args.steps, 4),
                 "self_cpu_ms_per_batch": round(e.self_cpu_time_total / 1e3 / args.steps, 4)} for e in ops[: args.top]],
    }
    r = results[mode]
    busy_text = "" if busy is None else f", the device busy {1e3 * r['device_busy_seconds_per_batch']:.2f} ms of it"
    print(f"\n{mode}: {1e3 * r['seconds_per_batch']:.2f} ms a batch ({1e3 * r['seconds_per_batch_profiled']:.2f} ms "
          f"profiled){busy_text}")
    print(f"| operator | calls a batch | self {'device' if gpu else 'CPU'} ms a batch |\n|---|---:|---:|")
    for op in r["top"]:
        print(f"| `{op['op'][:70]}` | {op['calls_per_batch']:g} | {op['self_ms_per_batch']:.3f} |")
if args.output:
    Path(args.output).write_text(json.dumps(results, indent=1) + "\n")

"""The fused recurrence (`benchmarks.torch_fused`) against the PyTorch loops it replaces, on a GPU.

    python benchmarks/fused_kernels.py --output fused.json

Each runs the default model's recurrence (two directions, `--units` units) over one batch of
post-padded rows of random lengths, with random inputs and kernels: the original math against
the hand-written loop (`attention.torch_loop`), and `reset_after`'s against a plain PyTorch loop
under autograd. Their outputs and gradients are compared, and each is timed (median of
`--repeats`, after a first call that compiles and autotunes the kernels), forward only and
forward with backward, with float32 matmuls in full precision and in TensorFloat-32. The loops
run op by op here (the model replays the hand-written one as CUDA graphs). Prints a table, and
the configs Triton's autotuner picked; `--output` is written after each row, so a run stopped
part way keeps the rows it timed.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's package
os.environ.setdefault("KERAS_BACKEND", "torch")  # `attention` imports Keras; nothing here needs TensorFlow

from attention.arguments import positive_int  # noqa: E402
from attention.atomic import write_json  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--steps", type=positive_int, default=250, help="timesteps (default: %(default)s)")
parser.add_argument("--batch-size", type=positive_int, default=256, help="(default: %(default)s)")
parser.add_argument("--units", type=positive_int, default=150, help="GRU units (default: %(default)s)")
parser.add_argument("--repeats", type=positive_int, default=10, help="timed runs of each (default: %(default)s)")
parser.add_argument("--output", help="also write the results to this JSON file, row by row")
args = parser.parse_args()

import torch  # noqa: E402

if not torch.cuda.is_available():  # on a CPU the kernels would fail deep inside Triton, after the table's head
    parser.exit(2, f"{parser.prog}: error: needs a CUDA GPU (Triton's kernels run on one only), and PyTorch finds none\n")

from attention import torch_loop  # noqa: E402
from benchmarks import torch_fused  # noqa: E402

device = "cuda"
sync = torch.cuda.synchronize
generator = torch.Generator(device).manual_seed(0)
T, B, H = args.steps, args.batch_size, args.units
inputs = 0.5 * torch.randn(T, 2, B, 3 * H, device=device, generator=generator)
recurrent = torch.randn(2, H, 3 * H, device=device, generator=generator) / H**0.5
recurrent_bias = 0.1 * torch.randn(2, 1, 3 * H, device=device, generator=generator)
d_outputs = torch.randn(T, 2, B, H, device=device, generator=generator)
lengths = torch.randint(T // 4, T + 1, (B,), device=device, generator=generator)
steps = torch.arange(T, device=device)[:, None]
masks = torch.stack([steps < lengths, steps.flip(0) < lengths], dim=1)[..., None]  # the backward direction reversed


def reset_after_loop(inputs: torch.Tensor, recurrent: torch.Tensor, masks: torch.Tensor,
                     recurrent_bias: torch.Tensor) -> torch.Tensor:
    """`torch_fused.recurrence(..., reset_after=True)` step by step, differentiated by autograd."""
    h, states = inputs.new_zeros(inputs.shape[1:-1] + (H,)), []
    for t in range(inputs.shape[0]):
        hidden = torch.baddbmm(recurrent_bias, h, recurrent)
        z, r = torch.sigmoid(inputs[t, ..., : 2 * H] + hidden[..., : 2 * H]).chunk(2, dim=-1)
        c = torch.tanh(inputs[t, ..., 2 * H :] + r * hidden[..., 2 * H :])
        h = torch.where(masks[t], c + z * (h - c), h)
        states.append(h)
    return torch.stack(states) * masks


LOOPS = {  # math: (reference, fused), each called with inputs, recurrent kernels, masks and recurrent bias
    "original": (lambda x, u, m, b: torch_loop.recurrence(x, u, m), lambda x, u, m, b: torch_fused.recurrence(x, u, m)),
    "reset_after": (reset_after_loop, lambda x, u, m, b: torch_fused.recurrence(x, u, m, b, reset_after=True)),
}


def run(recurrence, train: bool) -> list:
    x, kernel, bias = (t.clone().requires_grad_(train) for t in (inputs, recurrent, recurrent_bias))
    with torch.set_grad_enabled(train):
        outputs = recurrence(x, kernel, masks, bias)
        return [outputs, *torch.autograd.grad(outputs, (x, kernel, bias), d_outputs, allow_unused=True)] if train \
            else [outputs]


def seconds(recurrence, train: bool) -> float:
    times = []
    for _ in range(args.repeats):
        sync()
        start = time.perf_counter()
        run(recurrence, train)
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


results = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "steps": T, "batch_size": B, "units": H, "repeats": args.repeats, "runs": []}
print(f"{results['device']}: {T} steps, batch {B}, {H} units, median of {args.repeats}\n")
print("| math | matmuls | loop | forward ms | forward + backward ms | largest difference (outputs, gradients) |")
print("|---|---|---|---:|---:|---|")
for math, (reference, fused) in LOOPS.items():
    for precision in ("highest", "high"):
        torch.set_float32_matmul_precision(precision)
        expected = [t.detach() for t in run(reference, True) if t is not None]
        start = time.perf_counter()
        got = [t.detach() for t in run(fused, True) if t is not None]  # compiles and autotunes both kernels
        run(fused, False)
        first_call = time.perf_counter() - start
        # Each difference relative to the largest value of what it compares.
        differences = [float((g - e).abs().max() / e.abs().max()) for g, e in zip(got, expected)]
        for name, recurrence in (("reference", reference), ("fused", fused)):
            row = {"math": math, "precision": precision, "loop": name,
                   "forward_ms": 1e3 * seconds(recurrence, False), "train_ms": 1e3 * seconds(recurrence, True)}
            if name == "fused":
                row.update(relative_differences=differences, first_call_s=first_call)
            results["runs"].append(row)
            if args.output:
                write_json(args.output, results)
            shown = ", ".join(f"{d:.1e}" for d in differences) if name == "fused" else ""
            print(f"| {math} | {'TF32' if precision == 'high' else 'float32'} | {name} | {row['forward_ms']:.2f} | "
                  f"{row['train_ms']:.2f} | {shown} |")
results["autotuned"] = {kernel: {"picked": {str(key): str(config) for key, config in tuner.cache.items()},
                                 "last_timings_ms": {str(config): timings for config, timings
                                                     in getattr(tuner, "configs_timings", {}).items()}}
                        for kernel, tuner in torch_fused.TUNED.items()}
print("\nautotuned:", json.dumps(results["autotuned"], indent=1))
if args.output:
    write_json(args.output, results)

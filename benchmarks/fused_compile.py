"""Compiles every kernel of `benchmarks.torch_fused` for a GPU, on a machine without one.

    python benchmarks/fused_compile.py --arch 90 --output compile.json

For each launch configuration the autotuner may pick (`torch_fused.CONFIGS`), both GRU maths,
with and without masks and both precisions, it compiles the training and inference forward
kernels and the backward kernel through `triton.compile` and the `ptxas` that Triton ships, and
reports each one's shared memory, registers a thread and bytes spilled: what decides whether a
configuration fits the GPU, before a GPU is at hand. Needs Triton.
"""

import argparse
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's package
os.environ.setdefault("KERAS_BACKEND", "torch")  # `attention` imports Keras; nothing here needs TensorFlow

from attention.arguments import positive_int  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--arch", type=positive_int, default=90,
                    help="CUDA compute capability x 10 (default: %(default)s, H100)")
parser.add_argument("--output", help="also write the results to this JSON file")
args = parser.parse_args()

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from benchmarks import torch_fused  # noqa: E402
from benchmarks.torch_fused import kernels  # noqa: E402

POINTER, INT = "*fp32", "i32"


def signature(kernel, pointers: int) -> dict:
    """Triton's signature for `kernel`: its first `pointers` arguments float32 pointers (the masks'
    bytes), the rest ints and constants."""
    types = {p.name: "constexpr" if p.is_constexpr else POINTER if i < pointers else INT
             for i, p in enumerate(kernel.params)}
    return {**types, "masks": "*u8"}


FORWARD = signature(kernels.forward_kernel, 8)
BACKWARD = signature(kernels.backward_kernel, 10)
ptxas = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
suffix = "a" if args.arch >= 90 else ""
results = []
print("| precision | masks | math | kernel | cols | chunk | warps | shared KB | registers | spilled bytes |")
print("|---|---|---|---|---:|---:|---:|---:|---:|---:|")
for precision, masked, reset_after, config in itertools.product(("ieee", "tf32"), (True, False), (False, True),
                                                                  torch_fused.CONFIGS):
    common = {"HAS_MASK": masked, "RESET_AFTER": reset_after, **config.kwargs, "PRECISION": precision}
    for name, kernel, types, constants in [
        ("forward", kernels.forward_kernel, FORWARD, {**common, "KEEP": True, "HAS_BIAS": reset_after,
                                                      "EXACT_TANH": True}),
        ("inference", kernels.forward_kernel, FORWARD, {**common, "KEEP": False, "HAS_BIAS": reset_after,
                                                        "EXACT_TANH": True}),
        ("backward", kernels.backward_kernel, BACKWARD, common),
    ]:
        compiled = triton.compile(ASTSource(fn=kernel, signature=types, constexprs=constants),
                                  target=GPUTarget("cuda", args.arch, 32),
                                  options={"num_warps": config.num_warps, "num_stages": config.num_stages})
        with tempfile.TemporaryDirectory() as folder:
            ptx = Path(folder) / "kernel.ptx"
            ptx.write_text(compiled.asm["ptx"])
            report = subprocess.run([str(ptxas), f"-arch=sm_{args.arch}{suffix}", "-v", str(ptx), "-o",
                                     str(Path(folder) / "kernel.cubin")], capture_output=True, text=True, check=True)
        text = report.stdout + report.stderr
        row = {"precision": precision, "masks": masked, "math": "reset_after" if reset_after else "original",
               "kernel": name, **config.kwargs, "warps": config.num_warps, "shared_bytes": compiled.metadata.shared,
               "registers": int(re.search(r"Used (\d+) registers", text).group(1)),
               "spilled_bytes": int(re.search(r"(\d+) bytes spill stores", text).group(1))}
        results.append(row)
        print(f"| {precision} | {masked} | {row['math']} | {name} | {row['COLS']} | {row['CHUNK']} | "
              f"{row['warps']} | {row['shared_bytes'] / 1024:.0f} | {row['registers']} | {row['spilled_bytes']} |",
              flush=True)
shared = [r["shared_bytes"] / 1024 for r in results]
print(f"\n{len(results)} kernels for sm_{args.arch}{suffix}: shared memory {min(shared):.0f} to {max(shared):.0f} KB, "
      f"{min(r['registers'] for r in results)} to {max(r['registers'] for r in results)} registers a thread, "
      f"at most {max(r['spilled_bytes'] for r in results)} bytes spilled")
if args.output:
    Path(args.output).write_text(json.dumps({"triton": triton.__version__, "arch": args.arch, "kernels": results},
                                            indent=1) + "\n")

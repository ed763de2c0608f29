"""What a benchmark configuration is: `parse_variant`'s tokens, for the port, the TF1 reference and the PyTorch rewrite."""

from __future__ import annotations

import argparse
import importlib.util
import json
from typing import Callable

TORCH_CONSTANTS = ("NUM_WORDS", "EMBEDDING_DIM", "HIDDEN_SIZE", "ATTENTION_SIZE", "KEEP_PROB", "LEARNING_RATE")
PART_NAMES = ("full/train", "full/predict", "bucketed/train", "bucketed/predict")
"""What a run times by default: each batch's step waited on (its loss or its outputs read back) before the next."""
STREAM_PARTS = ("full/stream", "bucketed/stream")
"""Prediction over all the timed batches with nothing read back until the end, as `model.predict` runs over a
dataset: the host prepares and launches the next batch while the device works on this one."""
MISSING_TORCH = "PyTorch rewrite skipped: torch is not installed (pip install torch, or pip install -e \".[bench]\")."
MISSING_TF_KERAS = (
    'reference skipped: tf_keras is not installed (pip install "tf_keras==2.21.*", '
    'or pip install -e ".[bench]"); only the port is timed.'
)
REF_PART = {"bucketed/train": "full/train", "bucketed/predict": "full/predict", "bucketed/stream": "full/stream"}
"""The part of the references (TF1 graph, PyTorch rewrite) each port part is compared with: the original
pipeline has no bucketing, its default batches are the random full-length ones."""


def installed(module: str) -> bool:
    """Whether `module` can be imported here (checked before a run, without importing it)."""
    return importlib.util.find_spec(module) is not None


def missing_backend(backends: list[str]) -> str | None:
    """Why the port cannot run on one of `backends` (its package is not installed), or `None`."""
    for backend in backends:
        if not installed(backend):
            return f"--backend {backend}: {backend} is not installed (pip install {backend}), so nothing can run on it"
    return None


def unique(configs: list[dict]) -> tuple[list[dict], list[str]]:
    """`configs` without repeats of one configuration (the same settings under any label), first ones
    kept: `(kept, labels left out)`. A repeat would time the same thing twice under one label."""
    kept, seen, dropped = [], set(), []
    for config in configs:
        key = json.dumps({k: v for k, v in config.items() if k != "label"}, sort_keys=True)
        if key in seen:
            dropped.append(config["label"])
        else:
            seen.add(key)
            kept.append(config)
    return kept, dropped


def parse_variant(spec: str, side: str) -> dict:
    """`default`, or `+`-joined tokens.

    Port: reset_after, xla, keras | projected | concat | fast | block | tf1cell (the GRU
    class: `keras.layers.GRU` or one of `benchmarks.variants`; default: whatever
    `attention.build_model()` builds), per_direction | stacked | stacked_hoisted | graphed |
    cudnn (the `BidirectionalGRU` loop; default: its `"auto"`), autograd (PyTorch: the hoisted
    loop differentiated by autograd step by step instead of `attention.torch_loop`'s hand-written
    gradient), compiled (PyTorch: that gradient and its forward loop with each step compiled,
    `benchmarks.torch_compiled`), fused (PyTorch: the stacked loop and its gradient, with
    either GRU math, as Triton kernels over all steps, `benchmarks.torch_fused`), tf32
    (PyTorch: float32 matmuls on a GPU in TensorFloat-32, as TensorFlow and JAX run them by
    default), heap (glibc's allocator keeps freed blocks of up to 2 GB instead of unmapping
    them: `workers.reuse_freed_memory`), unrollN (the stacked loop's `scan` unrolled N steps at
    a time, in place of `attention.bidirectional.JAX_GPU_UNROLL` on a JAX GPU and 1
    elsewhere), widthN (JAX: bucketed batches cut to multiples of N steps instead of
    `attention.pipeline.default_width_step`).
    Reference: tf2 (TF 2 control flow and resource variables instead of TF1 behaviour).
    Torch (`benchmarks/torch_reference.py`): packed (a packed sequence into the GRU), intraN,
    interN (PyTorch's thread pools).
    All: intraN, interN (TensorFlow's thread pools; 0 = TensorFlow's own choice), onednn0
    (TF_ENABLE_ONEDNN_OPTS=0). Without them the port sizes its pools as the training script
    does (`attention.backends.configure_threads()`), the reference as the original (TF's).
    """
    config = {"side": side, "label": f"{side}:{spec}", "reset_after": False, "jit": False, "gru": "package", "loop": "auto",
              "intra": None, "inter": None, "tf1_behavior": True, "onednn": None, "backend": "tensorflow",
              "gpu": False}
    if side == "torch":
        # Its worker must not import TensorFlow (through `attention`) beside PyTorch.
        from attention import defaults

        config["model"] = {name: getattr(defaults, name) for name in TORCH_CONSTANTS}
    for token in filter(None, spec.split("+")):
        if token == "default":
            continue
        elif token == "reset_after" and side == "port":
            config["reset_after"] = True
        elif token == "xla" and side == "port":
            config["jit"] = True
        elif token in ("keras", "projected", "concat", "fast", "block", "tf1cell") and side == "port":
            config["gru"] = token
        elif token in ("per_direction", "stacked", "stacked_hoisted", "graphed", "cudnn") and side == "port":
            config["loop"] = token
        elif token in ("autograd", "compiled", "fused", "tf32", "heap") and side == "port":
            config[token] = True
        elif token.startswith("unroll") and token[6:].isdigit() and side == "port":
            config["unroll"] = int(token[6:])
        elif token.startswith("width") and token[5:].isdigit() and int(token[5:]) > 0 and side == "port":
            config["width_step"] = int(token[5:])
        elif token == "tf2" and side == "reference":
            config["tf1_behavior"] = False
        elif token == "packed" and side == "torch":
            config["packed"] = True
        elif side == "torch" and not token.startswith(("intra", "inter")):
            raise ValueError(f"Unknown torch variant token {token!r} in {spec!r}: packed, intraN, interN.")
        elif token.startswith(("intra", "inter")) and token[5:].isdigit():
            config[token[:5]] = int(token[5:])
        elif token in ("onednn0", "onednn1"):
            config["onednn"] = token[-1]
        else:
            raise ValueError(f"Unknown {side} variant token {token!r} in {spec!r}.")
    return config


def variant_type(side: str) -> Callable[[str], str]:
    """An argparse type for `side`'s variants: a spec that `parse_variant` takes, as given; any
    other is argparse's usage error, not a traceback once the run has started."""

    def variant(spec: str) -> str:
        try:
            parse_variant(spec, side)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return spec

    variant.__name__ = f"{side} variant"  # how argparse names the type in its message
    return variant


def configurations(args: argparse.Namespace) -> list[dict]:
    """What `scripts/benchmark.py`'s arguments ask to time: its ports, references and PyTorch rewrites, each once.

    One asked for that cannot run here (a backend not installed, the TF1 reference with --gpu) is a
    `ValueError`; the references and rewrites left out by default or for a missing package are said on stderr.
    """
    import sys

    backends = args.backend or ["tensorflow"]
    if problem := missing_backend(backends):
        raise ValueError(problem)
    if args.reference and (args.gpu or args.no_reference):
        raise ValueError("--reference: " + ("the TF1 reference runs on the CPU only, without --gpu" if args.gpu
                                            else "cannot go with --no-reference"))
    ports = []
    for backend in backends:
        for variant in args.port or ["default"]:
            config = {**parse_variant(variant, "port"), "backend": backend, "gpu": args.gpu}
            if backend != "tensorflow":
                config["label"] = f"port[{backend}]:{variant}"
            ports.append(config)
    references = [parse_variant(v, "reference") for v in args.reference or ["default"]]
    if args.no_reference or args.gpu:  # the TF1 graph runs on the CPU, as the original did
        references = []
    elif not installed("tf_keras"):
        print(MISSING_TF_KERAS, file=sys.stderr)
        references = []
    rewrites = [{**parse_variant(v, "torch"), "gpu": args.gpu} for v in args.torch or []]
    if rewrites and not installed("torch"):
        print(MISSING_TORCH, file=sys.stderr)
        rewrites = []
    configs, repeated = unique(ports + references + rewrites)
    if repeated:
        print(f"each configuration runs once; left out as repeats: {', '.join(dict.fromkeys(repeated))}")
    return configs


def side_parts(side: str, parts: list[str]) -> list[str]:
    """The parts a side times for `parts`: the port each of them; the references (no bucketing in the
    original pipeline) the full-length part that each is compared with (`REF_PART`), once."""
    return list(parts) if side == "port" else list(dict.fromkeys(REF_PART.get(part, part) for part in parts))


def without_effect(job: dict, bucketed: bool) -> list[str]:
    """The port's variant tokens that changed nothing where the worker ran, each with what ran instead.

    From `job["in_force"]` (what `_port_steps` found in force); `bucketed`: whether a bucketed part is timed.
    """
    force = job["in_force"]
    backend, loop = force["backend"], force["loop"]
    torch_gpu = backend == "torch" and str(force.get("device") or "cpu").startswith("cuda")
    scanned = loop in ("stacked", "stacked_hoisted") and backend != "torch"  # PyTorch's scan is a Python loop
    unused = []
    if job.get("loop", "auto") not in ("auto", loop):
        unused.append(f"{job['loop']} (the {loop} loop ran)")
    if "unroll" in job and not (job["unroll"] and scanned):
        unused.append(f"unroll{job['unroll']} ({'0 leaves the scan as it is' if scanned else f'no scan: the {loop} loop ran'})")
    if "width_step" in job and not (backend == "jax" and bucketed):
        unused.append(f"width{job['width_step']} (JAX's bucketed batches only)")
    if job.get("tf32") and not torch_gpu:
        unused.append("tf32 (PyTorch on a CUDA GPU only)")
    if job.get("autograd") and not force.get("autograd"):
        unused.append(f"autograd (no hand-written gradient to replace here: the {loop} loop ran)")
    if job.get("compiled") and not force["compiled"]:
        unused.append(f"compiled (no hand-written PyTorch loop to compile here: the {loop} loop ran)")
    if job.get("fused") and not force["fused"]:
        unused.append(f"fused (Triton's kernels need PyTorch on a CUDA GPU and a stacked loop: the {loop} loop ran)")
    return unused

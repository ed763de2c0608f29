"""What a benchmark run reports: the tables, the JSON, the machine, and the matmul work a sample costs."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

from benchmarks.harness.configs import PART_NAMES, REF_PART, STREAM_PARTS

ESTIMATORS = (
    "Samples/s of a part whose timed batches all have one width (the (a) rows, and the reference's "
    "random full-length batches in the (b) rows): batch size / median step time. Of a part of several "
    "widths (the port's bucketed (b) rows): all samples / total time of its steps. Streamed rows: all "
    "samples / the one prediction's time. A (b) ratio thus sets the two estimators against each other."
)
"""How `workers.summarize` and `summarize_stream` turned each row's step times into samples/s (the table's note)."""

def flops_per_sample(width: int | None = None, training: bool = True) -> float:
    """Matmul FLOPs of one review at `width` steps through the default model (the GRU and the attention).

    A GRU step is `[x, h] @ (D + H, 2H)` and `[x, r*h] @ (D + H, H)` for each direction; the
    attention projects `2H` to `A` and scores with `u_omega`. Training adds the backward
    pass, about twice the forward's matmuls.
    """
    from attention import defaults

    width = width or defaults.SEQUENCE_LENGTH
    units, depth, size = defaults.HIDDEN_SIZE, defaults.EMBEDDING_DIM, defaults.ATTENTION_SIZE
    gru = 2 * 2 * (depth + units) * 3 * units * width
    attention = 2 * width * (2 * units * size + size)
    return (gru + attention) * (3 if training else 1)


def write_results(path: Path, meta: dict, results: list[dict], headlines: dict | None = None,
                  complete: bool = True) -> None:
    """The run's JSON, whole or not at all: its measurements, the headline tables, and each failed
    configuration with its error. `complete` is false in what is written while the run goes on (kept
    if it is stopped)."""
    from attention.atomic import atomic_path  # not at the top: `attention` loads Keras, which no worker may before its setup

    headlines = headlines or {}
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({
        "complete": complete, "meta": meta, "table": next(iter(headlines.values()), None), "tables": headlines,
        "results": [r for r in results if "error" not in r],
        "failed": [{"label": r["config"]["label"], "error": r["error"]} for r in results if "error" in r],
    }, indent=1)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


def gpu_name() -> str | None:
    """The first GPU's name, from nvidia-smi."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.splitlines()[0] if out else None


def environment() -> dict:
    import importlib.metadata as md

    model = "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    versions = {}
    for package in ("tensorflow", "keras", "tf_keras", "jax", "torch", "numpy"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = None
    return {"cpu": model, "cpus": os.cpu_count(), "python": platform.python_version(), **versions}


def rate(result: dict | None, part: str) -> float | None:
    return None if result is None or part not in result["parts"] else result["parts"][part]["samples_per_s"]


def table(port: dict, reference: dict | None) -> str:
    """The headline table: the port against the reference, side by side, and how each rate was estimated."""
    rows = [("(a) train, identical full-length (250) batches", "full/train"),
            ("(a) predict, identical full-length (250) batches", "full/predict"),
            ("(b) train, default pipelines (port: bucketed; ref: random full-length)", "bucketed/train"),
            ("(b) predict, default pipelines", "bucketed/predict")]
    rows += [(title, part) for title, part in [("(a) predict streamed (read back once), full-length", "full/stream"),
                                               ("(b) predict streamed, default pipelines", "bucketed/stream")]
             if part in port["parts"]]
    lines = ["| row | port samples/s | reference samples/s | port / reference |", "|---|---:|---:|---:|"]
    fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    for title, part in rows:
        p, r = rate(port, part), rate(reference, REF_PART.get(part, part))
        ratio = f"**{p / r:.2f}x**" if p and r else "-"
        lines.append(f"| {title} | {fmt(p)} | {fmt(r)} | {ratio} |")
    rss_r = None if reference is None else reference["peak_rss_mib"]
    ratio = f"{port['peak_rss_mib'] / rss_r:.2f}x" if rss_r else "-"
    rss = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731  (the same for both sides)
    lines.append(f"| peak RSS (MiB) | {rss(port['peak_rss_mib'])} | {rss(rss_r)} | {ratio} |")
    return "\n".join(lines + ["", ESTIMATORS])


def variants_table(results: list[dict]) -> str:
    """Every measured configuration's samples/s for each part, peak RSS and wall time; on a GPU, its peak GPU memory too."""
    gpu = any(res.get("peak_gpu_mib") is not None for res in results)
    memory = ["peak RSS MiB"] + (["peak GPU MiB"] if gpu else [])
    parts = PART_NAMES + tuple(p for p in STREAM_PARTS if any(p in res["parts"] for res in results))
    lines = ["| configuration | " + " | ".join(parts + tuple(memory)) + " | wall s |",
             "|---|" + "---:|" * (len(parts) + len(memory) + 1)]
    for res in results:
        cells = [res["config"]["label"]]
        for part in parts:
            value = rate(res, part)
            cells.append("-" if value is None else f"{value:.1f}")
        cells.append(f"{res['peak_rss_mib']:.0f}")
        if gpu:
            cells.append("-" if res.get("peak_gpu_mib") is None else f"{res['peak_gpu_mib']:.0f}")
        cells.append(f"{res['wall_s']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def data_meta(source: str, x, timed_bucketed: list) -> dict:
    """What the run's JSON says of its data: the reviews' lengths, and the mean width of the timed bucketed batches
    (quantiles of an epoch's widths, not the epoch itself)."""
    import numpy as np

    lengths = np.count_nonzero(x, axis=1)
    return {"data": source, "reviews": len(x), "median_length": float(np.median(lengths)),
            "fraction_cut_at_249": round(float(np.mean(lengths >= 249)), 4),
            "bucketed_timed_mean_width": round(float(np.mean([b[0].shape[1] for b in timed_bucketed])), 1)
            if timed_bucketed else None}


def print_tables(merged: list[dict], meta: dict, ceiling: dict | None) -> dict:
    """Prints each port's headline table, all configurations' and the matmul ceiling (also put in `meta`);
    returns the headline tables by port label."""
    results = [r for r in merged if "error" not in r]
    # The TF1 graph where it ran (CPU), else the PyTorch rewrite (on the GPU with --gpu).
    reference = next((r for r in results if r["config"]["side"] == "reference"), None)
    reference = reference or next((r for r in results if r["config"]["side"] == "torch"), None)
    headlines = {}
    for port in (r for r in results if r["config"]["side"] == "port"):
        headlines[port["config"]["label"]] = table(port, reference)
        print(f"\n{port['config']['label']} vs {reference['config']['label'] if reference else '(no reference)'}:")
        print(headlines[port["config"]["label"]])
    if len(results) > 2 or reference is None:
        print("\nAll configurations (samples/s):")
        print(variants_table(results))
    if ceiling is not None:
        gflops = ceiling["gflops"]
        limits = {mode: round(gflops * 1e9 / flops_per_sample(training=mode == "train"), 1)
                  for mode in ("train", "predict")}
        meta.update(matmul_gflops=round(gflops, 1), full_length_ceiling_samples_per_s=limits)
        print(f"\nfloat32 matmul ceiling: {gflops:.1f} GFLOP/s on all cores; at full length (250) at most "
              f"{limits['train']:.0f} training and {limits['predict']:.0f} predicted samples/s")
    return headlines

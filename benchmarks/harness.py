"""Reusable logic of `scripts/benchmark.py`: batches, timed workers, the table.

Each measured configuration runs in a worker process of its own
(`python -m benchmarks.harness WORKER.json`): its peak RSS is its own, TensorFlow's
thread pools can be set before TensorFlow starts, and the TF1 reference can switch the
whole process to TF1 behaviour. All workers of one benchmark run read the same batches
from one `.npz` file, so the port and the reference are timed on identical inputs.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# Synthetic lengths: log-normal fitted to Keras's imdb.npz (median ~173 tokens, ~30 %
# of the reviews cut at 249 by zero_pad).
SYNTHETIC_MEDIAN, SYNTHETIC_SIGMA = 173.0, 0.70
TORCH_CONSTANTS = ("NUM_WORDS", "EMBEDDING_DIM", "HIDDEN_SIZE", "ATTENTION_SIZE", "KEEP_PROB", "LEARNING_RATE")
PART_NAMES = ("full/train", "full/predict", "bucketed/train", "bucketed/predict")
MISSING_TORCH = "PyTorch rewrite skipped: torch is not installed (pip install torch, or pip install -e \".[bench]\")."
MISSING_TF_KERAS = (
    'reference skipped: tf_keras is not installed (pip install "tf_keras==2.21.*", '
    'or pip install -e ".[bench]"); only the port is timed.'
)


# ----------------------------------------------------------------------------- data


def load_padded(data: str | os.PathLike | None, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """Training reviews as the original pads them: `(x, y, description)`.

    The real IMDB training split when `data` exists, otherwise synthetic reviews
    with IMDB's length distribution.
    """
    from attention import defaults

    if data is not None and Path(data).exists():
        from attention import imdb
        from attention.preprocessing import zero_pad

        (x, y), _ = imdb.load_data(data, num_words=defaults.NUM_WORDS, index_from=defaults.INDEX_FROM, verbose=False)
        return zero_pad(x, defaults.SEQUENCE_LENGTH), np.asarray(y, "float32"), f"IMDB training split ({data})"
    rng = np.random.default_rng(seed)
    n = 25000
    lengths = np.clip(np.round(rng.lognormal(np.log(SYNTHETIC_MEDIAN), SYNTHETIC_SIGMA, n)), 10, defaults.SEQUENCE_LENGTH - 1)
    x = np.zeros((n, defaults.SEQUENCE_LENGTH), "int32")
    steps = np.arange(defaults.SEQUENCE_LENGTH)[None, :]
    x[:] = np.where(steps < lengths[:, None], rng.integers(4, defaults.NUM_WORDS, x.shape), 0)
    x[:, 0] = 1
    return x, rng.integers(0, 2, n).astype("float32"), f"synthetic ({data} not found)"


def random_batches(x, y, batch_size: int, count: int, rng) -> list[tuple[np.ndarray, np.ndarray]]:
    """Full-width batches in random order, as the original's `batch_generator`."""
    order = np.concatenate([rng.permutation(len(x)) for _ in range(-(-count * batch_size // len(x)))])
    return [(x[i], y[i]) for i in np.split(order[: count * batch_size], count)]


def bucketed_batches(x, y, batch_size: int, warmup: int, steps: int, rng) -> list[tuple[np.ndarray, np.ndarray]]:
    """Batches of the port's default pipeline, each trimmed to its longest review.

    `batch_indices(..., bucketing=True)` then trimming, exactly as `make_dataset`. Of one
    epoch's full batches, `warmup` random ones come first (of different widths, so that
    retracing is over before timing), then `steps` batches taken at evenly spaced
    quantiles of width, so that a few steps represent the whole epoch's lengths.
    """
    from attention.pipeline import batch_indices, sequence_lengths

    lengths = sequence_lengths(x)
    epoch = [b for b in batch_indices(lengths, batch_size, True, True, rng) if len(b) == batch_size]
    widths = np.array([lengths[b].max() for b in epoch])
    by_width = np.argsort(widths, kind="stable")
    timed = by_width[((np.arange(steps) + 0.5) * len(epoch) / steps).astype(int)]
    rest = np.setdiff1d(np.arange(len(epoch)), timed)
    chosen = list(rng.choice(rest, warmup, replace=False)) + list(rng.permutation(timed))
    return [(x[epoch[i], : widths[i]], y[epoch[i]]) for i in chosen]


def save_batches(path: Path, sets: dict[str, list]) -> None:
    arrays = {}
    for name, batches in sets.items():
        for i, (bx, by) in enumerate(batches):
            arrays[f"{name}/x/{i:04d}"], arrays[f"{name}/y/{i:04d}"] = bx, by
    np.savez(path, **arrays)


def load_batches(path: Path) -> dict[str, list]:
    sets: dict[str, list] = {}
    with np.load(path) as data:
        for key in sorted(k for k in data.files if "/x/" in k):
            name = key.split("/")[0]
            sets.setdefault(name, []).append((data[key], data[key.replace("/x/", "/y/")]))
    return sets


# -------------------------------------------------------------------------- configs


def parse_variant(spec: str, side: str) -> dict:
    """`default`, or `+`-joined tokens.

    Port: reset_after, xla, keras | projected | concat | fast | block | tf1cell (the GRU
    class: `keras.layers.GRU` or one of `benchmarks.variants`; default: whatever
    `attention.build_model()` builds), per_direction | stacked | stacked_hoisted | cudnn
    (the `BidirectionalGRU` loop; default: its `"auto"`), graphed (PyTorch on a GPU: the stacked
    loop as CUDA graphs, `benchmarks.variants.cuda_graphed`), unrollN (JAX: the stacked loop's
    `scan` unrolled N steps at a time), widthN (JAX: bucketed batches cut to multiples of N steps
    instead of `attention.pipeline.default_width_step`).
    Reference: tf2 (TF 2 control flow and resource variables instead of TF1 behaviour).
    Torch (`benchmarks/torch_reference.py`): packed (a packed sequence into the GRU), intraN,
    interN (PyTorch's thread pools).
    All: intraN, interN (TensorFlow's thread pools; 0 = TensorFlow's own choice), onednn0
    (TF_ENABLE_ONEDNN_OPTS=0). Without them the port sizes its pools as the training script
    does (`attention.training.configure_threads()`), the reference as the original (TF's).
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
        elif token in ("per_direction", "stacked", "stacked_hoisted", "cudnn") and side == "port":
            config["loop"] = token
        elif token == "graphed" and side == "port":
            config["graphed"] = True
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


# -------------------------------------------------------------------------- workers


def run_worker(config: dict, batches: Path, parts: list[str], warmup: int, workdir: Path) -> dict:
    """Runs one configuration in a fresh process and returns its results."""
    job = {**config, "batches": str(batches), "parts": parts, "warmup": warmup,
           "output": str(workdir / "result.json")}
    job_path = workdir / "job.json"
    job_path.write_text(json.dumps(job))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": config.get("backend", "tensorflow"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    if not config.get("gpu"):
        env["CUDA_VISIBLE_DEVICES"] = ""
    if config["onednn"] is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = config["onednn"]
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "benchmarks.harness", str(job_path)], cwd=REPO, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {config['label']} failed:\n{proc.stderr[-4000:]}")
    result = json.loads(Path(job["output"]).read_text())
    result["wall_s"] = round(time.perf_counter() - start, 1)
    return result


def run_all(configs: list[dict], batches: Path, parts: list[str], warmup: int, rounds: int, workdir: Path,
            save: Callable[[list[dict]], None]) -> list[dict]:
    """Every configuration `rounds` times, interleaved, each run in a process of its own.

    A configuration that fails is kept with its error and not run again, and the others still
    run. `save` gets the results so far after each run. Returns each configuration's
    `merge_rounds`, in order.
    """
    runs = [[] for _ in configs]
    for round_ in range(rounds):
        for config, done in zip(configs, runs):
            if done and "error" in done[-1]:
                continue
            print(f"running {config['label']} (round {round_ + 1}/{rounds}) ...", flush=True)
            try:
                result = run_worker(config, batches, parts, warmup, workdir)
            except RuntimeError as error:
                print(f"  failed: {error}", file=sys.stderr, flush=True)
                done.append({"config": config, "error": str(error)[-4000:]})
                continue
            done.append(result)
            summary = ", ".join(f"{p} {v['samples_per_s']:.1f}/s" for p, v in result["parts"].items())
            print(f"  {summary}; peak RSS {result['peak_rss_mib']:.0f} MiB; {result['wall_s']:.0f} s", flush=True)
            save([merge_rounds(r) for r in runs if r])
    return [merge_rounds(r) for r in runs]


def _port_steps(job: dict):
    import keras

    from attention import build_model

    try:  # the training script's thread policy and seeding, where a checkout has them
        from attention.backends import configure_threads, set_random_seed
    except ImportError:  # older checkouts (TensorFlow only)
        from attention.training import configure_threads

        set_random_seed = keras.utils.set_random_seed
    threads = configure_threads(job["intra"], job["inter"])
    set_random_seed(0)
    model = build_model(reset_after=job["reset_after"])
    if job["gru"] != "package":
        from benchmarks.variants import with_gru

        model = with_gru(model, job["gru"])
    if job["jit"] or keras.backend.backend() == "tensorflow":
        model.jit_compile = job["jit"]  # TensorFlow: graphs without XLA unless asked; JAX always compiles
    bidirectional = model.get_layer("bi_gru")
    if job.get("graphed") or job.get("unroll"):
        import attention.bidirectional as stacked

        if job.get("graphed"):
            from benchmarks.variants import cuda_graphed

            stacked.stacked_gru = cuda_graphed(stacked.stacked_gru)
        if job.get("unroll"):
            stacked.scan = lambda body, carry, xs: keras.ops.scan(body, carry, xs, unroll=job["unroll"])
    if job.get("loop", "auto") != "auto":
        bidirectional.loop = job["loop"]
    bi_gru = bidirectional.forward_layer
    job["in_force"] = {"gru_class": type(getattr(bi_gru, "cell", None) if job["gru"] == "tf1cell" else bi_gru).__name__,
                       "loop": bidirectional.loop_in_force() if hasattr(bidirectional, "loop_in_force") else "per_direction",
                       "intra": threads[0], "inter": threads[1], "backend": keras.backend.backend(),
                       "keras": keras.__version__}
    job["_model"] = model  # for _fit_times; keys with "_" stay out of the results
    return (lambda x, y: model.train_on_batch(x, y)), (lambda x, y: model.predict_on_batch(x))


def _fit_times(model, batches: list, mode: str) -> list[float]:
    """Seconds per batch through `model.fit` / `model.predict`, as the training script runs them.

    On JAX, `train_on_batch` copies every variable in and out of its jitted step at each
    call (seconds on a GPU); `fit` keeps them on the device from batch to batch. Each
    batch's time runs from the end of the one before (its loss read back, as the training
    script's callbacks read it) to its own end.
    """
    import keras

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return len(batches)

        def __getitem__(self, index):
            x, y = batches[index][:2]
            return (x, y) if mode == "train" else (x,)

    times, last = [], [0.0]

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                last[0] = time.perf_counter()

        on_predict_batch_begin = on_train_batch_begin

        def on_train_batch_end(self, batch, logs=None):
            float(logs["loss"])  # waits for the step
            now = time.perf_counter()
            times.append(now - last[0])
            last[0] = now

        def on_predict_batch_end(self, batch, logs=None):
            keras.ops.convert_to_numpy(keras.tree.flatten(logs["outputs"])[0])
            now = time.perf_counter()
            times.append(now - last[0])
            last[0] = now

    if mode == "train":
        model.fit(Batches(), epochs=1, shuffle=False, verbose=0, callbacks=[Timer()])
    else:
        model.predict(Batches(), verbose=0, callbacks=[Timer()])
    return times


def _reference_steps(job: dict):
    from benchmarks import tf1_reference

    if job["tf1_behavior"]:
        tf1_reference.enable_tf1_behavior()
    ref = tf1_reference.Reference(tf1_reference.NUM_WORDS, seed=0, intra_op_threads=job["intra"] or 0,
                                  inter_op_threads=job["inter"] or 0)
    job["in_force"] = {"intra": job["intra"] or 0, "inter": job["inter"] or 0, "tf1_behavior": job["tf1_behavior"]}
    return ref.train_step, (lambda x, y, s: ref.predict(x, s))


def _torch_steps(job: dict):
    from benchmarks.torch_reference import TorchReference

    import torch

    device = "cuda" if job.get("gpu") and torch.cuda.is_available() else "cpu"
    ref = TorchReference(job["model"], seed=0, packed=job.get("packed", False), intra_op_threads=job["intra"],
                         inter_op_threads=job["inter"], device=device)
    job["in_force"] = {"intra": torch.get_num_threads(), "inter": torch.get_num_interop_threads(),
                       "torch": torch.__version__, "device": device}
    return ref.train_step, (lambda x, y, lengths: ref.predict(x, lengths))


def _matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """The machine's float32 matmul rate through TensorFlow, on all cores (median of `repeats`)."""
    import tensorflow as tf

    a = tf.random.uniform((size, size))
    matmul = tf.function(lambda a: tf.reduce_sum(tf.matmul(a, a)))
    matmul(a)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a).numpy()
        times.append(time.perf_counter() - start)
    return 2 * size**3 / float(np.median(times)) / 1e9


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


def worker_main(job_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    if job["side"] == "ceiling":
        Path(job["output"]).write_text(json.dumps({"config": job, "parts": {}, "gflops": _matmul_gflops(),
                                                   "peak_rss_mib": 0.0}))
        return
    sets = load_batches(Path(job["batches"]))
    steps = {"port": _port_steps, "reference": _reference_steps, "torch": _torch_steps}[job["side"]]
    train, predict = steps(job)
    through_fit = job["side"] == "port" and job.get("backend", "tensorflow") != "tensorflow"
    parts = {}
    for part in job["parts"]:
        set_name, mode = part.split("/")
        if job["side"] != "port":
            if set_name == "bucketed":
                continue  # the original pipeline has no bucketing: it is "full"
            if job["side"] == "reference":
                from benchmarks.tf1_reference import original_sequence_lengths as lengths
            else:
                from benchmarks.torch_reference import TorchReference

                lengths = TorchReference.sequence_lengths
            # The original's feed, computed outside the timing as tf.data would prefetch it.
            batches = [(bx, by, lengths(bx)) for bx, by in sets[set_name]]
        elif set_name == "bucketed" and job.get("backend") == "jax":
            # As make_dataset cuts them on JAX, or to multiples of the variant's widthN.
            batches = [widen(bx, by, job.get("width_step")) for bx, by in sets[set_name]]
        else:
            batches = sets[set_name]
        warmup = job["warmup"]
        if job["side"] == "port" and (job.get("backend") == "jax" or job.get("graphed")):
            batches, warmup = warm_every_shape(batches, warmup)  # JAX compiles, CUDA graphs capture, each new shape
        step = train if mode == "train" else predict
        if through_fit:
            times = _fit_times(job["_model"], batches, mode)
        else:
            times = []
            for batch in batches:
                start = time.perf_counter()
                step(*batch)
                times.append(time.perf_counter() - start)
        parts[part] = summarize(times[warmup:], batches[warmup:])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(job["output"]).write_text(json.dumps({"config": {k: job[k] for k in job if k not in ("batches", "output") and not k.startswith("_")},
                                               "parts": parts, "peak_rss_mib": round(rss, 1)}))


def warm_every_shape(batches: list, warmup: int) -> tuple[list, int]:
    """`(batches, warmup)` with one more warm-up batch for each shape the timed batches have and
    the first `warmup` lack, so that no compile is timed."""
    seen, extra = {b[0].shape for b in batches[:warmup]}, []
    for b in batches[warmup:]:
        if b[0].shape not in seen:
            seen.add(b[0].shape)
            extra.append(b)
    return extra + batches, warmup + len(extra)


def widen(x: np.ndarray, y: np.ndarray, step: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A bucketed batch padded to a multiple of `step` steps (default: the width the JAX pipeline
    gives it on this device, `default_width_step`), at most the full length."""
    from attention.defaults import SEQUENCE_LENGTH
    from attention.pipeline import default_width_step

    step = step or default_width_step(np.zeros((1, SEQUENCE_LENGTH)))
    width = min(-(-x.shape[1] // step) * step, SEQUENCE_LENGTH)
    return np.pad(x, ((0, 0), (0, width - x.shape[1]))), y


def merge_rounds(rounds: list[dict]) -> dict:
    """One configuration measured in several rounds: the median samples/s of each part (its error if one failed)."""
    if any("error" in r for r in rounds):
        return next(r for r in rounds if "error" in r)
    merged = json.loads(json.dumps(rounds[0]))
    for part, summary in merged["parts"].items():
        rates = [r["parts"][part]["samples_per_s"] for r in rounds]
        summary["samples_per_s"] = round(float(np.median(rates)), 1)
        summary["rounds_samples_per_s"] = rates
        summary["step_s"] = [r["parts"][part]["step_s"] for r in rounds]
    merged["peak_rss_mib"] = max(r["peak_rss_mib"] for r in rounds)
    merged["wall_s"] = round(sum(r["wall_s"] for r in rounds), 1)
    return merged


def write_results(path: Path, meta: dict, results: list[dict], headlines: dict | None = None) -> None:
    """The run's JSON: its measurements, the headline tables, and each failed configuration with its error."""
    headlines = headlines or {}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "meta": meta, "table": next(iter(headlines.values()), None), "tables": headlines,
        "results": [r for r in results if "error" not in r],
        "failed": [{"label": r["config"]["label"], "error": r["error"]} for r in results if "error" in r],
    }, indent=1) + "\n")


def summarize(times: list[float], batches: list) -> dict:
    """Samples/s: batch / median step time for equal widths; total samples / total time otherwise."""
    sizes = np.array([len(b[0]) for b in batches])
    widths = np.array([b[0].shape[1] for b in batches])
    times_a = np.array(times)
    if len(set(widths)) == 1:
        rate = sizes.mean() / np.median(times_a)
    else:
        rate = sizes.sum() / times_a.sum()
    return {"samples_per_s": round(float(rate), 1), "median_step_s": round(float(np.median(times_a)), 4),
            "mean_width": round(float(widths.mean()), 1), "steps": len(times),
            "step_s": [round(t, 4) for t in times], "widths": widths.tolist()}


# ---------------------------------------------------------------------------- report


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
    """The headline table: the port against the reference, side by side."""
    ref_part = {"bucketed/train": "full/train", "bucketed/predict": "full/predict"}
    rows = [("(a) train, identical full-length (250) batches", "full/train"),
            ("(a) predict, identical full-length (250) batches", "full/predict"),
            ("(b) train, default pipelines (port: bucketed; ref: random full-length)", "bucketed/train"),
            ("(b) predict, default pipelines", "bucketed/predict")]
    lines = ["| row | port samples/s | reference samples/s | port / reference |", "|---|---:|---:|---:|"]
    fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    for title, part in rows:
        p, r = rate(port, part), rate(reference, ref_part.get(part, part))
        ratio = f"**{p / r:.2f}x**" if p and r else "-"
        lines.append(f"| {title} | {fmt(p)} | {fmt(r)} | {ratio} |")
    rss_r = None if reference is None else reference["peak_rss_mib"]
    ratio = f"{port['peak_rss_mib'] / rss_r:.2f}x" if rss_r else "-"
    lines.append(f"| peak RSS (MiB) | {port['peak_rss_mib']:.0f} | {fmt(rss_r)} | {ratio} |")
    return "\n".join(lines)


def variants_table(results: list[dict]) -> str:
    """Every measured configuration, with its ratio to the first one of its side."""
    lines = ["| configuration | " + " | ".join(PART_NAMES) + " | peak RSS MiB | wall s |",
             "|---|" + "---:|" * (len(PART_NAMES) + 2)]
    for res in results:
        cells = [res["config"]["label"]]
        for part in PART_NAMES:
            value = rate(res, part)
            cells.append("-" if value is None else f"{value:.1f}")
        cells += [f"{res['peak_rss_mib']:.0f}", f"{res['wall_s']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    worker_main(sys.argv[1])

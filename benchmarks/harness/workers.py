"""The timed runs: each configuration in a worker process of its own (`python -m benchmarks.harness JOB.json`)."""

from __future__ import annotations

import ctypes
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:  # the harness imports Keras only in the workers, after their backend and threads are set
    import keras


from benchmarks.harness.batches import load_batches, warm_every_shape, widen
from benchmarks.harness.configs import side_parts, without_effect

REPO = Path(__file__).resolve().parents[2]

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
            gpu = "" if result.get("peak_gpu_mib") is None else f", GPU {result['peak_gpu_mib']:.0f} MiB"
            print(f"  {summary}; peak RSS {result['peak_rss_mib']:.0f} MiB{gpu}; {result['wall_s']:.0f} s", flush=True)
            if unused := result["config"].get("in_force", {}).get("without_effect"):
                print(f"  without effect here: {'; '.join(unused)}", flush=True)
            save([merge_rounds(r) for r in runs if r])
    return [merge_rounds(r) for r in runs]


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
    gpu = [r["peak_gpu_mib"] for r in rounds if r.get("peak_gpu_mib") is not None]
    merged["peak_gpu_mib"] = max(gpu) if gpu else None
    merged["wall_s"] = round(sum(r["wall_s"] for r in rounds), 1)
    return merged


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
    for part in side_parts(job["side"], job["parts"]):
        set_name, mode = part.split("/")
        if job["side"] != "port":
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
        if job["side"] == "port" and (job.get("backend") == "jax" or (job.get("backend") == "torch" and job.get("gpu"))):
            batches, warmup = warm_every_shape(batches, warmup)  # JAX compiles, CUDA graphs capture, each new shape
        if mode == "stream":
            stream = job["_stream"]
            if warmup:
                stream(batches[:warmup])
            start = time.perf_counter()
            stream(batches[warmup:])
            parts[part] = summarize_stream(time.perf_counter() - start, batches[warmup:])
            continue
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
    Path(job["output"]).write_text(json.dumps({"config": {k: job[k] for k in job if k not in ("batches", "output") and not k.startswith("_")},
                                               "parts": parts, "peak_rss_mib": peak_rss_mib(),
                                               "peak_gpu_mib": peak_gpu_mib()}))


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB, its own since it started.

    On Linux `getrusage`'s `ru_maxrss` outlives `exec`: a worker started by a larger parent would
    report the parent's peak. The high-water mark of the process's own memory (`VmHWM` in
    /proc/self/status) starts afresh with each program; elsewhere `ru_maxrss` is all there is.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (2**20 if sys.platform == "darwin" else 1024), 1)  # bytes on macOS, KiB elsewhere


def peak_gpu_mib() -> float | None:
    """The most GPU memory this process's arrays took at once (CUDA graphs' buffers included), or `None` without a GPU.

    From the allocator of whichever of PyTorch and JAX the process loaded: JAX reserves most of the
    GPU from the start, so `nvidia-smi` would say nothing of what the model needs.
    """
    peaks = []
    if "torch" in sys.modules and sys.modules["torch"].cuda.is_initialized():
        peaks.append(sys.modules["torch"].cuda.max_memory_allocated())
    if "jax" in sys.modules:
        jax = sys.modules["jax"]
        if jax.default_backend() != "cpu":
            peaks.append((jax.devices()[0].memory_stats() or {}).get("peak_bytes_in_use", 0))
    return round(max(peaks) / 2**20, 1) if peaks else None


def reuse_freed_memory() -> bool:
    """Lets glibc's allocator keep the large blocks the process frees, for its next allocations (`heap` token).

    Large CPU arrays come from `malloc`. glibc maps each block of more than 32 MB afresh from the
    operating system and unmaps it when it is freed, so a loop that allocates its activations and
    gradients anew at each training step faults every page of them in again. With blocks up to
    2 GB taken from the heap, and the heap never given back, a freed block serves the next
    allocation of its size. Returns whether the allocator took the setting (`False` off glibc).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    most = 2**31 - 1  # mallopt takes a C int
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    return mallopt(m_mmap_threshold, most) == 1 and mallopt(m_trim_threshold, most) == 1


def _port_steps(job: dict):
    import keras

    from attention import build_model

    try:  # the training script's thread policy and seeding, where a checkout has them
        from attention.backends import configure_threads, set_random_seed
    except ImportError:  # older checkouts (TensorFlow only)
        from attention.backends import configure_threads

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
    import attention.bidirectional as stacked

    by_hand_rule = stacked._recurrence_by_hand
    if job.get("autograd"):
        stacked._recurrence_by_hand = lambda cell: False
    if job.get("compiled"):
        from attention import torch_loop
        from benchmarks import torch_compiled

        torch_loop.recurrence = torch_compiled.recurrence
    fused_here = False  # whether Triton's kernels run on this device
    if job.get("fused"):
        from benchmarks import torch_fused

        stacked.stacked_gru = torch_fused.stacked_gru  # either GRU math
        if job["reset_after"]:
            bidirectional.loop = "graphed"  # "auto" would take PyTorch's own GRU kernel
        fused_here = torch_fused.runs_on(keras.ops.zeros(()).device)
    if job.get("heap"):
        assert reuse_freed_memory(), "the C allocator refused the setting"
    if job.get("tf32"):
        import torch

        torch.set_float32_matmul_precision("high")  # TensorFloat-32 where the GPU has it
    if job.get("unroll"):
        stacked.scan = lambda body, carry, xs, unroll=1: keras.ops.scan(body, carry, xs, unroll=job["unroll"])
    if job.get("loop", "auto") != "auto":
        bidirectional.loop = job["loop"]
    bi_gru = bidirectional.forward_layer
    loop = bidirectional.loop_in_force() if hasattr(bidirectional, "loop_in_force") else "per_direction"
    fused = fused_here and loop in ("stacked", "stacked_hoisted", "graphed")
    hand_written = loop in ("stacked_hoisted", "graphed") and by_hand_rule(bi_gru.cell) and not fused
    by_hand = hand_written and not job.get("autograd")
    job["in_force"] = {"gru_class": type(getattr(bi_gru, "cell", None) if job["gru"] == "tf1cell" else bi_gru).__name__,
                       "loop": loop, "torch_loop": by_hand,  # attention.torch_loop's hand-written gradient
                       "compiled": bool(by_hand and job.get("compiled")),  # its steps compiled
                       "fused": fused, "autograd": bool(hand_written and job.get("autograd")),
                       "intra": threads[0], "inter": threads[1], "backend": keras.backend.backend(),
                       "device": str(keras.ops.zeros(()).device) if keras.backend.backend() == "torch" else None,
                       "keras": keras.__version__}
    job["in_force"]["without_effect"] = without_effect(job, any(p.startswith("bucketed") for p in job["parts"]))
    job["_model"] = model  # for _fit_times; keys with "_" stay out of the results
    job["_stream"] = lambda batches: model.predict(as_dataset(batches, "predict"), verbose=0)
    return (lambda x, y: model.train_on_batch(x, y)), (lambda x, y: model.predict_on_batch(x))


def as_dataset(batches: list, mode: str) -> keras.utils.PyDataset:
    """`batches` as a `keras.utils.PyDataset` of `(x, y)` (training) or `(x,)` (prediction)."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return len(batches)

        def __getitem__(self, index):
            x, y = batches[index][:2]
            return (x, y) if mode == "train" else (x,)

    return Batches()


def _fit_times(model, batches: list, mode: str) -> list[float]:
    """Seconds per batch through `model.fit` / `model.predict`, as the training script runs them.

    On JAX, `train_on_batch` copies every variable in and out of its jitted step at each
    call (seconds on a GPU); `fit` keeps them on the device from batch to batch. Each
    batch's time runs from the end of the one before (its loss read back, as the training
    script's callbacks read it) to its own end.
    """
    import keras

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
        model.fit(as_dataset(batches, mode), epochs=1, shuffle=False, verbose=0, callbacks=[Timer()])
    else:
        model.predict(as_dataset(batches, mode), verbose=0, callbacks=[Timer()])
    return times


def _reference_steps(job: dict):
    from benchmarks import tf1_reference

    if job["tf1_behavior"]:
        tf1_reference.enable_tf1_behavior()
    ref = tf1_reference.Reference(tf1_reference.NUM_WORDS, seed=0, intra_op_threads=job["intra"] or 0,
                                  inter_op_threads=job["inter"] or 0)
    job["in_force"] = {"intra": job["intra"] or 0, "inter": job["inter"] or 0, "tf1_behavior": job["tf1_behavior"]}
    job["_stream"] = lambda batches: [ref.predict(x, s) for x, _, s in batches]  # a session run returns arrays
    return ref.train_step, (lambda x, y, s: ref.predict(x, s))


def _torch_steps(job: dict):
    from benchmarks.torch_reference import TorchReference

    import torch

    device = "cuda" if job.get("gpu") and torch.cuda.is_available() else "cpu"
    ref = TorchReference(job["model"], seed=0, packed=job.get("packed", False), intra_op_threads=job["intra"],
                         inter_op_threads=job["inter"], device=device)
    job["in_force"] = {"intra": torch.get_num_threads(), "inter": torch.get_num_interop_threads(),
                       "torch": torch.__version__, "device": device}
    job["_stream"] = lambda batches: ref.predict_many([(x, lengths) for x, _, lengths in batches])
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


def summarize_stream(seconds: float, batches: list) -> dict:
    """Samples/s of one prediction over all of `batches` that took `seconds` (no time per step)."""
    sizes = np.array([len(b[0]) for b in batches])
    widths = np.array([b[0].shape[1] for b in batches])
    return {"samples_per_s": round(float(sizes.sum() / seconds), 1), "seconds": round(seconds, 4),
            "mean_width": round(float(widths.mean()), 1), "steps": len(batches), "step_s": [],
            "widths": widths.tolist()}


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

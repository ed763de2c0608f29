"""What each Keras backend needs before training: GPU memory, CPU threads, devices, compile cache.

TensorFlow is imported only when it is the backend, so the package runs where
it is not installed (JAX or PyTorch).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import os
import sys
from pathlib import Path
from typing import Any

import keras

STRATEGIES = ("default", "mirrored")
# Programs that compile faster than this are not worth a file (JAX's own default is 1 s,
# which would leave out the evaluation and prediction steps).
JAX_CACHE_MIN_COMPILE_SECONDS = 0.1


def _tensorflow() -> Any:
    import tensorflow as tf

    return tf


class _NoTensorFlow(importlib.abc.MetaPathFinder):
    """Makes `import tensorflow` fail, as where it is not installed."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name.split(".")[0] == "tensorflow":
            raise ImportError("tensorflow is not used on this Keras backend")


def set_random_seed(seed: int) -> None:
    """`keras.utils.set_random_seed`, without loading TensorFlow on the JAX and PyTorch backends.

    Keras seeds TensorFlow wherever it is installed, importing it (seconds of
    start-up, and its logging); with another backend nothing here runs on
    TensorFlow, so its import is refused during the call instead. Keras then
    takes TensorFlow for absent for the rest of the process.
    """
    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    refuse = _NoTensorFlow()
    sys.meta_path.insert(0, refuse)
    try:
        keras.utils.set_random_seed(seed)
    finally:
        sys.meta_path.remove(refuse)


def grow_gpu_memory() -> None:
    """Lets TensorFlow take GPU memory as needed, as the original's `allow_growth`.

    JAX and PyTorch take GPU memory as they need it already (JAX preallocates
    unless `XLA_PYTHON_CLIENT_PREALLOCATE=false`, which must be set before it starts).
    """
    if keras.backend.backend() != "tensorflow":
        return
    tf = _tensorflow()
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass  # The GPU was already initialised; nothing left to change.


def configure_threads(intra_op: int | None = None, inter_op: int | None = None) -> tuple[int, int]:
    """Sizes TensorFlow's thread pools; call it before TensorFlow runs any op.

    On a CPU, the two directions of the Bi-GRU are independent chains of small
    matmuls: running them side by side (two inter-op threads), each on half of
    the cores, beats splitting every small matmul over all cores (BENCHMARKS.md).
    That is the default without a GPU; with one, TensorFlow's defaults stay.
    `0` means TensorFlow's own choice. On PyTorch, `intra_op` sets
    `torch.set_num_threads`; JAX sizes its pools itself.

    Returns:
        The `(intra_op, inter_op)` sizes in force, `0` where left to the backend.
    """
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        if intra_op:
            torch.set_num_threads(intra_op)
        return torch.get_num_threads(), 0
    if backend != "tensorflow":
        return 0, 0
    tf = _tensorflow()
    if intra_op is None and inter_op is None and tf.config.list_physical_devices("GPU"):
        return 0, 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    intra_op = max(1, cores // 2) if intra_op is None else intra_op
    inter_op = 2 if inter_op is None else inter_op
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:
        pass  # TensorFlow already runs (a second run in one process): its pools stay.
    return (
        tf.config.threading.get_intra_op_parallelism_threads(),
        tf.config.threading.get_inter_op_parallelism_threads(),
    )


def check_strategy(name: str) -> None:
    """Raises `ValueError` if the strategy cannot run on this backend."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}: expected one of {', '.join(STRATEGIES)}")
    if name == "mirrored" and keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"--strategy mirrored is tf.distribute and needs the TensorFlow backend (KERAS_BACKEND is "
            f"{keras.backend.backend()!r})"
        )


def distribution_scope(name: str) -> contextlib.AbstractContextManager:
    """The scope to build the model in. `default`: one device. `mirrored`: data
    parallel over all GPUs, or over all logical CPU devices when there is no GPU
    (`tf.distribute.MirroredStrategy`, TensorFlow only)."""
    check_strategy(name)
    if name == "default":
        return contextlib.nullcontext()
    tf = _tensorflow()
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([d.name for d in devices]).scope()


def jax_cache_dir() -> Path:
    """Where the commands keep JAX's compiled programs by default: `$XDG_CACHE_HOME/attention/jax`,
    `~/.cache/attention/jax` when that variable is unset."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "attention" / "jax"


def cache_compiled_programs() -> Path | None:
    """Keeps JAX's compiled programs on disk, so a later run skips compiles it has done before.

    JAX compiles the training, evaluation and prediction steps for each new batch
    shape, seconds each on a GPU. With its persistent compilation cache, the next
    run of the same model with the same shapes (a new seed, more epochs, another
    `attention.predict`) loads them instead. JAX leaves the cache off; here it is
    on for a GPU or TPU, in `jax_cache_dir()`, and off on a CPU, where loading
    cached programs has failed on some CPU models and after jaxlib upgrades.
    `JAX_COMPILATION_CACHE_DIR` overrides this on any device: a folder to use, or
    empty for no cache. Wherever the cache is on, programs that compile in
    `JAX_CACHE_MIN_COMPILE_SECONDS` or more are kept, unless
    `JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS` says otherwise. Call it before
    JAX compiles anything.

    Returns:
        The cache folder in use, or `None` (off, or another backend than JAX).
    """
    if keras.backend.backend() != "jax":
        return None
    chosen = os.environ.get("JAX_COMPILATION_CACHE_DIR")
    if chosen == "":
        return None
    import jax

    if not jax.config.jax_compilation_cache_dir:  # neither that variable nor this process set it
        if jax.default_backend() == "cpu":
            return None
        directory = jax_cache_dir()
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None  # a read-only home: compile as usual
        if not os.access(directory, os.W_OK | os.X_OK):
            return None
        jax.config.update("jax_compilation_cache_dir", str(directory))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", JAX_CACHE_MIN_COMPILE_SECONDS)
    return Path(jax.config.jax_compilation_cache_dir)

"""One training run: its own folder under the logdir, resumable after interruption."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from attention.callbacks import EpochCheckpoint, latest_checkpoint, save_atomically
from attention.vocabulary import Vocabulary, vocabulary_path


class RunError(RuntimeError):
    """A run folder that cannot be created, written or resumed."""


def write_json_atomically(path: Path, data: Any) -> None:
    """Writes JSON beside `path` and renames it, so `path` is never half-written."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(partial, path)


def grow_gpu_memory() -> None:
    """Lets TensorFlow take GPU memory as needed, as the original's `allow_growth`."""
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
    `0` means TensorFlow's own choice.

    Returns:
        The `(intra_op, inter_op)` sizes in force, `0` where left to TensorFlow.
    """
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


def distribution_strategy(name: str) -> tf.distribute.Strategy:
    """`default`: one device. `mirrored`: data parallel over all GPUs, or over
    all logical CPU devices when there is no GPU."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    raise ValueError(f"Unknown strategy {name!r}: expected 'default' or 'mirrored'.")


class Run:
    """A training run's folder: TensorBoard logs, checkpoints, the saved model.

    `Run.open(logdir, config)` resumes the newest unfinished run started with
    the same configuration, or creates a new folder, so that no earlier run
    is ever overwritten.
    """

    CONFIG_FILE = "run.json"

    def __init__(self, directory: Path, config: dict, key: str, record: dict) -> None:
        self.directory = directory
        self.config = config
        self.key = key
        self.record = record

    @staticmethod
    def config_key(config: dict) -> str:
        """A hash of everything that changes what a run computes."""
        relevant = {k: v for k, v in config.items() if k not in ("logdir", "resume")}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:12]

    @classmethod
    def open(cls, logdir: str | os.PathLike, config: dict, resume: bool = True) -> "Run":
        logdir = Path(logdir)
        key = cls.config_key(config)
        try:
            logdir.mkdir(parents=True, exist_ok=True)
            if resume:
                for directory in sorted(logdir.iterdir(), reverse=True):
                    record = cls._read_record(directory)
                    if record and record.get("key") == key and record.get("status") != "finished":
                        return cls(directory, config, key, record)
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            directory = logdir / f"{stamp}-{key[:8]}"
            suffix = 1
            while directory.exists():
                suffix += 1
                directory = logdir / f"{stamp}-{key[:8]}-{suffix}"
            directory.mkdir()
            run = cls(directory, config, key, {"key": key, "config": config, "status": "running"})
            run._write_record(started=dt.datetime.now().isoformat(timespec="seconds"))
            return run
        except OSError as error:
            raise RunError(f"cannot write to --logdir {str(logdir)!r}: {error.strerror or error}") from error

    @classmethod
    def _read_record(cls, directory: Path) -> dict | None:
        try:
            return json.loads((directory / cls.CONFIG_FILE).read_text())
        except (OSError, ValueError):
            return None

    def _write_record(self, **updates: Any) -> None:
        self.record.update(updates)
        write_json_atomically(self.directory / self.CONFIG_FILE, self.record)

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def checkpoint_dir(self) -> Path:
        return self.directory / "checkpoints"

    @property
    def model_path(self) -> Path:
        return Path(self.config.get("model_path") or self.directory / "model.keras")

    def restore(self) -> tuple[keras.Model | None, int]:
        """The model of the last completed epoch and that epoch, or `(None, 0)`."""
        found = latest_checkpoint(self.checkpoint_dir)
        if found is None:
            return None, 0
        path, epoch = found
        return keras.models.load_model(path), epoch

    def checkpoint_callback(self) -> EpochCheckpoint:
        return EpochCheckpoint(self.checkpoint_dir)

    def last_epoch_logs(self) -> dict:
        """Metrics of the last completed epoch, as the checkpoints recorded them."""
        try:
            lines = (self.checkpoint_dir / "history.jsonl").read_text().splitlines()
        except OSError:
            return {}
        return json.loads(lines[-1]) if lines else {}

    def finish(self, model: keras.Model, vocabulary: Vocabulary, results: dict) -> Path:
        """Saves the final model and its vocabulary, and marks the run finished."""
        save_atomically(model, self.model_path)
        write_json_atomically(vocabulary_path(self.model_path), vocabulary.to_dict())
        self._write_record(status="finished", finished=dt.datetime.now().isoformat(timespec="seconds"), results=results)
        for checkpoint in self.checkpoint_dir.glob("epoch-*.keras"):
            checkpoint.unlink()
        return self.model_path


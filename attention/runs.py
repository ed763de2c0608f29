"""A training run's folder under the logdir: its record, lock, checkpoints and history, resumable after interruption."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import keras
import numpy as np

from attention.atomic import save_model, write_json
from attention.callbacks import EpochCheckpoint, TrainingDiverged, latest_checkpoint, read_history, restore_state
from attention.summaries import record_end
from attention.vocabulary import Vocabulary, vocabulary_path

# Training options added after runs were first recorded, and their defaults: left at them, they leave
# a run's key as it was.
ADDED_OPTIONS = {"embeddings": None, "keep_best": False, "patience": None, "monitor": "val_loss", "class_weight": None,
                 "freeze_embeddings": False, "backend": "tensorflow"}

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, runs are told apart by their folders only
    fcntl = None


class RunError(RuntimeError):
    """A run folder that cannot be created, written or resumed."""


class RunStopped(RuntimeError):
    """A run ended early (interrupted or diverged); the message says what was kept.

    Attributes:
        status: The exit status a command line should end with.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def data_digest(arrays: Sequence[np.ndarray], classes: Sequence[str]) -> str:
    """A fingerprint of the encoded texts, labels and classes a run trains and validates on.

    The arguments alone do not tell: a data file edited in place gives other texts,
    word ids or classes under the same ``--data``, and a checkpoint cannot go on over them.
    """
    digest = hashlib.sha256(json.dumps(list(classes)).encode("utf-8"))
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.data)
    return digest.hexdigest()[:16]


def _drop_lock(directory: Path) -> None:
    """Removes the lock file of a run that has ended (finished or failed), which no process resumes."""
    with contextlib.suppress(OSError):
        (directory / ".lock").unlink()


def _hold(directory: Path) -> IO | None:
    """Takes the lock of a run folder for this process, or `None` if another holds it.

    An advisory `flock` on `DIRECTORY/.lock`: the kernel releases it when the
    process ends, however it ends, so a killed run leaves no stale lock.
    """
    handle = open(directory / ".lock", "a")
    if fcntl is not None:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return None
    return handle


class Run:
    """A training run's folder: TensorBoard logs, checkpoints, the saved model.

    `Run.open(logdir, config)` resumes the newest unfinished run started with
    the same configuration, or creates a new folder, so that no earlier run
    is ever overwritten. The folder is held by its process (a lock the kernel
    drops when the process ends): two runs started at once never share one.

    `run.json` records the run's `status`: `running` (or killed), `interrupted`
    (stopped with Ctrl-C; both resume), `failed` (diverged; not resumed) or
    `finished`.
    """

    CONFIG_FILE = "run.json"
    RESUMABLE = ("running", "interrupted")

    def __init__(self, directory: Path, config: dict, key: str, record: dict, lock: IO | None = None) -> None:
        self.directory = directory
        self.config = config
        self.key = key
        self.record = record
        self._lock = lock
        self.skipped: list[str] = []  # resumable runs passed over because another process holds them
        self.other_data: list[str] = []  # resumable runs passed over because they read other data
        self.resumes_by_default = True  # whether the same arguments resume it (not so after resume=False)

    @staticmethod
    def config_key(config: dict) -> str:
        """A hash of everything that changes what a run computes."""
        relevant = {k: v for k, v in config.items() if k not in ("logdir", "resume")}
        # Options added since: left out unused, so that runs started before them still resume.
        relevant = {k: v for k, v in relevant.items() if not (k in ADDED_OPTIONS and v == ADDED_OPTIONS[k])}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:12]

    @classmethod
    def open(cls, logdir: str | os.PathLike, config: dict, resume: bool = True, seed: int | None = None,
             data: str | None = None) -> "Run":
        """Resumes or creates a run.

        Args:
            logdir: The folder of all runs.
            config: What the run computes; a run resumes only a run of the same config.
            resume: Whether to resume an unfinished run, or always start a new one.
            seed: The random seed of a new run; `None` draws one. A resumed
                run keeps the seed it recorded. `run.seed` holds it.
            data: A fingerprint of the data (`data_digest`): a run resumes only a
                run of the same data, or one that recorded none. Runs passed over
                for their data are in `run.other_data`.
        """
        logdir = Path(logdir)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % 2**32)
        key = cls.config_key(config)
        skipped, other_data = [], []
        try:
            logdir.mkdir(parents=True, exist_ok=True)
            if resume:
                for directory in sorted(logdir.iterdir(), reverse=True):
                    record = cls._read_record(directory)
                    if not (record and record.get("key") == key and record.get("status") in cls.RESUMABLE):
                        continue
                    if data is not None and record.get("data", data) != data:  # the same arguments, edited data
                        other_data.append(directory.name)
                        continue
                    lock = _hold(directory)
                    if lock is None:
                        skipped.append(directory.name)
                        continue
                    # Read again under the lock: the run may have ended meanwhile.
                    record = cls._read_record(directory)
                    if record and record.get("status") in cls.RESUMABLE:
                        run = cls(directory, config, key, {"seed": seed, **record}, lock)
                        run.skipped, run.other_data = skipped, other_data
                        run._write_record(status="running")
                        return run
                    lock.close()
                    if record:  # it ended meanwhile: the lock file this process made goes too
                        _drop_lock(directory)
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            for suffix in range(1, 1000):
                directory = logdir / (f"{stamp}-{key[:8]}" + (f"-{suffix}" if suffix > 1 else ""))
                try:
                    directory.mkdir()
                    break
                except FileExistsError:
                    continue
            # Locked before run.json exists, so no other process can take it for a run to resume.
            lock = _hold(directory)
            record = {"key": key, "config": config, "status": "running", "seed": seed}
            if data is not None:
                record["data"] = data
            run = cls(directory, config, key, record, lock)
            run.skipped, run.other_data, run.resumes_by_default = skipped, other_data, resume
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
        write_json(self.directory / self.CONFIG_FILE, self.record)

    @property
    def seed(self) -> int:
        """The random seed of the run (recorded in run.json)."""
        return int(self.record["seed"])

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def checkpoint_dir(self) -> Path:
        return self.directory / "checkpoints"

    @property
    def model_path(self) -> Path:
        return Path(self.config.get("model_path") or self.directory / "model.keras")

    def restore(self, epoch: int | None = None) -> tuple[keras.Model | None, int]:
        """The model of `epoch` (default: the last completed one) and that epoch, or `(None, 0)`."""
        found = latest_checkpoint(self.checkpoint_dir)
        if found is None:
            return None, 0
        path, last = found
        if epoch is not None and epoch != last:
            path = self.checkpoint_dir / f"epoch-{epoch:03d}.keras"
        else:
            epoch = last
        model = keras.models.load_model(path)
        restore_state(model, path)
        return model, epoch

    def checkpoint_callback(self, keep_best: str | None = None) -> EpochCheckpoint:
        return EpochCheckpoint(self.checkpoint_dir, keep_best)

    def history(self) -> list[dict]:
        """Each completed epoch's metrics, as the checkpoints recorded them."""
        return read_history(self.checkpoint_dir)

    def last_epoch_logs(self) -> dict:
        """Metrics of the last completed epoch, as the checkpoints recorded them."""
        history = self.history()
        return history[-1] if history else {}

    def finish(self, model: keras.Model, vocabulary: Vocabulary, results: dict) -> Path:
        """Saves the final model and its vocabulary, and marks the run finished."""
        save_model(model, self.model_path)
        write_json(vocabulary_path(self.model_path), vocabulary.to_dict())
        self._write_record(status="finished", finished=self._now(), results=results)
        record_end(self.directory, succeeded=True)
        for checkpoint in self.checkpoint_dir.glob("epoch-*"):
            checkpoint.unlink()
        self.close(ended=True)
        return self.model_path

    @contextlib.contextmanager
    def guard(self) -> Iterator["Run"]:
        """Marks the run `interrupted` (Ctrl-C) or `failed` (diverged) if the block ends so.

        Raises:
            RunStopped: In place of the `KeyboardInterrupt` or
                `TrainingDiverged`, with a message that says what was kept
                and how to go on.
        """
        try:
            yield self
        except KeyboardInterrupt:
            epoch = self.last_epoch_logs().get("epoch", 0)
            self.stop("interrupted", "stopped by the user (Ctrl-C)")
            kept = f"keeps epoch {epoch}" if epoch else "has no completed epoch yet"
            again = "the same command again" if self.resumes_by_default else "the same command without --no-resume"
            raise RunStopped(f"interrupted: run {self.directory} {kept}; run {again} to resume it", 130) from None
        except TrainingDiverged as error:
            epoch = self.last_epoch_logs().get("epoch", 0)
            self.stop("failed", str(error))
            kept = f"the checkpoint of epoch {epoch} is kept" if epoch else "no epoch was completed"
            raise RunStopped(
                f"training diverged: {error}; run {self.directory} is marked failed in run.json ({kept}). "
                "Try a lower --learning-rate.", 1
            ) from None

    def stop(self, status: str, reason: str) -> None:
        """Marks the run `interrupted` or `failed`, with why, and lets it go."""
        self._write_record(status=status, stopped=self._now(), reason=reason, results=self.last_epoch_logs())
        ended = status not in self.RESUMABLE
        if ended:
            record_end(self.directory, succeeded=False)
        self.close(ended=ended)

    def close(self, ended: bool = False) -> None:
        """Releases the run's folder for another process; `ended`: for good, so its lock file goes too."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        if ended:  # a process that takes the lock meanwhile finds the run ended, and removes what it made
            _drop_lock(self.directory)

    @staticmethod
    def _now() -> str:
        return dt.datetime.now().isoformat(timespec="seconds")

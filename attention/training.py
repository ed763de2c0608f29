"""One training run: its own folder under the logdir, resumable after interruption."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import keras
import numpy as np

from attention.arguments import check_writable
from attention.atomic import save_model, write_json
from attention.backends import (
    cache_compiled_programs, check_strategy, configure_threads, distribution_scope, grow_gpu_memory,
    set_random_seed,
)
from attention.callbacks import (
    AttentionSummaries, EpochCheckpoint, StopOnNonFiniteLoss, TqdmProgress, TrainingDiverged, latest_checkpoint,
    restore_state,
)
from attention.data.errors import DatasetError
from attention.embeddings import read_vectors, set_embeddings, write_projector
from attention.evaluation import confusion_image, evaluate, format_report
from attention.model import build_model
from attention.pipeline import make_dataset, num_batches
from attention.preprocessing import fit_in_vocabulary, get_vocabulary_size, zero_pad
from attention.serving import export_text_model, serving_dir
from attention.summaries import SummaryWriter, record_settings
from attention.vocabulary import Vocabulary, vocabulary_path

# Training options added after runs were first recorded: unused (None), they leave a run's key as it was.
ADDED_OPTIONS = ("embeddings",)

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

    @staticmethod
    def config_key(config: dict) -> str:
        """A hash of everything that changes what a run computes."""
        relevant = {k: v for k, v in config.items() if k not in ("logdir", "resume")}
        # Options added since: left out unused, so that runs started before them still resume.
        relevant = {k: v for k, v in relevant.items() if not (k in ADDED_OPTIONS and v is None)}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:12]

    @classmethod
    def open(cls, logdir: str | os.PathLike, config: dict, resume: bool = True, seed: int | None = None) -> "Run":
        """Resumes or creates a run.

        Args:
            logdir: The folder of all runs.
            config: What the run computes; a run resumes only a run of the same config.
            resume: Whether to resume an unfinished run, or always start a new one.
            seed: The random seed of a new run; `None` draws one. A resumed
                run keeps the seed it recorded. `run.seed` holds it.
        """
        logdir = Path(logdir)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % 2**32)
        key = cls.config_key(config)
        skipped = []
        try:
            logdir.mkdir(parents=True, exist_ok=True)
            if resume:
                for directory in sorted(logdir.iterdir(), reverse=True):
                    record = cls._read_record(directory)
                    if not (record and record.get("key") == key and record.get("status") in cls.RESUMABLE):
                        continue
                    lock = _hold(directory)
                    if lock is None:
                        skipped.append(directory.name)
                        continue
                    # Read again under the lock: the run may have ended meanwhile.
                    record = cls._read_record(directory)
                    if record and record.get("status") in cls.RESUMABLE:
                        run = cls(directory, config, key, {"seed": seed, **record}, lock)
                        run.skipped = skipped
                        run._write_record(status="running")
                        return run
                    lock.close()
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
            run = cls(directory, config, key, record, lock)
            run.skipped = skipped
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

    def restore(self) -> tuple[keras.Model | None, int]:
        """The model of the last completed epoch and that epoch, or `(None, 0)`."""
        found = latest_checkpoint(self.checkpoint_dir)
        if found is None:
            return None, 0
        path, epoch = found
        model = keras.models.load_model(path)
        restore_state(model, path)
        return model, epoch

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
        save_model(model, self.model_path)
        write_json(vocabulary_path(self.model_path), vocabulary.to_dict())
        self._write_record(status="finished", finished=self._now(), results=results)
        for checkpoint in self.checkpoint_dir.glob("epoch-*"):
            checkpoint.unlink()
        self.close()
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
            raise RunStopped(f"interrupted: run {self.directory} {kept}; run the same command again to resume it", 130) from None
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
        self.close()

    def close(self) -> None:
        """Releases the run's folder for another process."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    @staticmethod
    def _now() -> str:
        return dt.datetime.now().isoformat(timespec="seconds")



def train_classifier(
    args: argparse.Namespace,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    vocabulary: Vocabulary,
    config: dict,
) -> Path:
    """The original script's training, for any labelled texts: the body both training scripts share.

    Pads the encoded texts as the original did, opens (or resumes) the run,
    trains with the checkpoints, TensorBoard summaries and progress bars, then
    scores the validation texts per class and saves the model, its vocabulary
    and (on TensorFlow) the export that reads raw strings (`attention.serving`).

    Args:
        args: The options of `arguments.add_training_arguments`.
        data: `(x_train, y_train, x_validation, y_validation)`: word index lists and
            labels `0..classes - 1`.
        vocabulary: How the texts were encoded, with the class names.
        config: What the run computes, recorded in `run.json` (a run resumes only a
            run of the same config).

    Returns:
        Where the model was saved.

    Raises:
        RunError: The run folder cannot be written.
        RunStopped: Training was interrupted or diverged.
    """
    x_train, y_train, x_test, y_test = data
    if args.max_samples:
        x_train, y_train = x_train[: args.max_samples], y_train[: args.max_samples]
        x_test, y_test = x_test[: args.max_samples], y_test[: args.max_samples]
    classes = vocabulary.class_names

    # Sequences pre-processing, as the original
    vocabulary_size = get_vocabulary_size(x_train)
    x_test = fit_in_vocabulary(x_test, vocabulary_size)
    x_train = zero_pad(x_train, args.sequence_length)
    x_test = zero_pad(x_test, args.sequence_length)
    # Read before the run starts, so that a bad file costs nothing.
    vectors = None
    if args.embeddings:
        if vocabulary.word_index is None:
            raise DatasetError("--embeddings: the data has no word index, so no word can be matched to a vector")
        vectors = read_vectors(args.embeddings, vocabulary.word_index, args.embedding_dim)

    run = Run.open(args.logdir, config, resume=args.resume, seed=args.seed)
    for name in run.skipped:
        print(f"Run {name} is in progress in another process; starting a new run.")
    with run.guard():
        # Every run is seeded (with a random seed unless --seed, recorded in run.json),
        # so that a resumed run goes on exactly as the uninterrupted one would have.
        set_random_seed(run.seed)
        with distribution_scope(args.strategy):
            model, initial_epoch = run.restore()
            if model is None:
                model = build_model(vocabulary_size, args.embedding_dim, args.hidden_size, args.attention_size,
                                    args.keep_prob, args.learning_rate, reset_after=args.reset_after,
                                    num_classes=len(classes))
                if vectors:
                    rows = set_embeddings(model, vocabulary, vectors)
                    print(f"Word vectors for {rows:,} of the {vocabulary_size - vocabulary.index_from - 1:,} words "
                          f"from {args.embeddings}")
        if initial_epoch:
            print(f"Resuming run {run.name} after epoch {initial_epoch}.")
        settings = {k: v for k, v in run.config.items() if k != "logdir"}
        record_settings(run.directory, {**settings, "seed": run.seed, "backend": keras.backend.backend()}, run.name)

        train_data = make_dataset(x_train, y_train, args.batch_size, shuffle=True, bucketing=args.bucketing,
                                  seed=run.seed, first_epoch=initial_epoch)
        test_data = make_dataset(x_test, y_test, args.batch_size, shuffle=False, bucketing=args.bucketing)
        train_batches = num_batches(len(x_train), args.batch_size)
        progress = TqdmProgress(train_batches, num_batches(len(x_test), args.batch_size))
        callbacks = [
            StopOnNonFiniteLoss(),
            progress,
            AttentionSummaries(run.directory, x_test[:32], train_batches),
            run.checkpoint_callback(),
        ]

        print("Start learning...")
        start = time.perf_counter()
        model.fit(train_data, validation_data=test_data, epochs=args.num_epochs, initial_epoch=initial_epoch,
                  callbacks=callbacks, shuffle=False, verbose=0)
        seconds = round(time.perf_counter() - start, 1)

        report = evaluate(model, x_test, y_test, classes, args.batch_size, [progress])
        print(format_report(report))
        writer = SummaryWriter(run.directory / "validation")
        step = args.num_epochs * train_batches
        writer.scalar("macro_f1", report["macro_f1"], step)
        writer.image("confusion_matrix", confusion_image(report["confusion_matrix"]), step)
        writer.close()
        write_projector(model, vocabulary, run.directory)
        results = {**run.last_epoch_logs(), "train_seconds_this_session": seconds, "validation_report": report}
        model_path = run.finish(model, vocabulary, results)
    print(f"Model saved to {model_path}")
    if vocabulary.word_index is None:
        print("No export that reads raw text: the data had no word index to encode text with.")
    elif keras.backend.backend() == "tensorflow":
        try:
            print(f"Export that reads raw text saved to {export_text_model(model, vocabulary, serving_dir(model_path))}")
        except KeyboardInterrupt:
            # The run is finished and its model saved; only the export (written whole or not at all) is missing.
            raise RunStopped(f"interrupted while writing the export that reads raw text; the model is saved to "
                             f"{model_path}; write the export with: python -m attention.serving {model_path}",
                             130) from None
        except Exception as error:  # the model is saved: an export can be made again from it
            print(f"warning: the export that reads raw text failed ({type(error).__name__}: {error}); "
                  f"retry with: python -m attention.serving {model_path}", file=sys.stderr)
    else:
        print(f"For an export that reads raw text: KERAS_BACKEND=tensorflow python -m attention.serving {model_path}")
    return model_path


def run_command(parser: argparse.ArgumentParser, argv: list[str] | None, train: Callable) -> None:
    """A training script's `main`: parse, check, set the devices up, call `train(args, fail)`.

    Bad arguments and data exit with status 2, a diverged run with 1, Ctrl-C with
    130: each with one line on stderr that says what was kept.
    """
    args = parser.parse_args(argv)
    fail = lambda error, status=2: parser.exit(status, f"{parser.prog}: error: {error}\n")  # noqa: E731
    if args.model_path and (problem := check_writable(args.model_path)):
        fail(f"--model-path: {problem}")
    try:
        check_strategy(args.strategy)
    except ValueError as error:
        fail(error)
    grow_gpu_memory()
    configure_threads(args.intra_op_threads, args.inter_op_threads)
    cache_compiled_programs()
    try:
        train(args, fail)
    except (RunError, DatasetError) as error:
        fail(error)
    except RunStopped as stopped:
        fail(stopped, stopped.status)
    except KeyboardInterrupt:
        fail("interrupted before training started; nothing was saved", 130)

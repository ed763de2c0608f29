"""Training callbacks: tqdm progress, TensorBoard summaries, resumable checkpoints."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from attention.model import inspection_model


class TqdmProgress(keras.callbacks.Callback):
    """The original's progress: a tqdm bar for training and one for testing.

    After each epoch it prints the original's line
    `loss: ..., val_loss: ..., acc: ..., val_acc: ...`, with the epoch's mean
    training loss and accuracy.
    """

    def __init__(self, train_batches: int, test_batches: int | None = None) -> None:
        super().__init__()
        self.train_batches = train_batches
        self.test_batches = test_batches
        self._bar: tqdm | None = None
        self._in_fit = False

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._in_fit = True

    def on_train_end(self, logs: dict | None = None) -> None:
        self._in_fit = False
        self._close()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        print(f"epoch: {epoch}\t", end="", flush=True)
        self._bar = tqdm(total=self.train_batches, leave=True)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._close()
        self._bar = tqdm(total=self.test_batches, leave=True)

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def on_test_end(self, logs: dict | None = None) -> None:
        if not self._in_fit:
            self._close()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._close()
        logs = logs or {}
        print(
            "loss: {:.3f}, val_loss: {:.3f}, acc: {:.3f}, val_acc: {:.3f}".format(
                logs.get("loss", float("nan")),
                logs.get("val_loss", float("nan")),
                logs.get("accuracy", float("nan")),
                logs.get("val_accuracy", float("nan")),
            ),
            flush=True,
        )


def attention_image(alphas: np.ndarray, lengths: np.ndarray, row_height: int = 8, cell_width: int = 4) -> np.ndarray:
    """Draws attention weights as an RGB image, one band per review.

    Each word is a cell coloured as the HTML view colours it: yellow with an
    opacity of its weight divided by the row's maximum, on white; the padding
    past a review's end is grey.

    Returns:
        A uint8 array `(reviews * row_height, time * cell_width, 3)`.
    """
    alphas = np.asarray(alphas, dtype="float32")
    peak = alphas.max(axis=1, keepdims=True)
    strength = np.divide(alphas, peak, out=np.zeros_like(alphas), where=peak > 0)
    image = np.empty(alphas.shape + (3,), dtype="float32")
    image[..., 0] = image[..., 1] = 255.0
    image[..., 2] = 255.0 * (1.0 - strength)
    padding = np.arange(alphas.shape[1])[None, :] >= np.asarray(lengths)[:, None]
    image[padding] = 160.0
    image = np.repeat(np.repeat(image, row_height, axis=0), cell_width, axis=1)
    image[row_height - 1 :: row_height] = 255.0  # a white line between reviews
    return image.astype("uint8")


class AttentionSummaries(keras.callbacks.Callback):
    """Writes what the original's TensorBoard showed, and more, under `log_dir`.

    - `train/`: per-batch `loss` and `accuracy` (the epoch's running mean),
      the original's scalar tags;
    - `validation/`: `loss` and `accuracy` after each epoch, on the same steps;
    - `train/`: the op graph of the forward pass;
    - `train/`, each epoch: histograms of the original's `embeddings_var`,
      `RNN_outputs`, `alphas` and `W`, and an `attention` image of the weights
      over a few fixed reviews, so attention can be watched as it learns.

    Histograms of `RNN_outputs` and `alphas` are taken over the real words of
    `sample_x`, padding left out.
    """

    def __init__(self, log_dir: str | os.PathLike, sample_x: np.ndarray, steps_per_epoch: int, image_reviews: int = 8) -> None:
        super().__init__()
        self.log_dir = Path(log_dir)
        self.sample_x = np.asarray(sample_x, dtype="int32")
        self.steps_per_epoch = steps_per_epoch
        self.image_reviews = image_reviews
        self._writers: dict[str, Any] = {}
        self._epoch = 0

    def _writer(self, name: str) -> Any:
        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(str(self.log_dir / name))
        return self._writers[name]

    def _step(self, batch: int) -> int:
        return self._epoch * self.steps_per_epoch + batch + 1

    def on_train_begin(self, logs: dict | None = None) -> None:
        # Keras 3's TensorBoard callback writes only the conceptual model; the
        # op graph of the forward pass is what the original's graph tab showed.
        forward = tf.function(lambda ids: self.model(ids, training=False))
        graph = forward.get_concrete_function(tf.TensorSpec((None, None), tf.int32)).graph
        with self._writer("train").as_default():
            tf.summary.graph(graph)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        with self._writer("train").as_default(step=self._step(batch)):
            for name in ("loss", "accuracy"):
                if name in logs:
                    tf.summary.scalar(name, float(logs[name]))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        step = (epoch + 1) * self.steps_per_epoch
        with self._writer("validation").as_default(step=step):
            for name in ("loss", "accuracy"):
                if f"val_{name}" in logs:
                    tf.summary.scalar(name, float(logs[f"val_{name}"]))
        _, rnn_outputs, alphas = inspection_model(self.model).predict(self.sample_x, verbose=0)
        real = self.sample_x[:, : alphas.shape[1]] != 0
        lengths = real.sum(axis=1)
        with self._writer("train").as_default(step=step):
            tf.summary.histogram("embeddings_var", self.model.get_layer("embedding").embeddings)
            tf.summary.histogram("RNN_outputs", rnn_outputs[real])
            tf.summary.histogram("alphas", alphas[real])
            tf.summary.histogram("W", self.model.get_layer("output").kernel)
            image = attention_image(alphas[: self.image_reviews], lengths[: self.image_reviews])
            tf.summary.image("attention", image[None], step=step)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


def save_atomically(model: keras.Model, path: str | os.PathLike) -> None:
    """Saves `model` to a `.keras` file that is either complete or absent.

    Keras writes the zip in place, so a process killed mid-save would leave a
    truncated file; writing beside it and renaming is atomic on POSIX.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial.keras")
    try:
        model.save(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the whole model (optimizer state included) after each epoch.

    Files are `epoch-NNN.keras` in `directory`, each written atomically, so
    the newest file is always a complete epoch; older ones are removed.
    Use `latest_checkpoint(directory)` to resume.
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        super().__init__()
        self.directory = Path(directory)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        path = self.directory / f"epoch-{epoch + 1:03d}.keras"
        save_atomically(self.model, path)
        history = self.directory / "history.jsonl"
        with open(history, "a") as f:
            f.write(json.dumps({"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}) + "\n")
        for old in self.directory.glob("epoch-*.keras"):
            if old != path:
                old.unlink(missing_ok=True)


def latest_checkpoint(directory: str | os.PathLike) -> tuple[Path, int] | None:
    """The newest complete checkpoint in `directory` and its epoch, if any."""
    found = []
    for path in Path(directory).glob("epoch-*.keras"):
        match = re.fullmatch(r"epoch-(\d+)\.keras", path.name)
        if match:
            found.append((int(match.group(1)), path))
    if not found:
        return None
    epoch, path = max(found)
    return path, epoch

"""Training callbacks: tqdm progress, TensorBoard summaries, resumable checkpoints."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import keras
import numpy as np
from tqdm.auto import tqdm

from attention.atomic import atomic_path, finite_json, save_model
from attention.model import inspection_model, update_inspection_model
from attention.summaries import SummaryWriter
from attention.visualize import attention_image


class TqdmProgress(keras.callbacks.Callback):
    """The original's progress: a tqdm bar for training and one for testing.

    After each epoch it prints the original's line
    `loss: ..., val_loss: ..., acc: ..., val_acc: ...`, with the epoch's mean
    training loss and accuracy. Passed to `predict` on the validation texts
    after training (the per-class report), it shows a bar for that pass too,
    named `report`, removed when it ends.
    """

    def __init__(self, train_batches: int, test_batches: int | None = None, report: str = "validation report") -> None:
        super().__init__()
        self.train_batches = train_batches
        self.test_batches = test_batches
        self.report = report
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

    def on_predict_begin(self, logs: dict | None = None) -> None:
        self._close()
        self._bar = tqdm(total=self.test_batches, desc=self.report, leave=False)

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def on_predict_end(self, logs: dict | None = None) -> None:
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


class AttentionSummaries(keras.callbacks.Callback):
    """Writes what the original's TensorBoard showed, and more, under `log_dir`.

    - `train/`: each batch's own `loss` and `accuracy`, the original's
      scalar tags (Keras's logs hold the epoch's running means instead);
    - `validation/`: `loss` and `accuracy` after each epoch, on the same steps;
    - `train/` and `validation/`: `epoch_loss`, `epoch_accuracy` and
      `epoch_macro_f1` by epoch,
      the tags of Keras's own TensorBoard callback;
    - `train/`: the op graph of the forward pass (TensorFlow only);
    - `train/`, each epoch: histograms of the original's `embeddings_var`,
      `RNN_outputs`, `alphas` and `W`, and an `attention` image of the weights
      over a few fixed reviews, so attention can be watched as it learns.

    Histograms of `RNN_outputs` and `alphas` are taken over the real words of
    `sample_x`, padding left out. Each session marks the step it starts at
    (`SummaryWriter.mark_start`), so that TensorBoard shows the steps a resumed
    run logs again once. Files are written with the `tensorboard` package, so the same
    folder results on every Keras backend.
    """

    def __init__(self, log_dir: str | os.PathLike, sample_x: np.ndarray, steps_per_epoch: int, image_reviews: int = 8) -> None:
        super().__init__()
        self.log_dir = Path(log_dir)
        self.sample_x = np.asarray(sample_x, dtype="int32")
        self.steps_per_epoch = steps_per_epoch
        self.image_reviews = image_reviews
        self._writers: dict[str, SummaryWriter] = {}
        self._epoch = 0
        self._sums: dict[str, tuple[float, float]] = {}
        self._inspector: keras.Model | None = None
        self._started = False

    def _writer(self, name: str) -> SummaryWriter:
        if name not in self._writers:
            self._writers[name] = SummaryWriter(self.log_dir / name)
        return self._writers[name]

    def _step(self, batch: int) -> int:
        return self._epoch * self.steps_per_epoch + batch + 1

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._inspector = None
        self._started = False
        # The op graph of the forward pass, as the original's graph tab showed; only TensorFlow
        # has one to show. Once a run: a resumed run's train/ has it (TensorBoard warns of a second).
        if keras.backend.backend() == "tensorflow" and not any((self.log_dir / "train").glob("events.out.tfevents.*")):
            import tensorflow as tf

            forward = tf.function(lambda ids: self.model(ids, training=False))
            graph = forward.get_concrete_function(tf.TensorSpec((None, None), tf.int32)).graph
            self._writer("train").graph(graph.as_graph_def().SerializeToString())

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        self._sums = {}
        if not self._started:
            # A resumed run trains again the batches its interrupted session logged after the
            # last checkpoint: TensorBoard drops the earlier files' steps from here on.
            for name in ("train", "validation"):
                self._writer(name).mark_start(self._step(0))
            self._started = True

    def _batch_values(self) -> dict[str, float]:
        """Each metric's value on the last batch alone.

        Keras's metrics are means kept as a running `total` and `count`
        (samples); the difference of both since the last batch is this batch's
        mean, weighted as Keras weights it.
        """
        if keras.backend.backend() == "jax":
            # JAX trains on a copy of the variables; this brings the metrics' back.
            self.model.jax_state_sync()
        variables = {v.path: v for metric in self.model.metrics for v in metric.variables}
        values = {}
        for name in ("loss", "accuracy"):
            total, count = variables.get(f"{name}/total"), variables.get(f"{name}/count")
            if total is None or count is None:
                continue
            total, count = float(total.numpy()), float(count.numpy())
            last_total, last_count = self._sums.get(name, (0.0, 0.0))
            self._sums[name] = (total, count)
            if count > last_count:
                values[name] = (total - last_total) / (count - last_count)
        return values

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        for name, value in self._batch_values().items():
            self._writer("train").scalar(name, value, self._step(batch))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        step = (epoch + 1) * self.steps_per_epoch
        for name in ("loss", "accuracy", "macro_f1"):
            # Keras's own TensorBoard callback's tags, by epoch.
            for split, key in (("train", name), ("validation", f"val_{name}")):
                if key in logs:
                    self._writer(split).scalar(f"epoch_{name}", float(logs[key]), epoch)
        for name in ("loss", "accuracy"):  # the original's tags, on the training batches' steps
            if f"val_{name}" in logs:
                self._writer("validation").scalar(name, float(logs[f"val_{name}"]), step)
        # One inspection model for the whole run: a new one each epoch would be traced, and on
        # JAX compiled, anew (1.2 s an epoch on a CPU, more on a GPU).
        if self._inspector is None:
            self._inspector = inspection_model(self.model)
        else:
            update_inspection_model(self._inspector, self.model)
        _, rnn_outputs, alphas = self._inspector.predict(self.sample_x, verbose=0)
        real = self.sample_x[:, : alphas.shape[1]] != 0
        lengths = real.sum(axis=1)
        train = self._writer("train")
        train.histogram("embeddings_var", self.model.get_layer("embedding").embeddings.numpy(), step)
        train.histogram("RNN_outputs", rnn_outputs[real], step)
        train.histogram("alphas", alphas[real], step)
        train.histogram("W", self.model.get_layer("output").kernel.numpy(), step)
        train.image("attention", attention_image(alphas[: self.image_reviews], lengths[: self.image_reviews]), step)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises `TrainingDiverged` at the first batch whose loss is not finite.

    Raising (rather than Keras's `TerminateOnNaN`, which lets the epoch end)
    keeps every later callback, the epoch checkpoint above all, from saving
    the broken weights: the last checkpoint stays the last good epoch.
    """

    def __init__(self) -> None:
        super().__init__()
        self._epoch = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingDiverged(
                f"the training loss became {float(loss)} at batch {batch + 1} of epoch {self._epoch + 1}"
            )

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the whole model (optimizer state included) after each epoch.

    Files are `epoch-NNN.keras` in `directory`, each written atomically, so
    the newest file is always a complete epoch; older ones are removed, but
    for the best epoch by `keep_best` (a metric of `history.jsonl`, where each
    epoch's logs are appended) when given. Beside each, `epoch-NNN.state.npz`
    keeps the non-trainable variables that a `.keras` file leaves out, such as
    the dropout's random-number state, so that a resumed run draws the same
    dropout masks as an uninterrupted one. Use `latest_checkpoint(directory)`
    and `restore_state(model, path)` to resume.
    """

    def __init__(self, directory: str | os.PathLike, keep_best: str | None = None) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.keep_best = keep_best
        self._resumed = False

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._resumed = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        # The first epoch of a resumed run starts with the random state the last one ended
        # with; set here, right before its first batch, as nothing may draw in between.
        if not self._resumed and epoch > 0:
            try:
                with np.load(state_path(self.directory / f"epoch-{epoch:03d}.keras")) as npz:
                    _set_torch_random_state({key: npz[key] for key in npz.files})
            except (OSError, ValueError):
                pass
        self._resumed = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        path = self.directory / f"epoch-{epoch + 1:03d}.keras"
        self.directory.mkdir(parents=True, exist_ok=True)
        state = {f"v{i}": v.numpy() for i, v in enumerate(self.model.non_trainable_variables)}
        state.update(_torch_random_state())
        with atomic_path(state_path(path)) as tmp:
            np.savez(tmp, **state)
        save_model(self.model, path)
        with open(history_path(self.directory), "a") as f:
            f.write(json.dumps(finite_json({"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}})) + "\n")
        kept = {path.stem}
        if self.keep_best and (best := best_epoch(read_history(self.directory), self.keep_best)):
            kept.add(f"epoch-{best:03d}")
        for old in self.directory.glob("epoch-*"):
            if old.name.split(".")[0] not in kept:
                old.unlink(missing_ok=True)


class StopWhenNotImproving(keras.callbacks.Callback):
    """Stops training once `monitor` has not improved for `patience` epochs.

    Keras's `EarlyStopping`, but counted from the checkpoints' `history.jsonl`
    in `directory` (so place it after `EpochCheckpoint`): a resumed run stops
    where the uninterrupted one would have.
    """

    def __init__(self, directory: str | os.PathLike, monitor: str, patience: int) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.monitor = monitor
        self.patience = patience

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epochs_without_improvement(read_history(self.directory), self.monitor) >= self.patience:
            self.model.stop_training = True


def history_path(directory: str | os.PathLike) -> Path:
    """The file of each completed epoch's logs, one JSON object a line, among the checkpoints."""
    return Path(directory) / "history.jsonl"


def read_history(directory: str | os.PathLike) -> list[dict]:
    """Each completed epoch's logs (`epoch`, from 1, and Keras's metrics), oldest first."""
    try:
        lines = history_path(directory).read_text().splitlines()
    except OSError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def best_epoch(history: list[dict], monitor: str) -> int | None:
    """The epoch (from 1) of `history` with the best `monitor`, or `None` if none has a finite value.

    Accuracies and F1 are best highest, everything else (losses) lowest; of
    equal values the earliest wins, since only a strict improvement counts.
    """
    sign = -1.0 if "acc" in monitor or "f1" in monitor else 1.0
    values = [(sign * logs[monitor], logs["epoch"]) for logs in history
              if isinstance(logs.get(monitor), (int, float)) and math.isfinite(logs[monitor])]
    return min(values)[1] if values else None


def epochs_without_improvement(history: list[dict], monitor: str) -> int:
    """How many epochs of `history` came after its best `monitor` (all of them if none has a value)."""
    if not history:
        return 0
    return history[-1]["epoch"] - (best_epoch(history, monitor) or 0)


def state_path(checkpoint: Path) -> Path:
    """The file of the variables a checkpoint's `.keras` file leaves out."""
    return checkpoint.with_suffix(".state.npz")


def _torch_random_state() -> dict[str, np.ndarray]:
    """PyTorch's global random states: Keras's dropout draws from them on that backend
    (unless given a seed), so they are part of what a resumed run must get back."""
    if keras.backend.backend() != "torch":
        return {}
    import torch

    state = {"torch_cpu": torch.get_rng_state().numpy()}
    if torch.cuda.is_available():
        for device, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            state[f"torch_cuda{device}"] = cuda_state.numpy()
    return state


def _set_torch_random_state(saved: dict[str, np.ndarray]) -> None:
    if keras.backend.backend() != "torch" or "torch_cpu" not in saved:
        return
    import torch

    torch.set_rng_state(torch.from_numpy(saved["torch_cpu"]))
    if torch.cuda.is_available():
        for device in range(torch.cuda.device_count()):
            if f"torch_cuda{device}" in saved:
                torch.cuda.set_rng_state(torch.from_numpy(saved[f"torch_cuda{device}"]), device)


def restore_state(model: keras.Model, checkpoint: Path) -> None:
    """Gives `model` the non-trainable variables saved beside `checkpoint`, if any.

    (PyTorch's random state, saved there too, is set by `EpochCheckpoint` when
    the resumed epoch begins.)
    """
    try:
        with np.load(state_path(checkpoint)) as npz:
            saved = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, KeyError):
        return  # an older checkpoint: resume with fresh random states
    values = [saved[f"v{i}"] for i in range(sum(key.startswith("v") for key in saved))]
    variables = model.non_trainable_variables
    if len(values) == len(variables) and all(tuple(v.shape) == a.shape for v, a in zip(variables, values)):
        for variable, value in zip(variables, values):
            variable.assign(value)


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

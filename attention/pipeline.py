"""Input pipeline: shuffled batches of padded reviews, bucketed by length."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

# Reviews are sorted by length within chunks of this many batches, and the
# batches shuffled. On the IMDB training split (mean length 191.8 after
# zero_pad), the mean batch width is 199.0 with chunks of 16 batches, 196.0
# with 32 and 194.1 with 64: most of the padding is gone by 64, while each
# batch still draws its reviews at random among those of its length.
CHUNK_BATCHES = 64
# JAX compiles the training step anew for every new batch shape, so on JAX bucketed
# batches' widths are rounded up to a few steps. On a GPU a compile costs seconds: a 3-epoch
# run on an H200 took 39 s of progress bars with widths rounded to multiples of 64 (four
# shapes, each compiled for training and evaluation) against 21 s at the full width, so
# there they keep the full width (None). On a CPU a compile costs about 2 s, against 1-1.3 s
# a step, and trimming pays: the training script's full run took 423 and 436 s of training
# and validation with multiples of 32 (seven widths), 434 s with 16, 443 s with 64 and 497 s
# at the full width, with the same accuracies (BENCHMARKS.md). TensorFlow and PyTorch run any
# width as it comes.
JAX_CPU_WIDTH_STEP = 32
JAX_GPU_WIDTH_STEP = None
# For the same reason, on JAX with a GPU the batch size is fixed as well: an epoch's last,
# smaller batch (168 of IMDB's 25,000 reviews at batch 256) is filled up to the full size
# (`fill_batch`), so that training and evaluation compile one program each instead of two.
# The H200's 3-epoch run compiled four: its first epoch's progress bars took 17 + 5 s (training +
# validation), the next epochs' 1.6 + 0.5 s. On a CPU, where the widths vary anyway
# (JAX_CPU_WIDTH_STEP), batches keep their own size.
JAX_GPU_FIXED_BATCH = True


def sequence_lengths(x: np.ndarray) -> np.ndarray:
    """Each row's length up to its last non-zero word id: the columns a batch cut to its longest
    row keeps. Post-padded rows keep their words, pre-padded ones (Keras's `pad_sequences`) their
    full width, and a 0 inside a row (masked like padding) what follows it."""
    present = np.asarray(x) != 0
    if present.size == 0:
        return np.zeros(len(present), dtype="int64")
    return np.where(present.any(axis=1), present.shape[1] - np.argmax(present[:, ::-1], axis=1), 0)


def batch_indices(
    lengths: np.ndarray,
    batch_size: int,
    shuffle: bool,
    bucketing: bool,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Splits sample indices into batches for one epoch.

    With bucketing, samples are shuffled, cut into chunks of `CHUNK_BATCHES`
    batches, sorted by length within each chunk, batched, and the batches
    shuffled again, so each batch holds reviews of similar length.
    """
    order = rng.permutation(len(lengths)) if shuffle else np.arange(len(lengths))
    if bucketing:
        chunk = batch_size * CHUNK_BATCHES
        order = np.concatenate(
            [
                part[np.argsort(lengths[part], kind="stable")]
                for part in np.split(order, range(chunk, len(order), chunk))
            ]
        ) if len(order) else order
    batches = np.split(order, range(batch_size, len(order), batch_size))
    if shuffle and bucketing:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def fill_batch(x: np.ndarray, y: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A batch filled up to `batch_size` rows, with the sample weights that keep its loss.

    The rows added repeat the batch's own (real texts, so that no row is
    empty) with weight 0. The batch's own rows weigh `batch_size / len(x)`:
    Keras divides a batch's weighted loss by its size, so the loss and its
    gradient stay the mean over the real rows, and so do weighted metrics.
    A full batch gets weights of 1, which leave every value as it was.

    Returns:
        `(x, y, sample_weight)`, each of `batch_size` rows; the first
        `len(x)` are the batch's own, in order.
    """
    rows = len(x)
    if not 0 < rows <= batch_size:
        raise ValueError(f"Cannot fill a batch of {rows} rows up to {batch_size}.")
    weights = np.zeros(batch_size, dtype="float32")
    weights[:rows] = batch_size / rows
    fill = np.arange(batch_size) % rows
    return x[fill], y[fill], weights


def class_weights(spec: str | dict[str, float], y: np.ndarray, class_names: list[str]) -> np.ndarray:
    """Each class's weight in the training loss, from `--class-weight`'s value.

    `"balanced"` weighs class `c` `len(y) / (classes * count(c))`, as
    scikit-learn's `class_weight="balanced"` does: each class then weighs as
    much as the others in the loss, and the mean weight of a text is 1. A
    dict gives the weights of the classes it names; the others weigh 1.

    Raises:
        ValueError: A class that is not in `class_names`, a balanced class
            without a text, or weights that are all 0.
    """
    counts = np.bincount(np.asarray(y, dtype="int64"), minlength=len(class_names))
    if spec == "balanced":
        if not counts.all():
            empty = [name for name, count in zip(class_names, counts) if not count]
            raise ValueError(f"--class-weight balanced: no training text of class {', '.join(map(repr, empty))}")
        weights = len(y) / (len(class_names) * counts)
    else:
        unknown = [name for name in spec if name not in class_names]
        if unknown:
            raise ValueError(f"--class-weight: no class {', '.join(map(repr, unknown))}; "
                             f"the classes are {', '.join(class_names)}")
        weights = np.array([spec.get(name, 1.0) for name in class_names])
    if not (weights * counts).any():
        raise ValueError("--class-weight: every training text would weigh 0")
    return weights.astype("float32")


class Batches:
    """The batches of one data set, epoch after epoch, as NumPy arrays.

    `batch(index)` returns the `index`-th batch of the current epoch; asking
    for batch 0 starts the next epoch, with its own order. Both pipelines
    below serve these batches (`inputs`), so every backend trains on the same ones.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool, bucketing: bool,
                 seed: int | None, first_epoch: int, width_step: int = 1, fixed_batch: bool = False,
                 class_weight: np.ndarray | None = None) -> None:
        if len(x) != len(y):
            raise ValueError(f"`x` and `y` must have the same length, got {len(x)} and {len(y)}.")
        if len(x) == 0:
            raise ValueError("Cannot build a data set from zero samples.")
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size}.")
        self.x = np.asarray(x, dtype="int32")
        self.y = np.asarray(y, dtype="float32")
        if width_step < 1:
            raise ValueError(f"`width_step` must be a positive integer, got {width_step}.")
        self.batch_size, self.shuffle, self.bucketing, self.width_step = batch_size, shuffle, bucketing, width_step
        self.fixed_batch = fixed_batch
        self.class_weight = None if class_weight is None else np.asarray(class_weight, dtype="float32")
        self.lengths = sequence_lengths(self.x)
        self.seed = int(np.random.SeedSequence().entropy % 2**32) if seed is None else seed
        self.epoch = first_epoch - 1
        self.plan: list[np.ndarray] = []

    def __len__(self) -> int:
        return num_batches(len(self.x), self.batch_size)

    def batch(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if index == 0 or not self.plan:
            self.epoch += 1
            rng = np.random.default_rng([self.seed, self.epoch])
            self.plan = batch_indices(self.lengths, self.batch_size, self.shuffle, self.bucketing, rng)
        indices = self.plan[index]
        if not self.bucketing:
            return self.x[indices], self.y[indices]
        longest = max(int(self.lengths[indices].max()), 1)
        width = min(-(-longest // self.width_step) * self.width_step, self.x.shape[1])
        return self.x[indices, :width], self.y[indices]

    @property
    def weighted(self) -> bool:
        """Whether batches come with sample weights: `(x, y, sample_weight)` rather than `(x, y)`."""
        return self.fixed_batch or self.class_weight is not None

    def inputs(self, index: int) -> tuple[np.ndarray, ...]:
        """The `index`-th batch as Keras takes it: `(x, y)`, or with `fixed_batch` `fill_batch`'s
        `(x, y, sample_weight)`, every batch then with weights so that all have one structure;
        with `class_weight`, each row's weight is multiplied by its class's."""
        x, y = self.batch(index)
        if not self.weighted:
            return x, y
        x, y, weights = fill_batch(x, y, self.batch_size) if self.fixed_batch else (x, y, np.ones(len(y), "float32"))
        if self.class_weight is not None:
            weights = weights * self.class_weight[y.astype("int64")]
        return x, y, weights


class _BatchSequence(keras.utils.PyDataset):
    """`Batches` for Keras's own loop (JAX, PyTorch): read in order, in this thread."""

    def __init__(self, batches: Batches) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        return self.batches.inputs(int(index))


def _tf_dataset(batches: Batches) -> Any:
    import tensorflow as tf

    types = (tf.int32, tf.float32, tf.float32) if batches.weighted else (tf.int32, tf.float32)

    def load(index: tf.Tensor) -> tuple[tf.Tensor, ...]:
        tensors = tf.numpy_function(lambda i: batches.inputs(int(i)), [index], types, stateful=True)
        tensors[0].set_shape((None, None))
        for tensor in tensors[1:]:
            tensor.set_shape((None,))
        return tuple(tensors)

    # Its length is known, so Keras sizes each epoch (with an unknown length,
    # Keras 3 takes one extra optimizer step per epoch on the empty end).
    dataset = tf.data.Dataset.range(len(batches)).map(load).prefetch(2)
    # Without the autotuning thread: deleting an iterator waits for that
    # thread to wake up, which stalled training by up to 20 s at epoch ends.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    shuffle: bool = True,
    bucketing: bool = True,
    seed: int | None = None,
    first_epoch: int = 0,
    width_step: int | None = None,
    fixed_batch: bool | None = None,
    class_weight: np.ndarray | None = None,
) -> Any:
    """Batches of `(word_ids, labels)` for `model.fit`, on any Keras backend.

    Each pass over the data set (each epoch) draws a new order. With
    bucketing, each batch is cut to the length of its longest review; masking
    makes the result identical to the full-length batch, only cheaper. On
    TensorFlow the batches come through `tf.data` (prefetched beside the
    training step); on JAX and PyTorch through a `keras.utils.PyDataset`.
    Both give the same batches.

    Args:
        x: Post-padded word ids, `(samples, sequence_length)`, as `zero_pad`
            returns them.
        y: Labels, `(samples,)`.
        batch_size: Samples per batch; the last batch may be smaller.
        shuffle: Draw a new random order each epoch (training); otherwise
            the order is fixed (evaluation).
        bucketing: Batch reviews of similar length and trim the padding.
        seed: Seed of the shuffling. Epoch `e`'s order depends only on
            `(seed, e)`, so a run resumed at epoch `e` sees the batches the
            uninterrupted run would have seen.
        first_epoch: The epoch of the first pass (`initial_epoch` of `fit`).
        width_step: Bucketed batches are cut to their longest review rounded
            up to a multiple of this (default: `default_width_step(x)`).
        fixed_batch: Fill the last, smaller batch up to `batch_size` with
            rows of weight 0 (`fill_batch`), so that every batch has one shape;
            every batch is then `(word_ids, labels, sample_weight)` (default:
            `default_fixed_batch()`). The loss leaves the copies out; so do
            metrics compiled as `weighted_metrics`, as `build_model` compiles
            its accuracy, but not plain `metrics`.
        class_weight: Each class's weight in the loss (`class_weights`):
            batches are then `(word_ids, labels, sample_weight)`, as
            Keras's `fit(class_weight=...)` makes them, which refuses batches
            that carry weights already (`fixed_batch`'s). Weighted metrics
            are weighted too.

    Returns:
        A `tf.data.Dataset` on TensorFlow, a `keras.utils.PyDataset` otherwise;
        iterate either for NumPy-convertible batches.
    """
    if width_step is None:
        width_step = default_width_step(x)
    if fixed_batch is None:
        fixed_batch = default_fixed_batch()
    batches = Batches(x, y, batch_size, shuffle, bucketing, seed, first_epoch, width_step, fixed_batch, class_weight)
    if keras.backend.backend() == "tensorflow":
        return _tf_dataset(batches)
    return _BatchSequence(batches)


def trimmed_batches(
    x: np.ndarray, batch_size: int, width_step: int | None = None, fixed_batch: bool | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The rows of `x` in batches of similar length, each cut to its longest row, for prediction.

    Yields `(rows, word_ids)`: the batch's indices into `x` and its trimmed word ids, the
    batches of `make_dataset(x, ..., shuffle=False)`. For outputs whose width follows the
    batch's (attention weights), which `model.predict` cannot concatenate. With
    `fixed_batch` (default: `default_fixed_batch()`), a batch smaller than `batch_size` is
    filled up to it with copies of its rows (`fill_batch`), so that every batch has one
    shape; the outputs of `word_ids[:len(rows)]` are then the batch's own.
    """
    if width_step is None:
        width_step = default_width_step(x)
    if fixed_batch is None:
        fixed_batch = default_fixed_batch()
    batches = Batches(x, np.zeros(len(x)), batch_size, shuffle=False, bucketing=True, seed=0, first_epoch=0,
                      width_step=width_step, fixed_batch=fixed_batch)
    for index in range(len(batches)):
        word_ids = batches.inputs(index)[0]
        yield batches.plan[index], word_ids


def default_width_step(x: np.ndarray) -> int:
    """Bucketed batches' widths are multiples of this: 1, or on JAX, which compiles each new
    shape, `JAX_CPU_WIDTH_STEP` on a CPU and `JAX_GPU_WIDTH_STEP` (the full width) elsewhere."""
    if keras.backend.backend() != "jax":
        return 1
    import jax

    step = JAX_CPU_WIDTH_STEP if jax.default_backend() == "cpu" else JAX_GPU_WIDTH_STEP
    return step or np.shape(x)[1]


def default_fixed_batch() -> bool:
    """Whether batches are filled up to one size by default: on JAX with a GPU or TPU
    (`JAX_GPU_FIXED_BATCH`), where each new shape is a compile that costs seconds."""
    if keras.backend.backend() != "jax":
        return False
    import jax

    return JAX_GPU_FIXED_BATCH and jax.default_backend() != "cpu"


def num_batches(samples: int, batch_size: int) -> int:
    """Batches per epoch, the last one possibly smaller."""
    return -(-samples // batch_size)

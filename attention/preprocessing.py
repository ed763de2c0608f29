"""The original project's `utils.py` helpers, ported with the same behaviour."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import keras
import numpy as np


def zero_pad(X: Sequence[Sequence[int]], seq_len: int) -> np.ndarray:
    """Cuts and pads sequences to `seq_len`, always ending with at least one 0.

    As the original: each sequence keeps its first `seq_len - 1` tokens and is
    padded with zeros at the end. The original computed each review's length
    as the position of its first 0, which is why one 0 is always kept.

    Args:
        X: Sequences of word indices.
        seq_len: Length of the output rows, at least 1.

    Returns:
        An int32 array of shape `(len(X), seq_len)`.
    """
    if seq_len < 1:
        raise ValueError(f"`seq_len` must be at least 1, got {seq_len}.")
    return keras.utils.pad_sequences(
        [list(x)[: seq_len - 1] for x in X],
        maxlen=seq_len,
        dtype="int32",
        padding="post",
        truncating="post",
        value=0,
    )


def get_vocabulary_size(X: Sequence[Sequence[int]]) -> int:
    """Returns the largest word index in `X` plus one (for the padding index 0)."""
    return max((max(x) for x in X if len(x)), default=0) + 1


def fit_in_vocabulary(X: Sequence[Sequence[int]], voc_size: int) -> list[list[int]]:
    """Drops every word index that is not below `voc_size`, as the original does."""
    return [[w for w in x if w < voc_size] for x in X]


def batch_generator(
    X: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    rng: np.random.Generator | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yields shuffled `(X, y)` batches for ever, reshuffling after each pass.

    As the original, only full batches are yielded: the last incomplete batch
    of each pass is dropped.

    Args:
        X: Array of samples.
        y: Array of targets, the same length as `X`.
        batch_size: Number of samples per batch, at most `len(X)`.
        rng: Random generator; by default NumPy's global one, as the original.
    """
    size = X.shape[0]
    if len(y) != size:
        raise ValueError(f"`X` and `y` must have the same length, got {size} and {len(y)}.")
    if not 0 < batch_size <= size:
        # The original loops for ever without yielding in this case.
        raise ValueError(f"`batch_size` must be between 1 and len(X)={size}, got {batch_size}.")
    shuffle = np.random.permutation if rng is None else rng.permutation
    while True:
        indices = shuffle(size)
        X_copy, y_copy = X[indices], y[indices]
        for i in range(0, size - batch_size + 1, batch_size):
            yield X_copy[i : i + batch_size], y_copy[i : i + batch_size]

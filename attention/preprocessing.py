"""The original project's `utils.py` helpers, ported with the same behaviour."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import keras
import numpy as np

from attention.data.ragged import Ragged

# Ragged rows are padded this many at a time, to bound the index arrays' memory.
_PAD_CHUNK = 8192


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
    if isinstance(X, Ragged):
        return _pad_ragged(X, seq_len)
    return keras.utils.pad_sequences(
        [list(x)[: seq_len - 1] for x in X],
        maxlen=seq_len,
        dtype="int32",
        padding="post",
        truncating="post",
        value=0,
    )


def _pad_ragged(X: Ragged, seq_len: int) -> np.ndarray:
    """`zero_pad` of ragged rows, without a Python list per row."""
    out = np.zeros((len(X), seq_len), dtype="int32")
    for begin in range(0, len(X), _PAD_CHUNK):
        part = X[begin : begin + _PAD_CHUNK]
        lengths = part.lengths
        rows = np.repeat(np.arange(len(part)), lengths)
        columns = np.arange(len(part.values)) - np.repeat(part.offsets[:-1], lengths)
        keep = columns < seq_len - 1
        out[begin + rows[keep], columns[keep]] = part.values[keep]
    return out


def get_vocabulary_size(X: Sequence[Sequence[int]]) -> int:
    """Returns the largest word index in `X` plus one (for the padding index 0)."""
    if isinstance(X, Ragged):
        return int(X.values.max()) + 1 if X.values.size else 1
    return max((max(x) for x in X if len(x)), default=0) + 1


def fit_in_vocabulary(X: Sequence[Sequence[int]], voc_size: int) -> list[list[int]]:
    """Drops every word index that is not below `voc_size`, as the original does.

    A :class:`Ragged` input gives a :class:`Ragged` result.
    """
    if isinstance(X, Ragged):
        kept = X.values < voc_size
        counts = np.concatenate([[0], np.cumsum(kept, dtype=np.int64)])
        return Ragged(X.values[kept], counts[X.offsets])
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

"""Rows of word indices of different lengths, stored as one flat array and row offsets.

What ``load_labelled`` returns: 100,000 texts load from the cache in a fraction of the
time that building 100,000 Python lists takes, and the original's pre-processing
(``preprocessing.zero_pad`` and friends) works on it directly, with the same results.
Indexing one row gives a Python list, as Keras's object arrays do.
"""

from __future__ import annotations

import gc
import operator
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np


class Ragged:
    """Variable-length integer rows: row ``i`` is ``values[offsets[i]:offsets[i + 1]]``.

    Args:
        values: The rows' values end to end, 1-D.
        offsets: Where each row starts, and where the last ends: ``len(rows) + 1``
            non-decreasing int64 numbers from 0 to ``len(values)``.

    Example:
    >>> rows = Ragged.from_rows([[1, 5, 6], [], [1, 7]])
    >>> len(rows), rows[2], rows[::2].to_lists().tolist()
    (3, [1, 7], [[1, 5, 6], [1, 7]])
    """

    def __init__(self, values: np.ndarray, offsets: np.ndarray) -> None:
        values, offsets = np.asarray(values), np.asarray(offsets, dtype=np.int64)
        if values.ndim != 1 or offsets.ndim != 1 or len(offsets) == 0:
            raise ValueError("`values` and `offsets` must be 1-D, with at least one offset")
        if offsets[0] != 0 or offsets[-1] != len(values) or np.any(np.diff(offsets) < 0):
            raise ValueError("`offsets` must rise from 0 to len(values)")
        self.values, self.offsets = values, offsets

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[int]], dtype: Any = np.int32) -> "Ragged":
        """Rows given as sequences (lists, arrays)."""
        lengths = np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows))
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        values = np.fromiter((v for row in rows for v in row), dtype=dtype, count=int(offsets[-1]))
        return cls(values, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """Each row's length."""
        return np.diff(self.offsets)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)):
            index = operator.index(key)
            if not -len(self) <= index < len(self):
                raise IndexError(f"row {index} of {len(self)}")
            index %= len(self)
            return self.values[self.offsets[index] : self.offsets[index + 1]].tolist()
        if isinstance(key, slice) and key.step in (None, 1):
            start, stop, _ = key.indices(len(self))
            stop = max(start, stop)
            offsets = self.offsets[start : stop + 1]
            return Ragged(self.values[offsets[0] : offsets[-1]], offsets - offsets[0])
        rows = np.arange(len(self))[key] if isinstance(key, slice) else np.asarray(key)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return self.take(rows)

    def take(self, rows: np.ndarray, prefix: int | None = None) -> "Ragged":
        """The given rows, in that order; with ``prefix``, each row starts with that value."""
        rows = np.asarray(rows, dtype=np.int64)
        starts, ends = self.offsets[:-1][rows].tolist(), self.offsets[1:][rows].tolist()
        # One concatenation of views: cheaper than an index array as long as the values.
        pieces = [self.values[a:b] for a, b in zip(starts, ends)]
        lengths = np.asarray(ends, dtype=np.int64) - np.asarray(starts, dtype=np.int64)
        if prefix is not None:
            head = np.full(1, prefix, dtype=self.values.dtype)
            pieces = [part for piece in pieces for part in (head, piece)]
            lengths = lengths + 1
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        values = np.concatenate(pieces) if pieces else np.zeros(0, self.values.dtype)
        return Ragged(values, offsets)

    def __iter__(self) -> Iterator[list]:
        for index in range(len(self)):
            yield self[index]

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Ragged) and np.array_equal(self.offsets, other.offsets)
                and np.array_equal(self.values, other.values))

    def __repr__(self) -> str:
        return f"Ragged({len(self)} rows, {len(self.values)} values)"

    def to_lists(self) -> np.ndarray:
        """A 1-D object array of Python int lists, as ``keras.datasets.imdb.load_data`` returns."""
        return to_object_array(self.values, self.offsets)


def to_object_array(flat: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Turns flat values + offsets into a 1-D object array of Python int lists."""
    out = np.empty(len(offsets) - 1, dtype=object)
    # Building 50,000 lists triggers the cyclic garbage collector over and over although
    # they cannot form cycles; pausing it halves the time of this, the slowest step of a
    # cached load. Per-row .tolist() after np.split measured faster than slicing one
    # big list.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i, row in enumerate(np.split(flat, offsets[1:-1])):
            out[i] = row.tolist()
    finally:
        if gc_was_enabled:
            gc.enable()
    return out

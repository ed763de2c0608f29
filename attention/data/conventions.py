"""Keras's IMDB conventions: word ranks to the index lists ``keras.datasets.imdb.load_data`` returns.

Each text becomes a Python list of ints: 0 is padding and never appears, ``start_char``
(1) opens every text, ``oov_char`` (2) replaces words outside ``[skip_top, num_words)``,
and the word of frequency rank ``r`` is ``r + index_from``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from attention.data.errors import DatasetError
from attention.data.ragged import Ragged
from attention.data.tokenizer import tokenize_batch

Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def texts_to_sequences(
    texts: Iterable[str],
    word_index: dict[str, int],
    num_words: int | None = 10000,
    index_from: int = 3,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    skip_top: int = 0,
) -> list[list[int]]:
    """Encodes texts exactly as :func:`attention.data.imdb.load_data` encodes the raw reviews.

    Words missing from ``word_index`` and indices outside ``[skip_top, num_words)``
    become ``oov_char`` (or are left out when ``oov_char`` is ``None``). The one difference: with ``num_words=None``
    :func:`load_data` follows Keras in turning the data's single largest index into
    ``oov_char``, while here every known word is kept.

    Args:
        texts: Texts to encode.
        word_index: Word -> rank mapping from :func:`get_word_index`.
        num_words, index_from, start_char, oov_char, skip_top: As given to :func:`load_data`.
    """
    if isinstance(texts, str):
        raise TypeError("texts_to_sequences expects a list of texts, not a single string.")
    sequences = []
    for tokens in tokenize_batch(list(texts)):
        seq = [] if start_char is None else [start_char]
        # An unknown word gets index -1, which the range test below turns into oov_char.
        seq.extend(word_index[t] + index_from if t in word_index else -1 for t in tokens)
        # The same test as Keras's loader, which also applies it to start_char.
        inside = [skip_top <= w and (not num_words or w < num_words) for w in seq]
        if oov_char is None:
            sequences.append([w for w, ok in zip(seq, inside) if ok])
        else:
            sequences.append([w if ok else oov_char for w, ok in zip(seq, inside)])
    return sequences


def apply_keras_conventions(splits: list[tuple[np.ndarray, np.ndarray, np.ndarray]], **conventions: Any) -> Arrays:
    """Vectorised equivalent of ``keras.datasets.imdb.load_data`` after reading the npz.

    Takes what :func:`keras_conventions` takes; returns Keras's object arrays of lists.
    """
    (x_train, y_train), (x_test, y_test) = keras_conventions(splits, **conventions)
    return (x_train.to_lists(), y_train), (x_test.to_lists(), y_test)


def keras_conventions(
    splits: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    num_words: int | None,
    skip_top: int,
    maxlen: int | None,
    seed: int,
    start_char: int | None,
    oov_char: int | None,
    index_from: int,
) -> list[tuple[Ragged, np.ndarray]]:
    """Keras's IMDB conventions on ragged word ranks: ``(rows, labels)`` per split.

    Args:
        splits: ``(ranks, offsets, labels)`` per split: the ragged ranks (1 = most
            frequent word) and each row's label.
        num_words, skip_top, maxlen, seed, start_char, oov_char, index_from: As
            ``keras.datasets.imdb.load_data`` takes them.

    Keras shuffles the rows first; every later step works on each value or each row
    alone, so here the rows are put in the shuffled order only at the end, in one copy.
    """
    rng = np.random.RandomState(seed)
    # int32 halves the memory traffic of the steps below when every value fits.
    extremes = [index_from, start_char or 0, oov_char or 0, skip_top, num_words or 0]
    lowest = [int(f.min()) + index_from for f, _, _ in splits if f.size]
    extremes += lowest + [int(f.max()) + index_from for f, _, _ in splits if f.size]
    small = all(abs(v) < 2**31 - 1 for v in extremes)
    dtype = np.int32 if small else np.int64
    prepared = []
    for flat, offsets, labels in splits:
        order = np.arange(len(labels))
        rng.shuffle(order)
        flat = flat.astype(dtype)  # a copy, then changed in place: fewer arrays of every value
        flat += index_from
        if maxlen:
            order = order[np.diff(offsets)[order] + (start_char is not None) < maxlen]
        prepared.append((flat, np.asarray(offsets, dtype=np.int64), labels, order))
    if maxlen and any(len(order) == 0 for *_, order in prepared):
        raise DatasetError(
            f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was kept. "
            f"Increase maxlen."
        )
    if not num_words:
        num_words = max((_largest(flat, offsets, order) for flat, offsets, _, order in prepared), default=0)
        if start_char is not None:
            num_words = max(num_words, start_char)
    # Keras tests start_char against the range too.
    start = None if start_char is None else start_char if skip_top <= start_char < num_words else oov_char
    result = []
    for flat, offsets, labels, order in prepared:
        out = flat >= num_words
        if lowest and skip_top > min(lowest):  # else no word index falls under skip_top
            out |= flat < skip_top
        if oov_char is not None:
            np.putmask(flat, out, oov_char)
        elif out.any():
            kept = np.concatenate([[0], np.cumsum(~out, dtype=np.int64)])
            flat, offsets = flat[~out], kept[offsets]
        result.append((Ragged(flat, offsets).take(order, prefix=start), labels[order]))
    return result


def _largest(flat: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> int:
    """The largest value in the given rows of a ragged array (0 when they are empty)."""
    if len(rows) < len(offsets) - 1:
        chosen = np.zeros(len(offsets) - 1, dtype=bool)
        chosen[rows] = True
        flat = flat[np.repeat(chosen, np.diff(offsets))]
    return int(flat.max()) if flat.size else 0



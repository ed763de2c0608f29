"""Keras's IMDB conventions: word ranks to the index lists ``keras.datasets.imdb.load_data`` returns.

Each text becomes a Python list of ints: 0 is padding and never appears, ``start_char``
(1) opens every text, ``oov_char`` (2) replaces words outside ``[skip_top, num_words)``,
and the word of frequency rank ``r`` is ``r + index_from``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable

import numpy as np

from attention.data.errors import DatasetError
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


def apply_keras_conventions(
    splits: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    num_words: int | None,
    skip_top: int,
    maxlen: int | None,
    seed: int,
    start_char: int | None,
    oov_char: int | None,
    index_from: int,
) -> Arrays:
    """Vectorised equivalent of ``keras.datasets.imdb.load_data`` after reading the npz.

    Keras shuffles the rows first; every later step works on each value or each row
    alone, so here the rows are put in the shuffled order only at the end, as
    lists, which spares moving every value.
    """
    rng = np.random.RandomState(seed)
    # int32 halves the memory traffic of the steps below when every value fits.
    extremes = [index_from, start_char or 0, oov_char or 0, skip_top, num_words or 0]
    extremes += [int(f.min()) + index_from for f, _, _ in splits if f.size]
    extremes += [int(f.max()) + index_from for f, _, _ in splits if f.size]
    small = all(abs(v) < 2**31 - 1 for v in extremes)
    dtype = np.int32 if small else np.int64
    prepared = []
    for flat, offsets, labels in splits:
        order = np.arange(len(labels))
        rng.shuffle(order)
        flat = np.add(flat, index_from, dtype=dtype, casting="unsafe")
        if start_char is not None:
            flat = np.insert(flat, offsets[:-1], start_char)
            offsets = offsets + np.arange(len(offsets))
        if maxlen:
            order = order[np.diff(offsets)[order] < maxlen]
        prepared.append((flat, offsets, labels, order))
    if maxlen and any(len(order) == 0 for *_, order in prepared):
        raise DatasetError(
            f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was kept. "
            f"Increase maxlen."
        )
    if not num_words:
        num_words = max((_largest(flat, offsets, order) for flat, offsets, _, order in prepared), default=0)
    result = []
    for flat, offsets, labels, order in prepared:
        out = (flat < skip_top) | (flat >= num_words)
        if oov_char is not None:
            flat = np.where(out, oov_char, flat)
        elif out.any():
            kept = np.concatenate([[0], np.cumsum(~out, dtype=np.int64)])
            flat, offsets = flat[~out], kept[offsets]
        result.append((to_object_array(flat, offsets)[order], labels[order]))
    return result[0], result[1]


def _largest(flat: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> int:
    """The largest value in the given rows of a ragged array (0 when they are empty)."""
    if len(rows) < len(offsets) - 1:
        chosen = np.zeros(len(offsets) - 1, dtype=bool)
        chosen[rows] = True
        flat = flat[np.repeat(chosen, np.diff(offsets))]
    return int(flat.max()) if flat.size else 0


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

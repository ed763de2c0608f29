"""Texts to word frequency ranks: the vocabulary of the training split, as Keras's IMDB ranks it.

A word of rank ``r`` (1 = most frequent in the training split) is what Keras's loaders
encode as ``r + index_from``. Words of equal frequency rank in order of first
appearance; words seen only outside the training split rank after every training word,
by their frequency there (Keras's IMDB word index covers its test reviews too).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from attention.data.tokenizer import tokenize_batch

# Texts are tokenised this many at a time, so that only a chunk's token lists are alive at once.
TOKENIZE_CHUNK = 1000


class Ranked(NamedTuple):
    """Ragged word ranks of each split, and the words by rank.

    Attributes:
        splits: ``(ranks, offsets)`` per split: the int32 ranks of all texts end to end,
            and the int64 offsets where each text starts (one more than the texts).
        words: ``words[r - 1]`` is the word of rank ``r``.
        train_words: How many words occur in the first (training) split; they are the
            ranks ``1..train_words``.
    """

    splits: list[tuple[np.ndarray, np.ndarray]]
    words: list[str]
    train_words: int


def rank_words(splits: Sequence[Sequence[str]], verbose: bool = True, what: str = "reviews") -> Ranked:
    """Tokenises every text and replaces each token by its training-split frequency rank.

    Args:
        splits: The texts of each split, the training split first.
        verbose: Show a progress bar and the time taken.
        what: What the texts are, for the progress bar.
    """
    start = time.perf_counter()
    total = sum(len(docs) for docs in splits)
    ids_of: dict[str, int] = {}  # token -> id, in order of first appearance, training tokens first
    flats, offsets = [], []
    with tqdm(total=total, unit=f" {what}", desc=f"Tokenising {total:,} {what}", disable=not verbose) as bar:
        for docs in splits:
            lengths, ids = [], []
            for begin in range(0, len(docs), TOKENIZE_CHUNK):
                tokens = tokenize_batch(docs[begin : begin + TOKENIZE_CHUNK])
                lengths.extend(map(len, tokens))
                ids.append(np.fromiter((ids_of.setdefault(t, len(ids_of)) for row in tokens for t in row), dtype=np.int32))
                bar.update(len(tokens))
            flats.append(np.concatenate(ids) if ids else np.zeros(0, np.int32))
            offsets.append(np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]))
    ids = np.concatenate(flats) if flats else np.zeros(0, np.int32)
    n_train = len(flats[0]) if flats else 0
    counts = np.bincount(ids[:n_train], minlength=len(ids_of))
    unseen = np.where(counts == 0, np.bincount(ids[n_train:], minlength=len(counts)), 0)
    # Training frequency first, then the other splits' frequency for words training never
    # saw; lexsort is stable, so ties keep first-appearance order.
    order = np.lexsort((-unseen, -counts))
    rank_of = np.zeros(len(counts), dtype=np.int32)
    rank_of[order] = np.arange(1, len(order) + 1, dtype=np.int32)
    by_id = list(ids_of)
    ranked = Ranked(
        splits=[(np.ascontiguousarray(rank_of[flat], dtype=np.int32), off) for flat, off in zip(flats, offsets)],
        words=[by_id[i] for i in order],
        train_words=int(np.count_nonzero(counts)),
    )
    if verbose:
        print(
            f"Tokenised in {time.perf_counter() - start:.1f} s: {ranked.train_words:,} distinct words in training.",
            file=sys.stderr,
            flush=True,
        )
    return ranked


def encode_words(words: Sequence[str]) -> np.ndarray:
    """The words as one uint8 array, for an ``.npz`` without pickles."""
    # Tokens never contain whitespace, so "\n" separates them unambiguously.
    return np.frombuffer("\n".join(words).encode("utf-8"), dtype=np.uint8)


def decode_words(blob: np.ndarray) -> list[str]:
    """The inverse of :func:`encode_words`."""
    data = blob.tobytes().decode("utf-8")
    return data.split("\n") if data else []

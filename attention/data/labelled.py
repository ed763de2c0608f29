"""Any labelled texts, two classes or many, encoded as the IMDB loader encodes the reviews.

:func:`load_labelled` reads a source (see :mod:`attention.data.sources`), takes its
validation texts from a second source, a seeded stratified split or the source's own
``test/`` split, builds the vocabulary from the training texts only, and returns word
index lists in Keras's IMDB conventions (:mod:`attention.data.conventions`). The
tokenised texts are cached, so a second load skips reading and tokenising.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import NamedTuple, Union

import numpy as np

from attention import defaults
from attention.data import cache, ranks
from attention.data.conventions import keras_conventions
from attention.data.ragged import Ragged
from attention.data.errors import DatasetError
from attention.data.sources import Records, Source, open_source
from attention.data.sources.files import NO_SPLIT

__all__ = ["Labelled", "load_labelled", "class_order", "held_out_texts"]

PathLike = Union[str, "os.PathLike[str]"]

CACHE_SUBDIR = "attention_texts"
# Bump when the cache layout, the reading of sources or the tokeniser changes, so old caches are never reused.
CACHE_FORMAT = 2
# The seed of Keras's IMDB shuffle, which the split and the encoded order follow too.
KERAS_SEED = 113


class Labelled(NamedTuple):
    """Encoded training and validation texts, with what a model needs to read new text.

    Attributes:
        x_train, x_validation: The word index rows (Keras's IMDB conventions), as
            :class:`Ragged` arrays: ``x[i]`` is a list, ``x.to_lists()`` Keras's
            object array, and ``preprocessing.zero_pad`` pads them directly.
        y_train, y_validation: int64 labels, ``classes[label]`` being the class name.
        classes: The class names, in label order.
        word_index: Word -> rank of the training texts' words (1 = most frequent).
        num_words: Indices at or above it are ``oov_char``: the ``num_words`` asked
            for, or fewer when the training texts have fewer words.
    """

    x_train: Ragged
    y_train: np.ndarray
    x_validation: Ragged
    y_validation: np.ndarray
    classes: list[str]
    word_index: dict[str, int]
    num_words: int


def load_labelled(
    source: PathLike,
    *,
    validation_data: PathLike | None = None,
    validation_split: float | None = None,
    split_seed: int = KERAS_SEED,
    text_column: str = "text",
    label_column: str = "label",
    classes: Sequence[str] | None = None,
    num_words: int = defaults.NUM_WORDS,
    index_from: int = defaults.INDEX_FROM,
    cache_dir: PathLike | None = None,
    verbose: bool = True,
) -> Labelled:
    """Loads labelled texts for training a classifier.

    Args:
        source: Class folders (``CLASS/*.txt``, or ``train/`` and ``test/`` of them), a
            tar archive of them, or a ``.csv``/``.tsv``/``.jsonl`` file (each may be ``.gz``).
        validation_data: A second source whose texts validate (its ``test/`` split,
            when it has one).
        validation_split: Else, the fraction of each class's training texts held out
            for validation, drawn with ``split_seed``.
        split_seed: The seed of that split.
        text_column, label_column: The fields of a table (others than the defaults
            are an error where no source is a table).
        classes: Only these classes, in this order (label ``i`` is ``classes[i]``);
            texts of other classes are left out. Default: every class of the
            training texts, sorted (numerically when all are integers).
        num_words, index_from: As for ``imdb.load_data``.
        cache_dir: Folder of the tokenisation cache (default under ``~/.keras/datasets``).
        verbose: Show progress bars.

    Without ``validation_data`` or ``validation_split``, a source with a ``test/``
    split validates on it; one without is an error.

    Raises:
        DatasetError: The data cannot be used; the message says where and why, in one line.
    """
    if validation_data is not None and validation_split is not None:
        raise DatasetError("give either validation data or a validation split, not both")
    if validation_split is not None and not 0.0 < validation_split < 1.0:
        raise DatasetError(f"the validation split must be a fraction between 0 and 1, got {validation_split}")
    options = dict(text_column=text_column, label_column=label_column, classes=classes)
    train_source = open_source(source, **options)
    val_source = open_source(validation_data, **options) if validation_data is not None else None
    if (text_column, label_column) != ("text", "label") and all(s.kind != "table" for s in (train_source, val_source) if s):
        raise DatasetError(  # named for a table, and no table to read them from: surely a mistake
            f"{train_source.path} is {'an archive' if train_source.kind == 'archive' else 'a folder'} of class folders: "
            f"--text-column and --label-column name the "
            f"columns of a table (CSV, TSV, JSON Lines), and its texts' labels are their folders' names"
        )
    key = cache.cache_key(
        CACHE_FORMAT, "attention.tokenizer", train_source.describe(), val_source and val_source.describe(),
        validation_split, split_seed if validation_split is not None else None,
    )
    cache_file = cache.cache_root(cache_dir, CACHE_SUBDIR) / f"{train_source.kind}-{key}.npz"
    payload = cache.read_cache(cache_file, _valid_payload)
    if payload is None:
        train, validation = _split(train_source, val_source, validation_split, split_seed, verbose)
        if classes is None:
            names = class_order(train.labels)
        else:
            names = list(classes)
            train, validation = _select(train, names), _select(validation, names)
        _check(train, validation, names, train_source, val_source)
        ranked = ranks.rank_words([train.texts, validation.texts], verbose, what="texts")
        payload = {"format": np.array(CACHE_FORMAT), "vocab": ranks.encode_words(ranked.words),
                   "train_words": np.array(ranked.train_words),
                   "classes": np.frombuffer(json.dumps(names).encode("utf-8"), dtype=np.uint8)}
        index = {name: i for i, name in enumerate(names)}
        for split, records, (flat, offsets) in zip(("train", "validation"), (train, validation), ranked.splits):
            payload[f"{split}_ranks"], payload[f"{split}_offsets"] = flat, offsets
            payload[f"{split}_labels"] = np.fromiter((index[y] for y in records.labels), np.int32, len(records))
        cache.write_cache(cache_file, payload, "texts", verbose)
    names = json.loads(payload["classes"].tobytes().decode("utf-8"))
    words, train_words = ranks.decode_words(payload["vocab"]), int(payload["train_words"])
    # Words only the validation texts have rank past every training word: with at
    # most this many indices they are all out of vocabulary, as for new text.
    num_words = min(num_words, train_words + index_from + 1)
    (x_train, y_train), (x_val, y_val) = keras_conventions(
        [(payload[f"{s}_ranks"], payload[f"{s}_offsets"], payload[f"{s}_labels"].astype(np.int64))
         for s in ("train", "validation")],
        num_words=num_words, skip_top=0, maxlen=None, seed=KERAS_SEED, start_char=1, oov_char=2,
        index_from=index_from,
    )
    word_index = {word: rank for rank, word in enumerate(words[:train_words], start=1)}
    return Labelled(x_train, y_train, x_val, y_val, names, word_index, num_words)


def class_order(labels: Sequence[str]) -> list[str]:
    """The distinct labels, sorted: as numbers when every one is an integer, else as text."""
    distinct = set(labels)
    try:
        return sorted(distinct, key=lambda label: (int(label), label))
    except ValueError:
        return sorted(distinct)


def _split(train_source: Source, val_source: Source | None, fraction: float | None, seed: int,
           verbose: bool) -> tuple[Records, Records]:
    splits = train_source.read(verbose)
    train = splits.get("train", splits.get(NO_SPLIT))
    if train is None and "test" in splits:
        raise DatasetError(f"{train_source.path} has test/ but no train/ texts.")
    if not train:  # before the validation's questions, which an empty source would raise
        raise DatasetError(f"{train_source.path} holds no texts.")
    if val_source is not None:
        return train, held_out_texts(val_source, verbose)
    if fraction is not None:
        return _stratified_split(train, fraction, seed)
    if "test" in splits:
        return train, splits["test"]
    raise DatasetError(
        f"{train_source.path} has no validation texts (no test/ split): "
        f"pass --validation-data SOURCE or --validation-split FRACTION."
    )


def held_out_texts(source: Source, verbose: bool = True) -> Records:
    """The texts of a source given to validate or test on: its ``test/`` split if it has one, else all its texts.

    Raises:
        DatasetError: The source cannot be read, or holds no texts.
    """
    splits = source.read(verbose)
    for split in ("test", NO_SPLIT, "train"):  # a layout with only train/ lends those
        if split in splits:
            return splits[split]
    raise DatasetError(f"{source.path} holds no texts.")


def _stratified_split(records: Records, fraction: float, seed: int) -> tuple[Records, Records]:
    """Holds out ``fraction`` of each class (at least one text, never all), in the source's order."""
    rng = np.random.RandomState(seed)
    labels = np.array(records.labels, dtype=object)
    held = np.zeros(len(labels), dtype=bool)
    for name in class_order(records.labels):
        members = np.flatnonzero(labels == name)
        count = min(max(int(round(fraction * len(members))), 1), len(members) - 1)
        held[rng.permutation(members)[:count]] = True
    return _subset(records, ~held), _subset(records, held)


def _subset(records: Records, keep: np.ndarray) -> Records:
    rows = np.flatnonzero(keep)
    return Records([records.texts[i] for i in rows], [records.labels[i] for i in rows], records.origin,
                   [records.positions[i] for i in rows])


def _select(records: Records, names: Sequence[str]) -> Records:
    wanted = set(names)
    if all(y in wanted for y in records.labels):
        return records
    return _subset(records, np.array([y in wanted for y in records.labels], dtype=bool))


def _check(train: Records, validation: Records, names: list[str], train_source: Source,
           val_source: Source | None) -> None:
    """One clear line for each way the data cannot train a classifier."""
    for records in (train, validation):
        for i, (text, label) in enumerate(zip(records.texts, records.labels)):
            if not text.strip():
                raise DatasetError(f"{records.where(i)}: the text is empty.")
            if not label:
                raise DatasetError(f"{records.where(i)}: the label is empty.")
    counts = {name: 0 for name in names}
    for label in train.labels:
        counts[label] += 1
    if len(names) < 2:
        found = f"only the class {names[0]!r}" if names else "no texts"
        raise DatasetError(f"{train_source.path}: the training data has {found}; a classifier needs two classes or more.")
    empty = [name for name, n in counts.items() if n == 0]
    if empty:
        raise DatasetError(f"{train_source.path}: the class {empty[0]!r} has no examples in the training data.")
    if len(validation) == 0:
        raise DatasetError(f"{(val_source or train_source).path}: no validation texts.")
    unseen = next((i for i, y in enumerate(validation.labels) if y not in counts), None)
    if unseen is not None:
        raise DatasetError(
            f"{validation.where(unseen)}: the label {validation.labels[unseen]!r} never occurs in the training data "
            f"(its classes: {', '.join(names)})."
        )


def _valid_payload(payload: dict[str, np.ndarray]) -> bool:
    if int(payload["format"]) != CACHE_FORMAT:
        return False
    n_vocab = len(ranks.decode_words(payload["vocab"]))
    n_classes = len(json.loads(payload["classes"].tobytes().decode("utf-8")))
    for split in ("train", "validation"):
        flat, offsets, labels = (payload[f"{split}_{k}"] for k in ("ranks", "offsets", "labels"))
        if (
            flat.ndim != 1 or offsets.ndim != 1 or len(offsets) != len(labels) + 1 or len(labels) == 0
            or offsets[0] != 0 or offsets[-1] != len(flat) or np.any(np.diff(offsets) < 0)
            or (flat.size and (flat.min() < 1 or flat.max() > n_vocab))
            or labels.min() < 0 or labels.max() >= n_classes
        ):
            return False
    return True

"""The IMDB sentiment data set in Keras's conventions, from whichever form the user holds.

The original TF1 script called a local copy of Keras's loader,
``imdb.load_data(path='./imdb/imdb.npz', num_words=10000, index_from=3)``. This module
returns the same kind of arrays from any of the usual forms of the data:

* ``path=None``: ``./imdb/imdb.npz`` if it exists (the original's default location), else
  Keras's own ``keras.datasets.imdb`` (downloaded once into ``~/.keras/datasets``).
* an ``imdb.npz`` in Keras's format (read directly: no download, no hash check), with an
  optional ``imdb_word_index.json`` beside it for :func:`get_word_index`;
* the raw Large Movie Review Dataset as Stanford distributes it: the ``aclImdb/`` folder
  (or a folder that contains it) or the ``aclImdb_v1.tar.gz`` archive (read in place,
  never extracted). Reviews are tokenised with :func:`tokenize`; the result is cached.

Conventions (those of ``keras.datasets.imdb.load_data``): each review is a Python list of
ints; 0 is padding and never appears, ``start_char`` (1) opens every review, ``oov_char``
(2) replaces words outside ``[skip_top, num_words)``, and a word of frequency rank ``r``
(1 = most frequent in the training split) is encoded as ``r + index_from``. Words that
occur only in the test split rank after every training word (by their test frequency),
as Keras's word index also covers the test reviews: with ``num_words`` set they become
``oov_char``. :func:`texts_to_sequences` turns words it does not know into ``oov_char``.

For the raw data, the order before Keras's shuffle is: split by split, ``neg`` (label 0)
then ``pos`` (label 1), each by review ID (the number before ``_`` in ``ID_RATING.txt``).
Words of equal frequency are ranked by first appearance in that order. Every data problem
raises :class:`DatasetError` with a message meant to be shown to the user as it is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Union

import numpy as np

from attention.atomic import atomic_path
from attention.data import cache, ranks
from attention.data.conventions import Arrays, apply_keras_conventions, texts_to_sequences
from attention.data.ragged import to_object_array
from attention.data.errors import DatasetError
from attention.data.sources import files, keras_imdb
from attention.data.tokenizer import tokenize

__all__ = [
    "DatasetError",
    "export_npz",
    "get_word_index",
    "load_data",
    "texts_to_sequences",
    "tokenize",
]

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_NPZ = keras_imdb.DEFAULT_NPZ
WORD_INDEX_JSON = keras_imdb.WORD_INDEX_JSON
CACHE_SUBDIR = "attention_imdb"
# Bump when the cache layout, the reading of sources or the tokeniser changes, so old caches are never reused.
CACHE_FORMAT = 4

_SPLITS = files.SPLITS
_LABELS = ("neg", "pos")  # position = label
_HINT = keras_imdb.HINT


# --------------------------------------------------------------------------- public API


def load_data(
    path: PathLike | None = None,
    num_words: int | None = 10000,
    index_from: int = 3,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    cache_dir: PathLike | None = None,
    verbose: bool = True,
) -> Arrays:
    """Loads IMDB as ``keras.datasets.imdb.load_data`` does, from any form of the data.

    Args:
        path: ``None`` (``./imdb/imdb.npz`` if present, else Keras's download), an
            ``imdb.npz`` file, an ``aclImdb/`` folder or a folder containing it, or the
            ``aclImdb_v1.tar.gz`` archive (any ``.tar``/``.tar.gz``/``.tgz`` name).
        num_words: Keep the ``num_words`` most frequent words: indices
            ``>= num_words`` become ``oov_char``. ``None`` or 0 keeps all words but, as
            in Keras, still turns the single largest index into ``oov_char``.
        index_from: Index of the most frequent word minus one (rank ``r`` is encoded as
            ``r + index_from``).
        skip_top: Indices below ``skip_top`` become ``oov_char`` (as in Keras this is
            compared with the encoded index, ``start_char`` included).
        maxlen: If set, reviews of ``maxlen`` or more indices (start included) are
            dropped, not truncated, as Keras does.
        seed: Seed of the shuffle; the training split is shuffled first, then the test
            split, with the same ``np.random.RandomState``.
        start_char: Index put at the start of every review, or ``None`` for none.
        oov_char: Index of out-of-vocabulary words, or ``None`` to drop those words.
        cache_dir: Folder of the tokenisation cache of the raw data (default
            ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``); a sub-folder
            ``attention_imdb/`` is used inside it.
        verbose: Show progress while the raw reviews are read and tokenised.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: 1-D object arrays of lists of Python
        ints, and int label arrays (1 = positive, 0 = negative).

    Raises:
        DatasetError: The data is missing, malformed or cannot be downloaded.
    """
    kind, source = _resolve_source(path)
    conventions = dict(
        num_words=num_words,
        skip_top=skip_top,
        maxlen=maxlen,
        seed=seed,
        start_char=start_char,
        oov_char=oov_char,
        index_from=index_from,
    )
    if kind == "keras":
        return keras_imdb.keras_load_data(**conventions)
    if kind == "npz":
        splits = keras_imdb.read_npz_splits(source)
    else:
        payload = _load_raw(kind, source, cache_dir, verbose)
        splits = [
            (payload[f"{s}_ranks"], payload[f"{s}_offsets"], payload[f"{s}_labels"].astype(np.int64))
            for s in _SPLITS
        ]
    return apply_keras_conventions(splits, **conventions)


def get_word_index(path: PathLike | None = None, cache_dir: PathLike | None = None) -> dict[str, int]:
    """Returns the word -> frequency rank mapping (1 = most frequent) of the data at ``path``.

    Encoded indices are ``rank + index_from``, as with ``keras.datasets.imdb``. ``path``
    is interpreted as in :func:`load_data`; for an ``imdb.npz`` the mapping is read from
    ``imdb_word_index.json`` beside it.

    Raises:
        DatasetError: The data or the word index is missing or unreadable.
    """
    kind, source = _resolve_source(path)
    if kind == "keras":
        return keras_imdb.keras_get_word_index()
    if kind == "npz":
        return keras_imdb.read_word_index_json(source)
    payload = _load_raw(kind, source, cache_dir, verbose=False)
    return {word: rank for rank, word in enumerate(ranks.decode_words(payload["vocab"]), start=1)}


def export_npz(source: PathLike, path: PathLike, cache_dir: PathLike | None = None) -> None:
    """Writes the reviews of a raw source as Keras's ``imdb.npz``, with ``imdb_word_index.json`` beside it.

    For a machine that has neither the archive nor Keras's download: ``load_data(path)``
    there gives exactly the arrays ``load_data(source)`` gives here (about 22 MB for
    the 50,000 reviews, compressed). The folder of ``path`` is made if it is missing.

    Raises:
        DatasetError: ``source`` is not a raw aclImdb folder or archive, or cannot be read.
    """
    kind, resolved = _resolve_source(source)
    if kind not in ("folder", "archive"):
        raise DatasetError(f"{source} is not an aclImdb/ folder or archive: nothing to export.")
    payload = _load_raw(kind, resolved, cache_dir, verbose=False)
    arrays = {}
    for split in _SPLITS:
        flat, offsets, labels = (payload[f"{split}_{key}"] for key in ("ranks", "offsets", "labels"))
        arrays[f"x_{split}"], arrays[f"y_{split}"] = to_object_array(flat, offsets), labels.astype(np.int64)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    words = ranks.decode_words(payload["vocab"])
    with atomic_path(path.parent / WORD_INDEX_JSON) as tmp:
        tmp.write_text(json.dumps({word: rank for rank, word in enumerate(words, start=1)}), encoding="utf-8")


# ------------------------------------------------------------------- source resolution


def _resolve_source(path: PathLike | None) -> tuple[str, Path | None]:
    """Returns ``(kind, path)`` with kind one of keras, npz, folder (aclImdb root), archive."""
    if path is None:
        default = Path.cwd() / DEFAULT_NPZ
        return ("npz", default) if default.is_file() else ("keras", None)
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        raise DatasetError(f"IMDB data not found: {p} does not exist. {_HINT}")
    if p.is_dir():
        if (p / "train").is_dir() or (p / "test").is_dir():
            return "folder", p
        if (p / "aclImdb").is_dir():
            return "folder", p / "aclImdb"
        if (p / "imdb.npz").is_file():
            return "npz", p / "imdb.npz"
        raise DatasetError(
            f"{p} is a folder without train/ and test/ sub-folders (nor an aclImdb/ "
            f"sub-folder or an imdb.npz). Expected the aclImdb layout "
            f"train/{{pos,neg}}/*.txt and test/{{pos,neg}}/*.txt. {_HINT}"
        )
    name = p.name.lower()
    head = _read_head(p)
    if name.endswith(".npz") or head.startswith(b"PK\x03\x04"):
        return "npz", p
    if files.is_archive(p, head):
        return "archive", p
    raise DatasetError(f"{p} is neither an .npz file, a tar archive nor a folder. {_HINT}")


def _read_head(p: Path) -> bytes:
    try:
        with open(p, "rb") as f:
            return f.read(512)
    except OSError as e:
        raise DatasetError(f"Cannot read {p}: {e.strerror or e}. {_HINT}") from e


# ----------------------------------------------------------------- raw aclImdb source


def _load_raw(kind: str, source: Path, cache_dir: PathLike | None, verbose: bool) -> dict[str, np.ndarray]:
    """Returns the parameter-independent token ranks of a raw source, cached on disk."""
    if kind == "archive":
        fingerprint = cache.file_digest(source, _HINT)
        listing = None
    else:
        listing = _list_folder(source)
        fingerprint = files.folder_digest(listing)
    key = cache.cache_key(CACHE_FORMAT, "attention.tokenizer", kind, fingerprint)
    cache_file = cache.cache_root(cache_dir, CACHE_SUBDIR) / f"{kind}-{key}.npz"
    payload = cache.read_cache(cache_file, _valid_payload)
    if payload is not None:
        return payload
    if kind == "archive":
        splits = _read_archive(source, verbose)
    else:
        splits = files.read_folder(source, listing, strict=False, verbose=verbose)
    payload = _encode(splits, verbose)
    cache.write_cache(cache_file, payload, "IMDB reviews", verbose)
    return payload


def _list_folder(root: Path) -> files.Listing:
    missing = [s + "/" for s in _SPLITS if not (root / s).is_dir()]
    if missing:
        raise DatasetError(
            f"{root} has no {' and no '.join(missing)} folder. Expected the aclImdb layout "
            f"train/{{pos,neg}}/*.txt and test/{{pos,neg}}/*.txt. {_HINT}"
        )
    listing = files.list_folder(root, _LABELS)
    _check_groups(listing, str(root))
    return listing


def _check_groups(groups: dict[tuple[str, str], list[Any]], where: str) -> None:
    empty = [f"{split}/{label}/" for split in _SPLITS for label in _LABELS if not groups.get((split, label))]
    if empty:
        raise DatasetError(
            f"{where} has no reviews in {', '.join(empty)}. Every one of train/pos, train/neg, "
            f"test/pos and test/neg must hold ID_RATING.txt review files; the copy may be "
            f"incomplete: get aclImdb_v1.tar.gz again. {_HINT}"
        )


def _read_archive(p: Path, verbose: bool) -> dict[str, files.Records]:
    try:
        splits = files.read_archive(p, _LABELS, strict=False, verbose=verbose)
    except DatasetError as e:
        raise DatasetError(f"{e} Use the official aclImdb_v1.tar.gz.") from None
    if not any(len(splits.get(s, ())) for s in _SPLITS):
        raise DatasetError(
            f"{p} contains no aclImdb/train/ and aclImdb/test/ reviews (expected "
            f"aclImdb/{{train,test}}/{{pos,neg}}/ID_RATING.txt). {_HINT}"
        )
    groups = {
        (split, label): [1]
        for split, records in splits.items()
        for label in set(records.labels)
    }
    _check_groups(groups, str(p))
    return splits


def _encode(splits: dict[str, files.Records], verbose: bool) -> dict[str, np.ndarray]:
    """Tokenises every review and replaces tokens by their training-split frequency rank."""
    ranked = ranks.rank_words([splits[s].texts for s in _SPLITS], verbose)
    payload: dict[str, np.ndarray] = {"format": np.array(CACHE_FORMAT)}
    for split, (flat, offsets) in zip(_SPLITS, ranked.splits):
        payload[f"{split}_ranks"] = flat
        payload[f"{split}_offsets"] = offsets
        payload[f"{split}_labels"] = np.array([_LABELS.index(y) for y in splits[split].labels], dtype=np.int8)
    payload["vocab"] = ranks.encode_words(ranked.words)
    return payload


def _valid_payload(payload: dict[str, np.ndarray]) -> bool:
    if int(payload["format"]) != CACHE_FORMAT:
        return False
    n_vocab = len(ranks.decode_words(payload["vocab"]))
    for split in _SPLITS:
        flat, offsets, labels = (payload[f"{split}_{k}"] for k in ("ranks", "offsets", "labels"))
        if (
            flat.ndim != 1
            or offsets.ndim != 1
            or len(offsets) != len(labels) + 1
            or len(labels) == 0
            or offsets[0] != 0
            or offsets[-1] != len(flat)
            or np.any(np.diff(offsets) < 0)
            or (flat.size and (flat.min() < 1 or flat.max() > n_vocab))
        ):
            return False
    return True

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

import gc
import hashlib
import itertools
import json
import os
import pickle
import posixpath
import re
import sys
import tarfile
import time
import warnings
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Union

import numpy as np
from tqdm import tqdm

from attention.atomic import PARTIAL, atomic_path
from attention.tokenizer import tokenize, tokenize_batch  # tokenize: part of this module's API

__all__ = [
    "DatasetError",
    "export_npz",
    "get_word_index",
    "load_data",
    "texts_to_sequences",
    "tokenize",
]

PathLike = Union[str, "os.PathLike[str]"]
Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

DEFAULT_NPZ = Path("imdb") / "imdb.npz"
WORD_INDEX_JSON = "imdb_word_index.json"
CACHE_SUBDIR = "attention_imdb"
# Bump when the cache layout or the tokeniser changes, so old caches are never reused.
CACHE_FORMAT = 3

_SPLITS = ("train", "test")
_LABELS = ("neg", "pos")  # position = label
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_STALE_TMP_SECONDS = 24 * 3600

_ACCEPTED = (
    "an imdb.npz file in Keras's format, an aclImdb/ folder (or a folder containing it), "
    "or the aclImdb_v1.tar.gz archive from https://ai.stanford.edu/~amaas/data/sentiment/"
)
_HINT = f"Pass --data PATH (path=... in Python) pointing at {_ACCEPTED}."

# Reviews are tokenised this many at a time.
_TOKENIZE_CHUNK = 1000


class DatasetError(ValueError):
    """The IMDB data could not be found or read; the message says what to do."""


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
        return _keras_load_data(**conventions)
    if kind == "npz":
        splits = _read_npz_splits(source)
    else:
        payload = _load_raw(kind, source, cache_dir, verbose)
        splits = [
            (payload[f"{s}_ranks"], payload[f"{s}_offsets"], payload[f"{s}_labels"].astype(np.int64))
            for s in _SPLITS
        ]
    return _apply_keras_conventions(splits, **conventions)


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
        return _keras_get_word_index()
    if kind == "npz":
        return _read_word_index_json(source)
    payload = _load_raw(kind, source, cache_dir, verbose=False)
    return {word: rank for rank, word in enumerate(_decode_vocab(payload["vocab"]), start=1)}


def export_npz(source: PathLike, path: PathLike, cache_dir: PathLike | None = None) -> None:
    """Writes the reviews of a raw source as Keras's ``imdb.npz``, with ``imdb_word_index.json`` beside it.

    For a machine that has neither the archive nor Keras's download: ``load_data(path)``
    there gives exactly the arrays ``load_data(source)`` gives here (about 22 MB for
    the 50,000 reviews, compressed).

    Raises:
        DatasetError: ``source`` is not a raw aclImdb folder or archive, or cannot be read.
    """
    kind, resolved = _resolve_source(source)
    if kind not in ("folder", "archive"):
        raise DatasetError(f"{source} is not an aclImdb/ folder or archive: nothing to export.")
    payload = _load_raw(kind, resolved, cache_dir, verbose=False)
    arrays = {}
    for split in _SPLITS:
        ranks, offsets, labels = (payload[f"{split}_{key}"] for key in ("ranks", "offsets", "labels"))
        arrays[f"x_{split}"], arrays[f"y_{split}"] = _to_object_array(ranks, offsets), labels.astype(np.int64)
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    words = _decode_vocab(payload["vocab"])
    with atomic_path(path.parent / WORD_INDEX_JSON) as tmp:
        tmp.write_text(json.dumps({word: rank for rank, word in enumerate(words, start=1)}), encoding="utf-8")


def texts_to_sequences(
    texts: Iterable[str],
    word_index: dict[str, int],
    num_words: int | None = 10000,
    index_from: int = 3,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    skip_top: int = 0,
) -> list[list[int]]:
    """Encodes texts exactly as :func:`load_data` encodes the raw reviews.

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
    compressed = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
    if name.endswith(_ARCHIVE_SUFFIXES) or head.startswith(compressed) or head[257:262] == b"ustar":
        return "archive", p
    raise DatasetError(f"{p} is neither an .npz file, a tar archive nor a folder. {_HINT}")


def _read_head(p: Path) -> bytes:
    try:
        with open(p, "rb") as f:
            return f.read(512)
    except OSError as e:
        raise DatasetError(f"Cannot read {p}: {e.strerror or e}. {_HINT}") from e


# ------------------------------------------------------------------------- Keras source


def _keras_load_data(**kwargs: Any) -> Arrays:
    import keras

    try:
        return keras.datasets.imdb.load_data(**kwargs)
    except ValueError as e:
        if "maxlen" in str(e):  # the data is there, the parameter is not usable
            raise DatasetError(str(e)) from e
        raise DatasetError(_keras_failure("imdb.npz", e)) from e
    except Exception as e:  # get_file raises a bare Exception when offline
        raise DatasetError(_keras_failure("imdb.npz", e)) from e


def _keras_get_word_index() -> dict[str, int]:
    import keras

    try:
        return keras.datasets.imdb.get_word_index()
    except Exception as e:
        raise DatasetError(_keras_failure("imdb_word_index.json", e)) from e


def _keras_failure(fname: str, e: BaseException) -> str:
    detail = " ".join(str(e).split()) or type(e).__name__
    keras_dir = os.path.join(os.environ.get("KERAS_HOME") or os.path.join("~", ".keras"), "datasets")
    return (
        f"No local IMDB data (./{DEFAULT_NPZ.as_posix()} does not exist) and Keras could not "
        f"download {fname} into {keras_dir} ({detail}). Without internet access, "
        f"{_HINT[0].lower()}{_HINT[1:]}"
    )


# --------------------------------------------------------------------------- npz source


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Rebuilds the ragged object arrays of imdb.npz without running arbitrary pickles."""

    _ALLOWED = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _read_npy(fp: Any) -> np.ndarray:
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        _, _, dtype = np.lib.format.read_array_header_1_0(fp)
    else:
        # Format 3.0 differs from 2.0 only in the header's text encoding.
        _, _, dtype = np.lib.format.read_array_header_2_0(fp)
    if dtype.hasobject:
        return np.asarray(_NumpyOnlyUnpickler(fp).load())
    fp.seek(0)
    return np.lib.format.read_array(fp, allow_pickle=False)


def _read_npz_splits(p: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    expected = f"Expected Keras's imdb.npz format (arrays {', '.join(_NPZ_KEYS)}). {_HINT}"
    try:
        with zipfile.ZipFile(p) as zf:
            members = {n[: -len(".npy")]: n for n in zf.namelist() if n.endswith(".npy")}
            missing = [k for k in _NPZ_KEYS if k not in members]
            if missing:
                found = ", ".join(sorted(members)) or "none"
                raise DatasetError(f"{p} lacks the arrays {', '.join(missing)} (found: {found}). {expected}")
            arrays = {}
            for key in _NPZ_KEYS:
                with zf.open(members[key]) as fp:
                    arrays[key] = _read_npy(fp)
    except DatasetError:
        raise
    except Exception as e:  # zip, zlib, npy-header and pickle errors all mean "unreadable"
        raise DatasetError(f"{p} is not a readable .npz file ({type(e).__name__}: {e}). {expected}") from e
    splits = []
    for split in _SPLITS:
        x, y = arrays[f"x_{split}"], np.asarray(arrays[f"y_{split}"])
        if y.ndim != 1 or len(x) != len(y):
            raise DatasetError(f"{p}: x_{split} and y_{split} do not have the same length. {expected}")
        if len(y) == 0:
            raise DatasetError(f"{p}: the {split} split is empty. {expected}")
        try:
            lengths = np.fromiter((len(seq) for seq in x), dtype=np.int64, count=len(x))
            offsets = np.concatenate([[0], np.cumsum(lengths)])
            flat = np.fromiter(itertools.chain.from_iterable(x), dtype=np.int64, count=int(offsets[-1]))
        except (TypeError, ValueError) as e:
            raise DatasetError(f"{p}: x_{split} is not a list of integer sequences ({e}). {expected}") from e
        splits.append((flat, offsets, y))
    return splits


def _read_word_index_json(npz: Path) -> dict[str, int]:
    json_path = npz.parent / WORD_INDEX_JSON
    if not json_path.is_file():
        raise DatasetError(
            f"No word index for {npz}: expected {WORD_INDEX_JSON} beside it ({json_path}). "
            f"Download it from https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
            f"{WORD_INDEX_JSON} into that folder, or use the aclImdb/ folder or "
            f"aclImdb_v1.tar.gz archive, whose word index is computed from the reviews."
        )
    try:
        with open(json_path, encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        raise DatasetError(f"{json_path} is not a readable JSON file ({e}).") from e
    if not isinstance(index, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in index.items()
    ):
        raise DatasetError(f"{json_path} must map words (strings) to ranks (integers), as Keras's does.")
    return index


# ----------------------------------------------------------------- raw aclImdb source


def _load_raw(kind: str, source: Path, cache_dir: PathLike | None, verbose: bool) -> dict[str, np.ndarray]:
    """Returns the parameter-independent token ranks of a raw source, cached on disk."""
    if kind == "archive":
        fingerprint = _file_digest(source)
        reviews = None
    else:
        reviews = _list_folder(source)
        fingerprint = _folder_digest(reviews)
    key = hashlib.sha256(
        json.dumps([CACHE_FORMAT, "attention.tokenizer", kind, fingerprint]).encode()
    ).hexdigest()[:40]
    cache_file = _cache_root(cache_dir) / f"{kind}-{key}.npz"
    payload = _read_cache(cache_file)
    if payload is not None:
        return payload
    if kind == "archive":
        texts = _read_archive(source, verbose)
    else:
        texts = _read_folder(source, reviews, verbose)
    payload = _encode(texts, verbose)
    _write_cache(cache_file, payload, verbose)
    return payload


def _cache_root(cache_dir: PathLike | None) -> Path:
    if cache_dir is None:
        home = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
        return Path(home).expanduser() / "datasets" / CACHE_SUBDIR
    return Path(os.fspath(cache_dir)).expanduser() / CACHE_SUBDIR


def _file_digest(p: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError as e:
        raise DatasetError(f"Cannot read {p}: {e.strerror or e}. {_HINT}") from e
    return h.hexdigest()


def _review_sort_key(name: str) -> tuple[int, int, str]:
    # ID_RATING.txt: order by the numeric ID, so "10_7.txt" follows "9_3.txt".
    head = name.split("_", 1)[0]
    return (0, int(head), name) if head.isdigit() else (1, 0, name)


def _list_folder(root: Path) -> dict[tuple[int, int], list[tuple[str, os.stat_result]]]:
    """Lists the review files of an aclImdb folder per (split, label), sorted by name."""
    missing = [s + "/" for s in _SPLITS if not (root / s).is_dir()]
    if missing:
        raise DatasetError(
            f"{root} has no {' and no '.join(missing)} folder. Expected the aclImdb layout "
            f"train/{{pos,neg}}/*.txt and test/{{pos,neg}}/*.txt. {_HINT}"
        )
    groups = {}
    for s, split in enumerate(_SPLITS):
        for label, name in enumerate(_LABELS):
            d = root / split / name
            files = []
            if d.is_dir():
                try:
                    with os.scandir(d) as it:
                        for entry in it:
                            if entry.name.endswith(".txt") and entry.is_file():
                                files.append((entry.name, entry.stat()))
                except OSError as e:
                    raise DatasetError(f"Cannot list {d}: {e.strerror or e}.") from e
            files.sort()  # by name: enough for the digest; reading re-sorts by review ID
            groups[(s, label)] = files
    _check_groups(groups, str(root))
    return groups


def _check_groups(groups: dict[tuple[int, int], list[Any]], where: str) -> None:
    empty = [f"{_SPLITS[s]}/{_LABELS[label]}/" for (s, label), items in sorted(groups.items()) if not items]
    if empty:
        raise DatasetError(
            f"{where} has no reviews in {', '.join(empty)}. Every one of train/pos, train/neg, "
            f"test/pos and test/neg must hold ID_RATING.txt review files; the copy may be "
            f"incomplete: get aclImdb_v1.tar.gz again. {_HINT}"
        )


def _folder_digest(groups: dict[tuple[int, int], list[tuple[str, os.stat_result]]]) -> str:
    lines = [
        f"{_SPLITS[s]}/{_LABELS[label]}/{name}\0{st.st_size}\0{st.st_mtime_ns}\n"
        for (s, label), files in sorted(groups.items())
        for name, st in files
    ]
    return hashlib.sha256("".join(lines).encode("utf-8", errors="surrogateescape")).hexdigest()


def _read_folder(
    root: Path, groups: dict[tuple[int, int], list[tuple[str, os.stat_result]]], verbose: bool
) -> dict[tuple[int, int], list[str]]:
    texts: dict[tuple[int, int], list[str]] = {}
    total = sum(len(files) for files in groups.values())
    with tqdm(total=total, unit=" reviews", desc=f"Reading {root.name}", disable=not verbose) as bar:
        for (s, label), files in sorted(groups.items()):
            d = root / _SPLITS[s] / _LABELS[label]
            out = texts[(s, label)] = []
            for name in sorted((name for name, _ in files), key=_review_sort_key):
                try:
                    with open(d / name, "rb") as f:
                        out.append(f.read().decode("utf-8", errors="replace"))
                except OSError as e:
                    raise DatasetError(f"Cannot read {d / name}: {e.strerror or e}.") from e
                bar.update()
    return texts


def _member_path(member: tarfile.TarInfo, archive: Path) -> str:
    """Returns the member's normalised path, refusing paths that leave the archive's folder."""
    name = member.name.replace("\\", "/")
    norm = posixpath.normpath(name)
    if name.startswith("/") or re.match(r"[A-Za-z]:", name) or norm == ".." or norm.startswith("../"):
        raise DatasetError(
            f"{archive} contains the member {member.name!r}, whose path escapes the archive's "
            f"folder; refusing to read it. Use the official aclImdb_v1.tar.gz."
        )
    return norm


def _read_archive(p: Path, verbose: bool) -> dict[tuple[int, int], list[str]]:
    found: dict[tuple[int, int], dict[str, bytes]] = {(s, label): {} for s in range(2) for label in range(2)}
    roots: set[str] = set()
    corrupt = (
        f"{p} is truncated or corrupt. Download aclImdb_v1.tar.gz again "
        f"(or pass an extracted aclImdb/ folder)."
    )
    try:
        with open(p, "rb") as raw, tqdm(
            total=p.stat().st_size,
            unit="B",
            unit_scale=True,
            desc=f"Reading {p.name}",
            disable=not verbose,
        ) as bar:
            with tarfile.open(fileobj=raw, mode="r:*") as tar:
                for member in tar:
                    path = _member_path(member, p)
                    parts = path.split("/")
                    if (
                        member.isfile()
                        and len(parts) >= 3
                        and parts[-3] in _SPLITS
                        and parts[-2] in _LABELS
                        and parts[-1].endswith(".txt")
                    ):
                        f = tar.extractfile(member)
                        data = f.read() if f is not None else b""
                        if len(data) != member.size:
                            raise DatasetError(f"{corrupt} ({member.name} is cut short)")
                        roots.add("/".join(parts[:-3]))
                        found[(_SPLITS.index(parts[-3]), _LABELS.index(parts[-2]))][parts[-1]] = data
                    bar.update(raw.tell() - bar.n)
                # tarfile stops at the end-of-archive marker; reading on to the end of the
                # stream makes gzip/bz2/xz check their trailer, so a cut archive is caught.
                while tar.fileobj.read(1 << 20):
                    pass
                bar.update(raw.tell() - bar.n)
    except DatasetError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise DatasetError(f"{corrupt} ({type(e).__name__}: {e})") from e
    if len(roots) > 1:
        raise DatasetError(
            f"{p} holds reviews under several folders ({', '.join(sorted(r or '.' for r in roots))}); "
            f"expected a single aclImdb/ tree."
        )
    if not any(found.values()):
        raise DatasetError(
            f"{p} contains no aclImdb/train/ and aclImdb/test/ reviews (expected "
            f"aclImdb/{{train,test}}/{{pos,neg}}/ID_RATING.txt). {_HINT}"
        )
    _check_groups(found, str(p))
    return {
        group: [
            members[name].decode("utf-8", errors="replace")
            for name in sorted(members, key=_review_sort_key)
        ]
        for group, members in found.items()
    }


# --------------------------------------------------------------------- tokenisation


def _encode(texts: dict[tuple[int, int], list[str]], verbose: bool) -> dict[str, np.ndarray]:
    """Tokenises every review and replaces tokens by their training-split frequency rank."""
    start = time.perf_counter()
    total = sum(len(v) for v in texts.values())
    words: dict[str, int] = {}  # token -> id, in order of first appearance, train tokens first
    flats, row_splits, labels = [], [], []
    with tqdm(total=total, unit=" reviews", desc=f"Tokenising {total:,} reviews", disable=not verbose) as bar:
        for s in range(len(_SPLITS)):
            docs = texts[(s, 0)] + texts[(s, 1)]
            labels.append(np.repeat(np.array([0, 1], dtype=np.int8), [len(texts[(s, 0)]), len(texts[(s, 1)])]))
            lengths, ids = [], []
            # In chunks, so that only a chunk's token lists are alive at once.
            for begin in range(0, len(docs), _TOKENIZE_CHUNK):
                tokens = tokenize_batch(docs[begin : begin + _TOKENIZE_CHUNK])
                lengths.extend(map(len, tokens))
                ids.append(np.fromiter((words.setdefault(t, len(words)) for row in tokens for t in row), dtype=np.int32))
                bar.update(len(tokens))
            flats.append(np.concatenate(ids) if ids else np.zeros(0, np.int32))
            row_splits.append(np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]))
    ids = np.concatenate(flats)
    n_train = int(row_splits[0][-1])
    counts = np.bincount(ids[:n_train], minlength=len(words))
    test_only = np.where(counts == 0, np.bincount(ids[n_train:], minlength=len(counts)), 0)
    # Training frequency first, then test frequency for test-only words; lexsort is
    # stable, so ties keep first-appearance order.
    order = np.lexsort((-test_only, -counts))
    n_vocab = len(order)
    n_train_vocab = int(np.count_nonzero(counts))
    rank_of = np.zeros(len(counts), dtype=np.int32)
    rank_of[order] = np.arange(1, n_vocab + 1, dtype=np.int32)
    ranks = rank_of[ids]
    payload: dict[str, np.ndarray] = {"format": np.array(CACHE_FORMAT)}
    for s, split in enumerate(_SPLITS):
        part = ranks[:n_train] if s == 0 else ranks[n_train:]
        payload[f"{split}_ranks"] = np.ascontiguousarray(part, dtype=np.int32)
        payload[f"{split}_offsets"] = row_splits[s]
        payload[f"{split}_labels"] = labels[s]
    by_id = list(words)
    # Tokens never contain whitespace, so "\n" separates them unambiguously.
    vocab = "\n".join(by_id[i] for i in order).encode("utf-8")
    payload["vocab"] = np.frombuffer(vocab, dtype=np.uint8)
    if verbose:
        print(
            f"Tokenised in {time.perf_counter() - start:.1f} s: {n_train_vocab:,} distinct words in training.",
            file=sys.stderr,
            flush=True,
        )
    return payload


def _decode_vocab(blob: np.ndarray) -> list[str]:
    data = blob.tobytes().decode("utf-8")
    return data.split("\n") if data else []


# ----------------------------------------------------------------------------- cache


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    """Returns the cached payload, or None when it is absent, unreadable or inconsistent."""
    if not path.is_file():
        return None
    try:
        # Our own handle: np.load leaks its file when the zip turns out to be broken.
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            payload = {key: npz[key] for key in npz.files}
        if int(payload["format"]) != CACHE_FORMAT:
            return None
        n_vocab = len(_decode_vocab(payload["vocab"]))
        for split in _SPLITS:
            ranks, offsets, labels = (payload[f"{split}_{k}"] for k in ("ranks", "offsets", "labels"))
            if (
                ranks.ndim != 1
                or offsets.ndim != 1
                or len(offsets) != len(labels) + 1
                or len(labels) == 0
                or offsets[0] != 0
                or offsets[-1] != len(ranks)
                or np.any(np.diff(offsets) < 0)
                or (ranks.size and (ranks.min() < 1 or ranks.max() > n_vocab))
            ):
                return None
        return payload
    except Exception:  # any damage means "rebuild", never a crash
        return None


def _write_cache(path: Path, payload: dict[str, np.ndarray], verbose: bool) -> None:
    """Writes the cache atomically; failing to write it only costs a rebuild next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_tmp(path.parent)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                _save_arrays(f, payload)
        if verbose:
            print(f"Cached the tokenised reviews in {path}", file=sys.stderr, flush=True)
    except OSError as e:
        warnings.warn(f"Could not cache the tokenised IMDB reviews in {path.parent}: {e}", stacklevel=3)


def _save_arrays(f: Any, payload: dict[str, np.ndarray]) -> None:
    # Uncompressed: a cached load must stay well under a second.
    np.savez(f, **payload)


def _remove_stale_tmp(folder: Path) -> None:
    # Left by runs killed too hard for `finally` to run.
    cutoff = time.time() - _STALE_TMP_SECONDS
    for tmp in folder.glob(f".*{PARTIAL}.npz"):
        try:
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()
        except OSError:
            pass


# ------------------------------------------------------------------ Keras conventions


def _ragged_take(flat: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Selects ``rows`` of a ragged array stored as flat values + offsets."""
    lengths = np.diff(offsets)[rows]
    new_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    shift = np.repeat(offsets[:-1][rows] - new_offsets[:-1], lengths)
    return flat[np.arange(new_offsets[-1], dtype=np.int64) + shift], new_offsets


def _apply_keras_conventions(
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
    """Vectorised equivalent of ``keras.datasets.imdb.load_data`` after reading the npz."""
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
        flat, offsets = _ragged_take(flat, offsets, order)
        labels = labels[order]
        flat = np.add(flat, index_from, dtype=dtype, casting="unsafe")
        if start_char is not None:
            flat = np.insert(flat, offsets[:-1], start_char)
            offsets = offsets + np.arange(len(offsets))
        if maxlen:
            keep = np.flatnonzero(np.diff(offsets) < maxlen)
            if len(keep) < len(labels):
                flat, offsets = _ragged_take(flat, offsets, keep)
                labels = labels[keep]
        prepared.append((flat, offsets, labels))
    if maxlen and any(len(labels) == 0 for _, _, labels in prepared):
        raise DatasetError(
            f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was kept. "
            f"Increase maxlen."
        )
    if not num_words:
        num_words = max((int(flat.max()) for flat, _, _ in prepared if flat.size), default=0)
    result = []
    for flat, offsets, labels in prepared:
        out = (flat < skip_top) | (flat >= num_words)
        if oov_char is not None:
            flat = np.where(out, oov_char, flat)
        elif out.any():
            kept = np.concatenate([[0], np.cumsum(~out, dtype=np.int64)])
            flat, offsets = flat[~out], kept[offsets]
        result.append((_to_object_array(flat, offsets), labels))
    return result[0], result[1]


def _to_object_array(flat: np.ndarray, offsets: np.ndarray) -> np.ndarray:
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

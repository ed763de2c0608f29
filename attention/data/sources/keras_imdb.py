"""Keras's own forms of IMDB: its download, and an ``imdb.npz`` in its format read directly.

An ``imdb.npz`` holds ragged object arrays, which NumPy stores as pickles: they are read
with an unpickler that rebuilds NumPy arrays and nothing else.
"""

from __future__ import annotations

import itertools
import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from attention.data.conventions import Arrays
from attention.data.errors import DatasetError

DEFAULT_NPZ = Path("imdb") / "imdb.npz"
WORD_INDEX_JSON = "imdb_word_index.json"
SPLITS = ("train", "test")
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")

ACCEPTED = (
    "an imdb.npz file in Keras's format, an aclImdb/ folder (or a folder containing it), "
    "or the aclImdb_v1.tar.gz archive from https://ai.stanford.edu/~amaas/data/sentiment/"
)
HINT = f"Pass --data PATH (path=... in Python) pointing at {ACCEPTED}."


# ------------------------------------------------------------------------- Keras source


def keras_load_data(**kwargs: Any) -> Arrays:
    import keras

    try:
        return keras.datasets.imdb.load_data(**kwargs)
    except ValueError as e:
        if "maxlen" in str(e):  # the data is there, the parameter is not usable
            raise DatasetError(str(e)) from e
        raise DatasetError(_keras_failure("imdb.npz", e)) from e
    except Exception as e:  # get_file raises a bare Exception when offline
        raise DatasetError(_keras_failure("imdb.npz", e)) from e


def keras_get_word_index() -> dict[str, int]:
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
        f"{HINT[0].lower()}{HINT[1:]}"
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


def read_npz_splits(p: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    expected = f"Expected Keras's imdb.npz format (arrays {', '.join(NPZ_KEYS)}). {HINT}"
    try:
        with zipfile.ZipFile(p) as zf:
            members = {n[: -len(".npy")]: n for n in zf.namelist() if n.endswith(".npy")}
            missing = [k for k in NPZ_KEYS if k not in members]
            if missing:
                found = ", ".join(sorted(members)) or "none"
                raise DatasetError(f"{p} lacks the arrays {', '.join(missing)} (found: {found}). {expected}")
            arrays = {}
            for key in NPZ_KEYS:
                with zf.open(members[key]) as fp:
                    arrays[key] = _read_npy(fp)
    except DatasetError:
        raise
    except Exception as e:  # zip, zlib, npy-header and pickle errors all mean "unreadable"
        raise DatasetError(f"{p} is not a readable .npz file ({type(e).__name__}: {e}). {expected}") from e
    splits = []
    for split in SPLITS:
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


def read_word_index_json(npz: Path) -> dict[str, int]:
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

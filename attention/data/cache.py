"""The tokenisation cache: arrays in an uncompressed ``.npz``, keyed by what they were made from.

A cache file is written through the project's one atomic writer, so an interrupted write
leaves nothing behind; any damage to a cache file means "rebuild", never a crash.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

import numpy as np

from attention.atomic import PARTIAL, atomic_path
from attention.data.errors import DatasetError

PathLike = Union[str, "os.PathLike[str]"]

_STALE_TMP_SECONDS = 24 * 3600


def cache_root(cache_dir: PathLike | None, subdir: str) -> Path:
    """``cache_dir/subdir``; by default under ``$KERAS_HOME/datasets`` (or ``~/.keras/datasets``)."""
    if cache_dir is None:
        home = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
        return Path(home).expanduser() / "datasets" / subdir
    return Path(os.fspath(cache_dir)).expanduser() / subdir


def cache_key(*parts: Any) -> str:
    """A file-name-safe hash of everything a cached payload depends on."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:40]


def file_digest(path: Path, hint: str = "") -> str:
    """The SHA-256 of a file's bytes, so that a renamed file still finds its cache."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError as e:
        raise DatasetError(f"Cannot read {path}: {e.strerror or e}. {hint}".rstrip()) from e
    return h.hexdigest()


def read_cache(path: Path, valid: Callable[[dict[str, np.ndarray]], bool]) -> dict[str, np.ndarray] | None:
    """The cached payload, or None when it is absent, unreadable or fails ``valid``."""
    if not path.is_file():
        return None
    try:
        # Our own handle: np.load leaks its file when the zip turns out to be broken.
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            payload = {key: npz[key] for key in npz.files}
        return payload if valid(payload) else None
    except Exception:  # any damage means "rebuild", never a crash
        return None


def write_cache(path: Path, payload: dict[str, np.ndarray], what: str, verbose: bool) -> None:
    """Writes the cache atomically; failing to write it only costs a rebuild next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_tmp(path.parent)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                save_arrays(f, payload)
        if verbose:
            print(f"Cached the tokenised {what} in {path}", file=sys.stderr, flush=True)
    except OSError as e:
        warnings.warn(f"Could not cache the tokenised {what} in {path.parent}: {e}", stacklevel=3)


def save_arrays(f: Any, payload: dict[str, np.ndarray]) -> None:
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

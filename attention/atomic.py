"""Files that are either complete or absent: the one way this package writes a file.

Everything is written to a temporary file beside its destination and renamed
over it (atomic on POSIX and Windows), so a process killed mid-write (Ctrl-C,
`kill`, a full disk) never leaves a half-written model, cache or record behind.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Temporary files are named `.NAME.XXXX.partial` + the destination's suffix
# (Keras insists on a `.keras` suffix when saving a model).
PARTIAL = ".partial"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a fresh temporary path beside `path`, renamed onto `path` if the block succeeds.

    If the block raises (KeyboardInterrupt included), the temporary file is
    removed and `path` is left as it was. The parent folder must exist.

    >>> with atomic_path("model.keras") as tmp:  # doctest: +SKIP
    ...     model.save(tmp)
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=PARTIAL + path.suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        # Data on disk before the rename, so a crash cannot leave a complete name on empty data.
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); the result gets a new file's usual mode.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(directory: str | os.PathLike) -> Iterator[Path]:
    """Yields a fresh folder beside `directory`, swapped in for it if the block succeeds.

    The folder counterpart of `atomic_path`: a folder cannot be renamed over a
    non-empty one, so an earlier `directory` is moved aside first and removed
    after the swap (and put back if the swap fails). The parent is created.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkdtemp: its folder is private (0700), and readers often run as another user.
    tmp = directory.parent / f".{directory.name}.{uuid.uuid4().hex[:8]}{PARTIAL}"
    tmp.mkdir()
    old = tmp.with_name(tmp.name + ".old")
    try:
        yield tmp
        for folder, _, files in os.walk(tmp):  # data on disk before the rename
            for name in files:
                with open(os.path.join(folder, name), "rb") as f:
                    os.fsync(f.fileno())
        if directory.exists():
            os.replace(directory, old)
        try:
            os.replace(tmp, directory)
        except BaseException:
            if old.exists():  # the earlier folder goes back
                os.replace(old, directory)
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def finite_json(data: Any) -> Any:
    """`data` with every NaN or infinite float replaced by `None`, so that it is valid JSON."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite_json(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite_json(value) for value in data]
    return data


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Writes `data` as JSON (non-finite numbers as `null`), atomically."""
    text = json.dumps(finite_json(data), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")


def save_model(model: Any, path: str | os.PathLike) -> None:
    """Saves a Keras model to a `.keras` file that is either complete or absent; creates its folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        model.save(tmp)

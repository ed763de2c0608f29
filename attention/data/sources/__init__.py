"""Where labelled texts come from: class folders (or an archive of them) and tables.

:func:`open_source` tells the forms apart; :meth:`Source.read` gives one
:class:`Records` per split (``train``/``test`` for a split layout, ``""`` otherwise).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from attention.data.cache import file_digest
from attention.data.errors import DatasetError
from attention.data.sources import files, tables
from attention.data.sources.records import Records

__all__ = ["Records", "Source", "open_source"]

FORMS = (
    "a folder with one sub-folder of .txt files per class (or train/ and test/ folders of them), "
    "a .tar, .tar.gz, .tar.bz2 or .tar.xz archive of such a folder, or a .csv, .tsv or .jsonl file (optionally .gz)"
)
# Compressions a table might come in that this does not read (a tar archive's are read).
_OTHER_COMPRESSIONS = (".bz2", ".xz", ".zip", ".zst", ".7z")


class Source:
    """A source of labelled texts, opened but not yet read.

    Attributes:
        path: The file or folder.
        kind: ``folder``, ``archive`` or ``table``.
    """

    def __init__(self, path: Path, kind: str, classes: Sequence[str] | None, text_column: str, label_column: str,
                 strict: bool) -> None:
        self.path, self.kind = path, kind
        self.classes = None if classes is None else list(classes)
        self.text_column, self.label_column, self.strict = text_column, label_column, strict
        self._listing = files.list_folder(path, self.classes) if kind == "folder" else None

    def fingerprint(self) -> str:
        """What the texts depend on: a folder's file list, a file's content."""
        if self._listing is not None:
            return files.folder_digest(self._listing)
        return file_digest(self.path)

    def describe(self) -> list:
        """Everything about how the source is read, for a cache key."""
        return [self.kind, self.fingerprint(), self.classes, self.text_column, self.label_column, self.strict]

    def read(self, verbose: bool = True) -> dict[str, Records]:
        """The records of each split, in the source's order."""
        if self.kind == "folder":
            return files.read_folder(self.path, self._listing, self.strict, verbose)
        if self.kind == "archive":
            return files.read_archive(self.path, self.classes, self.strict, verbose)
        return {files.NO_SPLIT: tables.read_table(self.path, self.text_column, self.label_column, self.strict)}


def open_source(
    path: str | os.PathLike,
    *,
    text_column: str = "text",
    label_column: str = "label",
    classes: Sequence[str] | None = None,
    strict: bool = True,
) -> Source:
    """Finds out which form of labelled texts ``path`` holds.

    Args:
        path: A folder of class folders, an archive of one, or a table file.
        text_column, label_column: The fields of a table.
        classes: Only these class folders (folder forms); ``None``: all of them.
        strict: Whether text that is not UTF-8 is an error.

    Raises:
        DatasetError: ``path`` does not exist or is none of the forms.
    """
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        raise DatasetError(f"{p} does not exist. Expected {FORMS}.")
    if p.is_dir():
        return Source(p, "folder", classes, text_column, label_column, strict)
    if tables.table_format(p) is not None:
        return Source(p, "table", classes, text_column, label_column, strict)
    if p.suffix.lower() in _OTHER_COMPRESSIONS and tables.table_format(p.with_suffix("")) is not None:
        raise DatasetError(f"{p}: a table is read plain or gzip-compressed (.gz), not {p.suffix}; decompress it.")
    try:
        with open(p, "rb") as f:
            head = f.read(512)
    except OSError as e:
        raise DatasetError(f"Cannot read {p}: {e.strerror or e}.") from e
    if files.is_archive(p, head):
        return Source(p, "archive", classes, text_column, label_column, strict)
    raise DatasetError(f"{p} is not a form of labelled texts this reads. Expected {FORMS}.")

"""Texts in a table: CSV or TSV with a header row, or JSON Lines; each may be gzip-compressed.

CSV and TSV are read as spreadsheets and pandas write them: fields in double quotes may
hold the delimiter, quotes (doubled) and newlines. A JSON Lines file holds one object per
line; its label may be a string or an integer.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from pathlib import Path

from attention.atomic import atomic_path
from attention.data.errors import DatasetError
from attention.data.sources.records import Records, decode

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
GZIP_MAGIC = b"\x1f\x8b"


def table_format(path: Path) -> str | None:
    """``csv``, ``tsv`` or ``jsonl`` from the file's name (``.gz`` after it allowed), else None."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return FORMATS.get(suffixes[-1]) if suffixes else None


def read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when it is gzip (whatever its name)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        return gzip.decompress(data) if data.startswith(GZIP_MAGIC) else data
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"Cannot read {path}: {getattr(e, 'strerror', None) or e}.") from e


def read_table(path: Path, text_column: str = "text", label_column: str | None = "label", strict: bool = True) -> Records:
    """Reads the texts and labels of a CSV, TSV or JSON Lines file.

    Args:
        path: The file; its format comes from its name (``.csv``, ``.tsv``, ``.jsonl``,
            each optionally followed by ``.gz``).
        text_column, label_column: The header's (or the objects') names of the fields;
            ``label_column=None`` reads texts without labels (each label is ``""``).
        strict: Whether bytes that are not UTF-8 are an error (else U+FFFD).

    Raises:
        DatasetError: The file cannot be read, is not UTF-8, lacks a column, or has a
            row without a text or a label; the message names the file and line.
    """
    kind = table_format(path)
    if kind is None:
        raise DatasetError(f"{path}: unknown format; expected .csv, .tsv or .jsonl (each optionally .gz).")
    text = decode(read_bytes(path), str(path), strict)
    if kind == "jsonl":
        return _read_jsonl(path, text, text_column, label_column)
    return _read_delimited(path, text, "," if kind == "csv" else "\t", text_column, label_column)


def _read_delimited(path: Path, text: str, delimiter: str, text_column: str, label_column: str | None) -> Records:
    # The csv module refuses fields over 128 KiB by default; a long document is still one text.
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise DatasetError(f"{path} is empty: expected a header row naming the columns.")
        columns = [name.strip() for name in header]
        missing = [name for name in (text_column, label_column) if name is not None and name not in columns]
        if missing:
            option = "--text-column" if missing[0] == text_column else "--label-column"
            raise DatasetError(
                f"{path} has no column {missing[0]!r} (its columns: {', '.join(map(repr, columns))}); "
                f"name the right one with {option}."
            )
        t, width = columns.index(text_column), len(columns)
        y = None if label_column is None else columns.index(label_column)
        records = Records(origin=str(path))
        line = reader.line_num + 1
        for row in reader:
            if row:  # blank lines are layout
                if len(row) != width:
                    raise DatasetError(f"{path}, line {line}: {len(row)} fields where the header has {width}.")
                records.append(row[t], "" if y is None else row[y].strip(), line)
            line = reader.line_num + 1
    except csv.Error as e:
        raise DatasetError(f"{path}, line {reader.line_num}: not valid {'CSV' if delimiter == ',' else 'TSV'} ({e}).") from None
    return records


def _read_jsonl(path: Path, text: str, text_column: str, label_column: str | None) -> Records:
    records = Records(origin=str(path))
    for line, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError as e:
            raise DatasetError(f"{path}, line {line}: not a JSON object ({e}).") from None
        if not isinstance(item, dict):
            raise DatasetError(f"{path}, line {line}: expected a JSON object, got {type(item).__name__}.")
        for name, option in ((text_column, "--text-column"), (label_column, "--label-column")):
            if name is not None and name not in item:
                raise DatasetError(f"{path}, line {line}: no field {name!r} (name the right one with {option}).")
        value, label = item[text_column], "" if label_column is None else item[label_column]
        if not isinstance(value, str):
            raise DatasetError(f"{path}, line {line}: the text {text_column!r} is not a string.")
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            raise DatasetError(f"{path}, line {line}: the label {label_column!r} must be a string or an integer.")
        records.append(value, str(label).strip(), line)
    return records


def write_table(path: Path, texts: list[str], labels: list[str], text_column: str = "text", label_column: str = "label") -> None:
    """Writes texts and labels in the format of ``path``'s name (gzip-compressed for ``.gz``)."""
    kind = table_format(path)
    if kind is None:
        raise ValueError(f"{path}: unknown format; expected .csv, .tsv or .jsonl (each optionally .gz)")
    out = io.StringIO(newline="")
    if kind == "jsonl":
        for text, label in zip(texts, labels):
            out.write(json.dumps({text_column: text, label_column: label}, ensure_ascii=False) + "\n")
    else:
        writer = csv.writer(out, delimiter="," if kind == "csv" else "\t", lineterminator="\n")
        writer.writerow([text_column, label_column])
        writer.writerows(zip(texts, labels))
    data = out.getvalue().encode("utf-8")
    with atomic_path(path) as tmp:
        tmp.write_bytes(gzip.compress(data, mtime=0) if path.suffix.lower() == ".gz" else data)

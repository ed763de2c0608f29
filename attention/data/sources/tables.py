"""Texts in a table: CSV or TSV with a header row, or JSON Lines; each may be gzip-compressed.

CSV and TSV are read as spreadsheets and pandas write them: fields in double quotes may
hold the delimiter, quotes (doubled) and newlines. A file whose quoted fields escape their
quotes with a backslash instead (``"a \\"quoted\\" word"``, as Kaggle's IMDB TSV files and R's
``write.table`` do; told from its first lines) is read so too: there ``\\\\`` is a backslash, and a
backslash before any other character stays. A JSON Lines file holds one object per line; its
label may be a string or an integer.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from attention.atomic import atomic_path
from attention.data.errors import DatasetError, MissingColumn
from attention.data.sources.records import Records, line_of

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
GZIP_MAGIC = b"\x1f\x8b"
# The lines that decide how a table escapes its quotes: the first thousand, or the first MiB.
SNIFFED_LINES, SNIFFED_CHARS = 1000, 2**20
# A backslash before a quote or a backslash escapes it; any other stays, as R's write.table
# (which escapes quotes only) leaves it.
BACKSLASH_ESCAPE = re.compile(r'\\(["\\])')


def table_format(path: Path) -> str | None:
    """``csv``, ``tsv`` or ``jsonl`` from the file's name (``.gz`` after it allowed), else None."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return FORMATS.get(suffixes[-1]) if suffixes else None


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
            Rows with nothing in any field are skipped, as blank lines are.
    """
    records = Records(origin=str(path))
    for text, label, line in table_rows(path, text_column, label_column, strict):
        records.append(text, label, line)
    return records


def table_rows(path: Path, text_column: str = "text", label_column: str | None = "label",
               strict: bool = True, label_option: str = "--label-column") -> Iterator[tuple[str, str, int]]:
    """The rows of a CSV, TSV or JSON Lines file as ``(text, label, line)``, read as they are asked for.

    The file is opened, and the header of a CSV or TSV file checked, at once;
    each row is read when the iteration reaches it, so that a file of any
    size takes the memory of a row, and an error in a row is raised there.
    Arguments and errors are those of :func:`read_table`; `label_option` is the
    option that names `label_column`, for the errors' advice.
    """
    kind = table_format(path)
    if kind is None:
        raise DatasetError(f"{path}: unknown format; expected .csv, .tsv or .jsonl (each optionally .gz).")
    lines = _text_lines(path, strict)
    if kind == "jsonl":
        return _jsonl_rows(path, lines, text_column, label_column, label_option)
    return _delimited_rows(path, lines, "," if kind == "csv" else "\t", text_column, label_column, label_option)


def _binary(raw: BinaryIO) -> BinaryIO:
    """The file's bytes, decompressed when it is gzip (whatever its name)."""
    return gzip.GzipFile(fileobj=raw) if raw.peek(2)[:2] == GZIP_MAGIC else raw


def _text_lines(path: Path, strict: bool) -> Iterator[str]:
    """The file's lines, newlines kept (CSV's ``newline=""``), as they are read; a byte-order mark is dropped."""
    try:
        raw = open(path, "rb")
    except OSError as e:
        raise DatasetError(f"Cannot read {path}: {e.strerror or e}.") from e

    def lines() -> Iterator[str]:
        with raw:
            try:
                yield from io.TextIOWrapper(_binary(raw), encoding="utf-8-sig", errors="strict" if strict else "replace",
                                            newline="")
            except UnicodeDecodeError:
                raise DatasetError(_not_utf8(path)) from None
            except (OSError, EOFError, zlib.error) as e:
                raise DatasetError(f"Cannot read {path}: {getattr(e, 'strerror', None) or e}.") from e

    return lines()


def _not_utf8(path: Path) -> str:
    """The error for a file that is not UTF-8, naming its first line that is not (read again, line by line:
    the decoder above reads ahead of the rows)."""
    number = 1
    with open(path, "rb") as raw:
        for line in _binary(raw):  # split at b"\n" only: line_of counts the lone b"\r"s too
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                return (f"{path}, line {number + line_of(line, e.start) - 1}: not UTF-8 text "
                        f"(byte 0x{line[e.start]:02x}); save the file as UTF-8.")
            number += line_of(line, len(line)) - 1
    return f"{path}: not UTF-8 text; save the file as UTF-8."


def _delimited_rows(path: Path, lines: Iterator[str], delimiter: str, text_column: str,
                    label_column: str | None, label_option: str) -> Iterator[tuple[str, str, int]]:
    # The csv module refuses fields over 128 KiB by default; a long document is still one text.
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    head, rest, whole = _head(lines)
    lines = itertools.chain(head, rest)
    if _backslash_quoted(head, delimiter, cut=not whole):
        lines = map(_doubled_quotes, lines)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)

    def invalid(error: csv.Error, row_line: int) -> DatasetError:
        kind = "CSV" if delimiter == "," else "TSV"
        if str(error) == "unexpected end of data":  # a quote left open swallowed every line after it
            return DatasetError(f"{path}, line {row_line}: not valid {kind}: a quoted field of this row is never closed.")
        return DatasetError(f"{path}, line {reader.line_num}: not valid {kind} ({error}).")

    try:
        header = next(reader, None)
    except csv.Error as e:
        raise invalid(e, 1) from None
    if header is None:
        raise DatasetError(f"{path} is empty: expected a header row naming the columns.")
    columns = [name.strip() for name in header]
    missing = [name for name in (text_column, label_column) if name is not None and name not in columns]
    if missing:
        option = "--text-column" if missing[0] == text_column else label_option
        raise MissingColumn(f"{path} has no column {missing[0]!r} (its columns: {', '.join(map(repr, columns))})", option)
    t, width = columns.index(text_column), len(columns)
    y = None if label_column is None else columns.index(label_column)

    def rows() -> Iterator[tuple[str, str, int]]:
        line = reader.line_num + 1
        try:
            for row in reader:
                # Blank lines are layout, and so is a row with nothing in any field (a line of
                # spaces, a spreadsheet's empty row ",,"), as a blank line is in JSON Lines.
                if any(field.strip() for field in row):
                    if len(row) != width:
                        raise DatasetError(f"{path}, line {line}: {len(row)} fields where the header has {width}.")
                    yield row[t], "" if y is None else row[y].strip(), line
                line = reader.line_num + 1
        except csv.Error as e:
            raise invalid(e, line) from None

    return rows()


def _head(lines: Iterator[str]) -> tuple[list[str], Iterator[str], bool]:
    """The first lines (`SNIFFED_LINES`, `SNIFFED_CHARS`), the rest, and whether they are the whole file.

    A line that cannot be read (not UTF-8) raises in the rest, where the rows reach
    it, so that the rows before it are still read.
    """
    head, size = [], 0
    try:
        for line in lines:
            head.append(line)
            size += len(line)
            if len(head) == SNIFFED_LINES or size >= SNIFFED_CHARS:
                return head, lines, False
    except DatasetError as error:
        return head, _raises(error), False
    return head, iter(()), True


def _raises(error: Exception) -> Iterator[str]:
    raise error
    yield  # a generator: it raises when it is reached


def _doubled_quotes(line: str) -> str:
    """A line whose quotes are escaped with a backslash, as CSV writes them: doubled."""
    return BACKSLASH_ESCAPE.sub(lambda m: '""' if m.group(1) == '"' else "\\", line)


def _backslash_quoted(lines: list[str], delimiter: str, cut: bool) -> bool:
    """Whether these first lines of a table read only with quotes escaped by a backslash (``\\"``);
    `cut`: whether more lines follow (so that a quoted field may go on past them)."""
    def reads(lines: Iterable[str]) -> bool:
        try:
            # Rows as the reader takes them: a row with nothing in any field is layout.
            rows = [row for row in csv.reader(lines, delimiter=delimiter, strict=True) if any(f.strip() for f in row)]
        except csv.Error as error:
            return cut and str(error) == "unexpected end of data"
        return len({len(row) for row in rows}) <= 1
    return any('\\"' in line for line in lines) and not reads(lines) and reads(map(_doubled_quotes, lines))


def _jsonl_rows(path: Path, lines: Iterator[str], text_column: str,
                label_column: str | None, label_option: str) -> Iterator[tuple[str, str, int]]:
    for line, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError as e:
            raise DatasetError(f"{path}, line {line}: not a JSON object ({e}).") from None
        if not isinstance(item, dict):
            raise DatasetError(f"{path}, line {line}: expected a JSON object, got {type(item).__name__}.")
        for name, option in ((text_column, "--text-column"), (label_column, label_option)):
            if name is not None and name not in item:
                raise MissingColumn(f"{path}, line {line}: no field {name!r}", option)
        value, label = item[text_column], "" if label_column is None else item[label_column]
        if not isinstance(value, str):
            raise DatasetError(f"{path}, line {line}: the text {text_column!r} is not a string.")
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            raise DatasetError(f"{path}, line {line}: the field {label_column!r} must be a string or an integer.")
        for name, field in ((text_column, value), (label_column, label)):
            if isinstance(field, str) and not _is_unicode(field):  # JSON's "\ud800": half of a UTF-16 pair
                raise DatasetError(f"{path}, line {line}: the field {name!r} is not valid UTF-8 text (it holds "
                                   f"a lone surrogate escape, such as \\ud800).")
        yield value, str(label).strip(), line


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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

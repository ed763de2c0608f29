"""What every source gives: texts, their labels, and where each came from (for error messages)."""

from __future__ import annotations

import dataclasses

from attention.data.errors import DatasetError


@dataclasses.dataclass
class Records:
    """Labelled texts read from one source, in the source's order.

    Attributes:
        texts: The texts.
        labels: The label of each text, as a string (a class folder's name, a
            column's value; JSON integers are written in decimal).
        origin: The file or folder they came from.
        positions: Where each text lies in ``origin``: a line number (tables)
            or a path inside it (class folders).
    """

    texts: list[str] = dataclasses.field(default_factory=list)
    labels: list[str] = dataclasses.field(default_factory=list)
    origin: str = ""
    positions: list = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def where(self, i: int) -> str:
        """Where text ``i`` came from, for an error message."""
        return place(self.origin, self.positions[i])

    def append(self, text: str, label: str, position: int | str) -> None:
        self.texts.append(text)
        self.labels.append(label)
        self.positions.append(position)


def place(origin: str, position: int | str) -> str:
    """A text's place for messages: a table's line (an int), or a path inside a folder or archive."""
    return f"{origin}, line {position}" if isinstance(position, int) else f"{origin}: {position}"


def decode(data: bytes, where: str, strict: bool) -> str:
    """UTF-8 bytes as text; a byte-order mark is dropped.

    Args:
        data: The bytes.
        where: The file (or archive member), named in the error.
        strict: Raise on bytes that are not UTF-8; otherwise they become U+FFFD.

    Raises:
        DatasetError: ``strict`` and the bytes are not UTF-8; the message gives the line.
    """
    try:
        text = data.decode("utf-8") if strict else data.decode("utf-8", errors="replace")
    except UnicodeDecodeError as e:
        line = line_of(data, e.start)
        raise DatasetError(
            f"{where}, line {line}: not UTF-8 text (byte 0x{data[e.start]:02x}); save the file as UTF-8."
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def line_of(data: bytes, offset: int) -> int:
    """The line (from 1) of the byte at ``offset``. Lines end at ``\\n``, ``\\r\\n`` or a lone
    ``\\r``, as Python's universal newlines and the csv module read them."""
    before = data[:offset]
    return before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n") + 1

"""The one tokeniser of the project: pure Python, the tokens of the TensorFlow rules exactly.

The raw reviews were first tokenised with TensorFlow (ICU's ``tf.strings.lower``, RE2's
``tf.strings.regex_replace``, ``tf.strings.split``; ``attention.serving.TOKEN_RULES`` keeps
those rules, for the export that reads raw text, and the tests compare both). This module needs only the standard library (and NumPy for texts
with code points above U+FFFF), so text is read the same way on the JAX and PyTorch
backends, where TensorFlow may not be installed. It tokenises the 50,000 IMDB reviews in
about 3 s on one core, as fast as TensorFlow's ops (2.5-3 s) and twice as fast as their
lists of tokens (6 s).

What the TensorFlow path does, measured with TensorFlow 2.21 on every code point
U+0001..U+10FFFF but the surrogates, and compared with Python 3.11 (Unicode 14.0):

* ``tf.strings.lower(..., encoding="utf-8")`` is ICU's ``UnicodeString::toLower()``: full
  case mapping (U+0130 'İ' becomes 'i' + U+0307, as in Python's ``str.lower()``) with the
  Final_Sigma rule (a word-final 'Σ' becomes 'ς'), from Unicode 13.0 data. So it leaves
  alone the 40 capitals that Unicode 14 added and Python lower-cases (U+2C2F, U+A7C0,
  U+A7D0, U+A7D6, U+A7D8, Vithkuqi U+10570..U+10595), and its Final_Sigma test takes
  Unicode 13's Cased and Case_Ignorable properties: 303 code points differ from Python
  3.11's, all new in Unicode 14 but U+1734 (Mn, case-ignorable, in 13; Mc in 14).
  Every other code point lower-cases as in Python. ICU takes its locale from LC_ALL,
  LC_MESSAGES or LANG: under a Turkish or Azeri one TensorFlow lower-cases 'I' to 'ı',
  under a Lithuanian one it adds dots. This module always gives the root locale's
  result, which is TensorFlow's under C, C.UTF-8, en_US and the like; the export's
  ``tokenize_tensor`` lower-cases those letters itself first, so it does too.
* RE2's ``\\pL``, ``\\pN``, ``\\pM`` and ``\\p{Cf}`` are Unicode 15.0: Python 3.11's
  categories L*, N*, M* and Cf plus 4,430 word and 7 format code points that Unicode 14
  does not assign (Kawi U+11F00.., CJK Extension H U+31350.., Egyptian format controls
  U+13439..), and nothing else. RE2's ``\\s`` is ASCII ``[\\t\\n\\f\\r ]`` (no ``\\v``),
  which matters in ``<br\\s*/?>``.
* ``tf.strings.split()`` splits on ASCII whitespace ``[\\t\\n\\v\\f\\r ]`` only; the rules
  have made every other space and control character a U+0020 by then.
* A text with a lone surrogate has no UTF-8 form: TensorFlow raises a ``ValueError``,
  this module ``str.encode``'s ``UnicodeEncodeError`` (a ``ValueError``).

Python's own tables change with its version (Unicode 13.0 in Python 3.9, 15.1 in 3.13),
so the measured ones are written out below: RE2's word and format classes, ICU's
lower-case mapping and Final_Sigma properties. The tokens are the same as TensorFlow's
with Python 3.9 to 3.13. ``str.lower()`` is used where it agrees with ICU (for every
ASCII text, and every text without a capital sigma or a code point that the running
Python lower-cases otherwise than ICU); the other texts are lower-cased exactly from
the tables, more slowly. ``tests/test_tokenizer.py`` measures the tables again with the
installed TensorFlow and compares.

The rules of ``attention.imdb``, applied one after the other with RE2 (lower-case;
``<br />`` tags to spaces; typographic apostrophes to ASCII ones; format characters
removed; control characters and non-ASCII spaces to spaces; each other non-word
character a token; apostrophes joined back between two word characters, in two passes,
which join every such apostrophe), come down here to the same first steps and then one
``re.findall``: a token is a run of word characters (letters, digits, marks) with single
apostrophes inside it, or any other single character but a space or a control character.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["tokenize", "tokenize_batch"]

from attention.data.unicode_tables import CASE_IGNORABLE as _CASE_IGNORABLE
from attention.data.unicode_tables import CASED as _CASED
from attention.data.unicode_tables import FORMAT as _FORMAT
from attention.data.unicode_tables import LOWER as _LOWER
from attention.data.unicode_tables import WORD as _WORD

# ---------------------------------------------------------------------- tokeniser

_NON_ASCII_SPACES = "\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Control characters and spaces separate tokens (attention.imdb turns them into U+0020
# and tf.strings.split then splits on it).
_SEPARATORS = "\x00-\x20" + _NON_ASCII_SPACES
_BR = re.compile("<br[\t\n\f\r ]*/?>")  # RE2's \s: no \v
_ASCII_TOKEN = re.compile("[a-z0-9]+(?:'[a-z0-9]+)*|[^\x00-\x20\x7f]")
_CAPITAL_SIGMA = "\u03a3"
_DOTTED_CAPITAL_I = "\u0130"


def tokenize(text: str) -> list[str]:
    """Splits ``text`` into the tokens of  the TensorFlow rules, exactly.

    Lower case; ``<br />`` tags removed; words keep inner apostrophes (``don't``);
    every other punctuation character or symbol is a token of its own.

    >>> tokenize("Great film!<br /><br />I didn't LOVE it...")
    ['great', 'film', '!', 'i', "didn't", 'love', 'it', '.', '.', '.']

    Raises:
        TypeError: ``text`` is not a ``str``.
        UnicodeEncodeError: ``text`` holds a lone surrogate (no UTF-8 form).
    """
    if not isinstance(text, str):
        raise TypeError(f"expected text as str, got {type(text).__name__}")
    return _tokenize(text)


def tokenize_batch(texts: Sequence[str]) -> list[list[str]]:
    """Tokenises each text as :func:`tokenize` does; a list of token lists.

    Raises:
        TypeError: ``texts`` is a single ``str``, or one of the texts is not a ``str``
            (checked before any text is tokenised).
    """
    if isinstance(texts, str):
        raise TypeError("tokenize_batch expects a sequence of texts, not a single string")
    texts = list(texts)
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"expected text as str, got {type(text).__name__}")
    return [_tokenize(text) for text in texts]


def _tokenize(text: str) -> list[str]:
    if text.isascii():
        # ASCII: Python's lower() is ICU's, and there is no format character, typographic
        # apostrophe or non-ASCII space.
        text = text.lower()
        if "<" in text:
            text = _BR.sub(" ", text)
        return _ASCII_TOKEN.findall(text)
    tables = _tables()
    # re tests a character against the code points above U+FFFF of a character class one
    # range after the other, slowly: texts without any such code point (nearly all) get
    # patterns without them.
    astral = max(text) > "\uffff"
    patterns = tables.astral if astral else tables.bmp
    if "\x00" in text:  # what attention.imdb does before lower-casing (no other effect)
        text = text.replace("\x00", " ")
    if patterns.needs_exact_lower.search(text):
        text = _lower_exact(text, tables)
    else:
        text = text.lower()
    if "<" in text:
        text = _BR.sub(" ", text)
    text = text.replace("\u2018", "'").replace("\u2019", "'")
    if patterns.format_char.search(text):
        text = patterns.format_char.sub("", text)
    if not astral:
        return tables.token.findall(text)
    import numpy as np  # only here (and in _Tables): importing this module stays fast

    # A stand-in of the same length in which each code point above U+FFFF is replaced by
    # "a" if it is a word character, by "!" if not; the tokens are cut out of the text
    # where the stand-in's are.
    codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4").copy()
    high = codes > 0xFFFF
    codes[high] = tables.astral_stand_ins()[codes[high] - 0x10000]
    stand_in = codes.tobytes().decode("utf-32-le")
    return [text[m.start() : m.end()] for m in tables.token.finditer(stand_in)]


# --------------------------------------------------------------------- lower-casing


def _lower_exact(text: str, tables: _Tables) -> str:
    """ICU's root-locale ``toLower``, with its Unicode 13.0 data."""
    bad = _SURROGATE.search(text)
    if bad:
        start = bad.start()
        raise UnicodeEncodeError("utf-8", text, start, start + 1, "surrogates not allowed")
    mapping = tables.lower_mapping
    pieces = text.split(_CAPITAL_SIGMA)
    out = [pieces[0].translate(mapping)]
    position = len(pieces[0])
    for piece in pieces[1:]:
        out.append("\u03c2" if _is_final_sigma(text, position, tables) else "\u03c3")
        out.append(piece.translate(mapping))
        position += 1 + len(piece)
    return "".join(out)


def _is_final_sigma(text: str, i: int, tables: _Tables) -> bool:
    """Unicode's Final_Sigma context of ``text[i]``, with ICU's character properties.

    A cased letter, then case-ignorable characters before it; no case-ignorable
    characters then a cased letter after it.
    """
    ignorable, cased = tables.case_ignorable, tables.cased
    j = i - 1
    while j >= 0 and ord(text[j]) in ignorable:
        j -= 1
    if j < 0 or ord(text[j]) not in cased:
        return False
    j = i + 1
    while j < len(text) and ord(text[j]) in ignorable:
        j += 1
    return j == len(text) or ord(text[j]) not in cased


_SURROGATE = re.compile("[\ud800-\udfff]")


# ------------------------------------------------------------------------- tables


def _parse_ranges(table: str) -> list[tuple[int, int]]:
    """``"0041-005A 00AA"`` -> ``[(0x41, 0x5A), (0xAA, 0xAA)]``."""
    ranges = []
    for item in table.split():
        first, _, last = item.partition("-")
        ranges.append((int(first, 16), int(last or first, 16)))
    return ranges


def _parse_lower(table: str) -> dict[int, int]:
    """``"0100-012E/2+1"`` -> ``{0x100: 0x101, 0x102: 0x103, ..., 0x12E: 0x12F}``."""
    mapping = {}
    for item in table.split():
        match = re.fullmatch(r"([0-9A-F]+)(?:-([0-9A-F]+)(?:/(\d+))?)?([+-]\d+)", item)
        if match is None:
            raise ValueError(f"bad lower-case table entry {item!r}")
        first = int(match[1], 16)
        last = int(match[2], 16) if match[2] else first
        for c in range(first, last + 1, int(match[3] or 1)):
            mapping[c] = c + int(match[4])
    return mapping


def _char_class(ranges: list[tuple[int, int]]) -> str:
    return "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)


def _expand(ranges: list[tuple[int, int]]) -> frozenset[int]:
    return frozenset(c for a, b in ranges for c in range(a, b + 1))


def _format_ranges(code_points: Iterable[int]) -> str:
    """The inverse of :func:`_parse_ranges` (to write the tables out again)."""
    items, start, prev = [], None, None
    for c in sorted(code_points):
        if start is not None and c == prev + 1:
            prev = c
            continue
        if start is not None:
            items.append(f"{start:04X}" if start == prev else f"{start:04X}-{prev:04X}")
        start = prev = c
    if start is not None:
        items.append(f"{start:04X}" if start == prev else f"{start:04X}-{prev:04X}")
    return " ".join(items)


class _Patterns:
    """The tests of the non-ASCII path, for texts without or with code points above U+FFFF."""

    def __init__(self, format_char: list, lower_differs: list, astral: bool) -> None:
        def char_class(ranges: list[tuple[int, int]]) -> str:
            return _char_class(ranges if astral else _below(ranges, 0x10000))

        self.format_char = re.compile(f"[{char_class(format_char)}]")
        # str.lower() is exact unless one of these is in the text (surrogates: an error).
        self.needs_exact_lower = re.compile(f"[{char_class(lower_differs)}\u03a3\ud800-\udfff]")


class _Tables:
    """The maps and patterns of the non-ASCII path, built on first use (about 0.05 s)."""

    def __init__(self) -> None:
        icu = {c: chr(lower) for c, lower in _parse_lower(_LOWER).items()}
        icu[ord(_DOTTED_CAPITAL_I)] = "i\u0307"
        self.lower_mapping = icu
        self.cased = _expand(_parse_ranges(_CASED))
        self.case_ignorable = _expand(_parse_ranges(_CASE_IGNORABLE))
        self.word = _parse_ranges(_WORD)
        word_char = f"[{_char_class(_below(self.word, 0x10000))}]"
        self.token = re.compile(f"{word_char}+(?:'{word_char}+)*|[^{_SEPARATORS}]")
        format_char = _parse_ranges(_FORMAT)
        differs = _parse_ranges(_format_ranges(_python_lower_differs(icu)))
        self.bmp = _Patterns(format_char, differs, astral=False)
        self.astral = _Patterns(format_char, differs, astral=True)
        self._astral_stand_ins: np.ndarray | None = None

    def astral_stand_ins(self) -> np.ndarray:
        """From U+10000 on, each code point's stand-in: ``ord("a")`` (word), ``ord("!")``."""
        if self._astral_stand_ins is None:
            import numpy as np

            stand_ins = np.full(0x100000, ord("!"), dtype=np.uint8)
            for a, b in self.word:
                if b > 0xFFFF:
                    stand_ins[max(a, 0x10000) - 0x10000 : b - 0x10000 + 1] = ord("a")
            self._astral_stand_ins = stand_ins
        return self._astral_stand_ins


def _below(ranges: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    return [(a, min(b, limit - 1)) for a, b in ranges if a < limit]


def _python_lower_differs(icu: dict[int, str]) -> set[int]:
    """Code points that this Python's ``str.lower()`` maps otherwise than ICU (alone)."""
    import numpy as np

    differ = {c for c, lower in icu.items() if chr(c).lower() != lower}
    everything = np.arange(0x110000, dtype="<u4")
    everything = everything[(everything < 0xD800) | (everything > 0xDFFF)]
    text = everything.tobytes().decode("utf-32-le")
    block = 256
    for start in range(0, len(text), block):
        chunk = text[start : start + block]
        if chunk.lower() != chunk:
            differ.update(ord(c) for c in chunk if c.lower() != icu.get(ord(c), c))
    return differ


_TABLES: _Tables | None = None


def _tables() -> _Tables:
    global _TABLES
    if _TABLES is None:
        _TABLES = _Tables()
    return _TABLES

"""The pure-Python tokeniser: its cases, and exact agreement with the TensorFlow one.

The reference is the TensorFlow tokeniser the raw reviews were first read with (its RE2
rules are ``attention.serving.TOKEN_RULES``, which the SavedModel export also runs); the
comparisons are skipped where TensorFlow is not installed. Two slower ones are marked
``slow`` (``-m "not slow"`` leaves them out): every code point above U+FFFF in context
(about 15 s), and all 50,000 reviews of the real IMDB archive (about 15 s; only where the
archive is).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tarfile
import unicodedata
from pathlib import Path

import pytest

from attention.data import tokenizer
from attention.data.tokenizer import tokenize, tokenize_batch
from attention.serving import tokenize_tensor  # the TensorFlow reference: attention.serving.TOKEN_RULES

REAL_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "aclImdb_v1-labeled.tar.gz"
SPLITS, LABELS = ("train", "test"), ("pos", "neg")
ALL_CODE_POINTS = [c for c in range(1, 0x110000) if not 0xD800 <= c <= 0xDFFF]

# The tokeniser's cases (once in tests/test_imdb.py, when the loader tokenised with TensorFlow).
IMDB_CASES = [
    ("Great movie!<br /><br />Loved it.", ["great", "movie", "!", "loved", "it", "."]),
    ("I DIDN'T like it...", ["i", "didn't", "like", "it", ".", ".", "."]),
    ("don\u2019t", ["don't"]),
    ("rock'n'roll a'b'c'd", ["rock'n'roll", "a'b'c'd"]),
    ("'quoted' ''", ["'", "quoted", "'", "'", "'"]),
    ("10/10, (really)", ["10", "/", "10", ",", "(", "really", ")"]),
    (
        "Caf\u00e9 \u00c9T\u00c9\u00a0na\u00efve\tx\ny",
        ["caf\u00e9", "\u00e9t\u00e9", "na\u00efve", "x", "y"],
    ),
    ("line<br>break<BR/>here", ["line", "break", "here"]),
    ("soft\u00adhyphen", ["softhyphen"]),
    ("great\x00film bad", ["great", "film", "bad"]),
    ("", []),
]

TRICKY_CASES = [
    # apostrophes: joined only between two word characters (letters, digits, marks)
    ("x' 'x x'' ''x", ["x", "'", "'", "x", "x", "'", "'", "'", "'", "x"]),
    ("a'b'c'd'e'f'g", ["a'b'c'd'e'f'g"]),
    ("90's 1'2'3 a'1", ["90's", "1'2'3", "a'1"]),
    ("e\u0301'\u0301x", ["e\u0301'\u0301x"]),  # combining marks are word characters
    ("it\u2018s \u2018quoted\u2019", ["it's", "'", "quoted", "'"]),
    ("a'-b a'\u00a0b a '", ["a", "'", "-", "b", "a", "'", "b", "a", "'"]),
    # lower-casing as ICU does it
    ("\u0130stanbul I", ["i\u0307stanbul", "i"]),  # the dot stays, a combining mark
    # final sigma: after a cased letter, not before one (case-ignorable ones skipped)
    ("ΟΔΟΣ ΣΟΣΟΣ.", ["οδος", "σοσος", "."]),  # final ς (U+03C2), inner σ
    (
        "\u0391\u03a3\u0301 \u0391\u03a3\u0301\u0391 \u03a3 \u0391\u03a3\u03a3",
        ["\u03b1\u03c2\u0301", "\u03b1\u03c3\u0301\u03b1", "\u03c3", "\u03b1\u03c3\u03c2"],
    ),
    ("\u0391\u03a3'\u0391 \u0391\u03a3\u00ad", ["\u03b1\u03c3'\u03b1", "\u03b1\u03c2"]),
    ("\u2c2f\U00010570x", ["\u2c2f\U00010570x"]),  # capitals ICU 13 does not know
    ("\U00010400BC \u212a", ["\U00010428bc", "k"]),  # Deseret, Kelvin sign
    # format characters removed, spaces and controls split, symbols alone
    ("x\u200dy \u200bz\ufeff", ["xy", "z"]),
    ("a\u2028b\u2029c\u3000d\u202fe\u1680f\u0085g\x7fh", ["a", "b", "c", "d", "e", "f", "g", "h"]),
    ("tab\tvt\x0bff\x0ccr\rnl\nend", ["tab", "vt", "ff", "cr", "nl", "end"]),
    # emoji (a skin tone is a modifier symbol), CJK, digits of other scripts, numerals
    ("\U0001f600\U0001f44d\U0001f3fbok!", ["\U0001f600", "\U0001f44d", "\U0001f3fb", "ok", "!"]),
    ("\u4e2d\u6587\u3002\u65e5\u672c", ["\u4e2d\u6587", "\u3002", "\u65e5\u672c"]),
    ("\u0661\u0662\u0663 \u00bd \u2167", ["\u0661\u0662\u0663", "\u00bd", "\u2177"]),
    ("\U00011f00\U00011f04 \U00031350", ["\U00011f00\U00011f04", "\U00031350"]),  # new in Unicode 15
    ("\ue000\U0010fffd\ufffe", ["\ue000", "\U0010fffd", "\ufffe"]),  # private use, non-character
    # <br> tags: only RE2's \s ([\t\n\f\r ]) inside them
    ("a<BR/>b<br\t\n/>c<Br >d", ["a", "b", "c", "d"]),
    ("a<br\x0b>b", ["a", "<", "br", ">", "b"]),
    ("<b\u00adr>x", ["<", "br", ">", "x"]),  # the soft hyphen goes only after the tag rule
    ("\x00\x00 \x01", []),
]


@pytest.mark.parametrize("text, tokens", IMDB_CASES + TRICKY_CASES)
def test_tokenize(text, tokens):
    assert tokenize(text) == tokens


def test_tokenize_batch():
    texts = [text for text, _ in IMDB_CASES]
    assert tokenize_batch(texts) == [tokens for _, tokens in IMDB_CASES]
    assert tokenize_batch(iter(texts[:2])) == [tokenize(texts[0]), tokenize(texts[1])]
    assert tokenize_batch([]) == []


@pytest.mark.parametrize("bad", [b"bytes", None, 3])
def test_type_errors(bad):
    with pytest.raises(TypeError, match="expected text as str"):
        tokenize(bad)
    with pytest.raises(TypeError, match="expected text as str"):
        tokenize_batch(["fine", bad])
    with pytest.raises(TypeError, match="not a single string"):
        tokenize_batch("a string")


def test_lone_surrogate_cannot_be_encoded():
    with pytest.raises(UnicodeEncodeError):
        tokenize("ok \ud800 ok")


def test_tables_parse():
    assert tokenizer._parse_lower("0100-0104/2+1 0041+32 1E9E-7615") == {
        0x100: 0x101, 0x102: 0x103, 0x104: 0x105, 0x41: 0x61, 0x1E9E: 0xDF
    }
    assert tokenizer._parse_ranges("0041-0043 00AA") == [(0x41, 0x43), (0xAA, 0xAA)]
    assert tokenizer._format_ranges([0x41, 0x42, 0x43, 0xAA]) == "0041-0043 00AA"


# --------------------------------------------------------- the same as TensorFlow


def _tokenize_batch(texts):
    import tensorflow as tf

    ragged = tokenize_tensor(tf.constant(list(texts), dtype=tf.string))
    return [[token.decode("utf-8") for token in row] for row in ragged.to_list()]


@pytest.fixture(scope="module")
def tf_tokenize_batch():
    """The TensorFlow reference, where TensorFlow is installed."""
    pytest.importorskip("tensorflow")

    return _tokenize_batch


def tf_joined_tokens(texts: list[str]) -> list[str]:
    """Each text's TensorFlow tokens joined by spaces (faster than lists of tokens)."""
    import tensorflow as tf

    joined = tf.strings.reduce_join(tokenize_tensor(tf.constant(texts)), axis=-1, separator=" ")
    return [t.decode("utf-8") for t in joined.numpy().tolist()]


def assert_same_as_tensorflow(texts: list[str], expected: list[str]):
    ours = [" ".join(tokens) for tokens in tokenize_batch(texts)]
    for text, got, want in zip(texts, ours, expected):
        if got != want:  # show the first difference, not two huge strings
            i = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            raise AssertionError(
                f"tokens differ at character {i} of the joined tokens of a text of {len(text)} "
                f"characters: ours {got[max(0, i - 30) : i + 30]!r}, TensorFlow's "
                f"{want[max(0, i - 30) : i + 30]!r}"
            )
    assert len(ours) == len(expected)


def test_same_as_tensorflow_on_cases(tf_tokenize_batch):
    texts = [text for text, _ in IMDB_CASES + TRICKY_CASES]
    assert tokenize_batch(texts) == tf_tokenize_batch(texts)


# What ICU lower-cases otherwise under a Turkish, Azeri or Lithuanian locale than under the root one.
LOCALE_TEXTS = ["IT WAS GREAT", "İSTANBUL I\u0307I", "JÌ Í Ĩ Į\u0300 I\u0300 J\u0301", "ISIK ıi İi"]


@pytest.mark.parametrize("locale", ["tr_TR.UTF-8", "az_AZ.UTF-8", "lt_LT.UTF-8"])
def test_same_as_tensorflow_under_any_locale(tf_tokenize_batch, locale):
    """ICU reads its locale once per process, from the environment: a process of its own."""
    code = ("import json, sys, tensorflow as tf; from attention.serving import tokenize_tensor; "
            "rows = tokenize_tensor(tf.constant(json.loads(sys.argv[1]))).to_list(); "
            "print(json.dumps([[t.decode('utf-8') for t in row] for row in rows]))")
    env = {**os.environ, "LC_ALL": locale, "LANG": locale}
    result = subprocess.run([sys.executable, "-c", code, json.dumps(LOCALE_TEXTS)], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == tokenize_batch(LOCALE_TEXTS)


def test_same_as_tensorflow_on_lone_surrogates(tf_tokenize_batch):
    with pytest.raises(ValueError):
        tf_tokenize_batch(["ok \ud800 ok"])
    with pytest.raises(ValueError):
        tokenize_batch(["ok \ud800 ok"])


def random_texts(n: int, seed: int = 0) -> list[str]:
    """Texts mixing code points of every general category with the tokeniser's specials."""
    rng = random.Random(seed)
    by_category: dict[str, list[str]] = {}
    for c in map(chr, ALL_CODE_POINTS):
        by_category.setdefault(unicodedata.category(c), []).append(c)
    categories = sorted(by_category)
    specials = ["'", "''", "\u2019", "\u2018", " ", "  ", "\t", "\x00", "\x0b", "\xa0", "<br />"]
    specials += ["<BR/>", "<br\x0b>", "\u03a3", "\u0130", "I", "\u00ad", "\u200d", "\u0301", "\u0345"]
    specials += ["\U0001f600", "\U00010570"]
    words = ["a", "Word", "ΟΔΟΣ", "don't", "x'y'z", "42", "é", "日本", "Σ", "ς"]
    texts = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(0, 24)):
            roll = rng.random()
            if roll < 0.4:
                parts.append(rng.choice(by_category[rng.choice(categories)]))
            elif roll < 0.7:
                parts.append(rng.choice(specials))
            else:
                parts.append(rng.choice(words))
        texts.append("".join(parts))
    return texts


def test_random_texts_cover_every_category():
    texts = random_texts(3000)
    seen = {unicodedata.category(c) for text in texts for c in text}
    every = "Lu Ll Lt Lm Lo Mn Mc Me Nd Nl No Pc Pd Ps Pe Pi Pf Po Sm Sc Sk So Zs Zl Zp Cc Cf Co Cn"
    assert seen == set(every.split())


def test_same_as_tensorflow_on_random_texts(tf_tokenize_batch):
    texts = random_texts(3000)
    assert tokenize_batch(texts) == tf_tokenize_batch(texts)


@pytest.mark.parametrize(
    "first, last",
    [(0x1, 0xFFFF), pytest.param(0x10000, 0x10FFFF, marks=pytest.mark.slow, id="astral")],
    ids=["bmp", "astral"],
)
def test_same_as_tensorflow_for_every_code_point_in_context(tf_tokenize_batch, first, last):
    """Every code point after a word, inside a <br> tag, around apostrophes and sigmas."""
    chars = [chr(c) for c in ALL_CODE_POINTS if first <= c <= last]
    pieces = [f"A{c}'b x'{c}{c} <br{c}/> \u0391\u03a3{c}\u03b1 {c}\u03a3" for c in chars]
    texts = [" ".join(pieces[i : i + 4096]) for i in range(0, len(pieces), 4096)]
    assert_same_as_tensorflow(texts, tf_joined_tokens(texts))


def assert_same_code_points(measured: set[int], ours: set[int], what: str):
    assert measured == ours, (
        f"{what}: TensorFlow's only: {tokenizer._format_ranges(measured - ours) or '-'}; "
        f"the module's only: {tokenizer._format_ranges(ours - measured) or '-'}"
    )


def test_tables_match_tensorflow(tf_tokenize_batch):
    """The module's tables, measured again on every code point with this TensorFlow."""
    import tensorflow as tf

    def kept(pattern: str) -> set[int]:  # the code points that RE2 does not remove
        every = "".join(map(chr, ALL_CODE_POINTS))
        return set(map(ord, tf.strings.regex_replace(every, pattern, "").numpy().decode("utf-8")))

    chars = [chr(c) for c in ALL_CODE_POINTS if c != 1]

    def lower_each(template: str) -> list[str]:
        # U+0001 (neither cased nor case-ignorable, unchanged) ends each context.
        text = "\x01".join(template.format(c) for c in chars)
        return tf.strings.lower(text, encoding="utf-8").numpy().decode("utf-8").split("\x01")

    def table(name: str) -> set[int]:
        return set(tokenizer._expand(tokenizer._parse_ranges(getattr(tokenizer, name))))

    assert_same_code_points(kept(r"[^\pL\pN\pM]"), table("_WORD"), "word characters")
    assert_same_code_points(kept(r"\P{Cf}"), table("_FORMAT"), "format characters")

    tables = tokenizer._tables()
    measured = {ord(c): lower for c, lower in zip(chars, lower_each("{}")) if lower != c}
    assert_same_code_points(set(measured), set(tables.lower_mapping), "code points lower-cased")
    assert {c: lower for c, lower in measured.items() if tables.lower_mapping[c] != lower} == {}

    # Final_Sigma: "ΑΣc" keeps σ if c is cased and not case-ignorable, "ΑΣcΑ" if either.
    cased_only = [t[1] == "\u03c3" for t in lower_each("\u0391\u03a3{}")]
    either = [t[1] == "\u03c3" for t in lower_each("\u0391\u03a3{}\u0391")]
    cased = {ord(c) for c, yes in zip(chars, cased_only) if yes}
    ignorable = {ord(c) for c, yes, no in zip(chars, either, cased_only) if yes and not no}
    assert_same_code_points(cased, set(tables.cased), "cased, not case-ignorable")
    assert_same_code_points(ignorable, set(tables.case_ignorable), "case-ignorable")


@pytest.mark.slow
@pytest.mark.skipif(not REAL_ARCHIVE.is_file(), reason=f"the real IMDB archive is not at {REAL_ARCHIVE}")
def test_real_reviews_match_tensorflow(tf_tokenize_batch):
    texts = []
    with tarfile.open(REAL_ARCHIVE) as tar:
        for member in tar:
            parts = member.name.split("/")  # aclImdb/SPLIT/LABEL/ID_RATING.txt
            if member.isfile() and len(parts) == 4 and parts[1] in SPLITS and parts[2] in LABELS:
                texts.append(tar.extractfile(member).read().decode("utf-8", "replace"))
    assert len(texts) == 50000
    assert sum(not text.isascii() for text in texts) > 1000  # the non-ASCII path too
    assert_same_as_tensorflow(texts, tf_joined_tokens(texts))

"""Classifies texts with a model trained by train_imdb.py or train_text.py.

Prints, for each text, a tab-separated line: its number, a probability (two
classes: the second's, IMDB's P(positive); more: the predicted class's), the
predicted class and the text; then, with more than two classes, every class's
probability; then the words the model attended to most. With `--format jsonl`,
one JSON object a text instead, for other programs: its `number`, `text`,
`predicted` class, every class's `probabilities` and its `top_words` (each a
`word` as the model saw it, its `weight` and its `position` among those words).
Texts come from the arguments, from a table (`--input`: CSV or TSV with a
header row, or JSON Lines, each optionally .gz; the texts in `--text-column`,
which may span lines; other columns are ignored, but for `--id-column`) or,
when neither is given, one per line from standard input (blank lines are
skipped). A table and standard input are read and answered 1,024 texts at a
time (standard input a line at a time from a terminal), so that memory stays
that of a chunk.
Answers are numbered in the order of the texts: a table's rows, blank rows
(nothing in any field) skipped. With `--id-column`, each answer of a table
carries that column's value, as text, in place of its number (and as `id`
beside it in JSON), to join the answers back to the rows.

    python -m attention.predict --model logdir/RUN/model.keras "A great film." "Dull."
    python -m attention.predict --model logdir/RUN/model.keras < reviews.txt
    python -m attention.predict --model logdir/RUN/model.keras --format jsonl < reviews.txt > answers.jsonl
    python -m attention.predict --model logdir/RUN/model.keras --input tickets.csv --text-column body --format jsonl
    python -m attention.predict --model logdir/RUN/model.keras --input testData.tsv --text-column review --id-column id
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, TextIO, TypeVar

from attention.arguments import (
    HelpFormatter, add_model_argument, clean_exit, load_model_argument, nonempty_path, positive_int,
)
from attention.atomic import finite_json
from attention.data.errors import DatasetError
from attention.data.sources.records import place
from attention.data.sources.tables import table_rows
from attention.trained import TextError, encode_texts, shorten
from attention.visualize import Attention, attend, attention_scorer, top_words, top_words_json


# Standard input is classified this many lines at a time: the first answers come
# before the input ends, and memory stays that of one chunk however long it is.
CHUNK_TEXTS = 1024


def read_lines(stream: BinaryIO | TextIO) -> Iterator[tuple[str, int]]:
    """The non-blank lines of a stream, stripped, with their numbers, as they are read; bytes are read
    as UTF-8, and a byte-order mark before the first line is dropped.

    Raises:
        ValueError: A line is not UTF-8 text; the message gives its number.
    """
    for number, raw in enumerate(stream, start=1):
        try:
            line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            raise ValueError(f"line {number} of standard input is not UTF-8 text") from None
        line = (line.removeprefix("\ufeff") if number == 1 else line).strip()
        if line:
            yield line, number


T = TypeVar("T")


def chunks(texts: Iterable[T], size: int) -> Iterator[list[T]]:
    """`texts` in lists of `size`, the last one shorter.

    A `ValueError` while reading them (a line that is not UTF-8, a broken table row)
    comes after the texts read before it, as a shorter chunk.
    """
    texts = iter(texts)
    while True:
        chunk = []
        try:
            chunk.extend(itertools.islice(texts, size))
        except ValueError:
            if chunk:
                yield chunk
            raise
        if not chunk:
            return
        yield chunk


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m attention.predict``."""
    parser = argparse.ArgumentParser(
        prog="python -m attention.predict",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    add_model_argument(parser)
    parser.add_argument("--top-k", type=positive_int, default=10, help="how many of the most attended words to print (default: 10)")
    parser.add_argument("--format", choices=["text", "jsonl"], default="text",
                        help="tab-separated lines to read, or a JSON object a line for programs (default: text)")
    parser.add_argument("--input", metavar="FILE", type=nonempty_path,
                        help="classify the texts of this table: .csv, .tsv or .jsonl, each optionally .gz")
    parser.add_argument("--text-column", help="the column (CSV, TSV) or field (JSON Lines) of --input's texts (default: text)")
    parser.add_argument("--id-column", help="a column (field) of --input whose value each answer carries in place of "
                                            "its number, to join the answers back to the rows")
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify (default: lines of standard input)")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Runs the command line; errors end the process with status 2 and one line on stderr, Ctrl-C with 130."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with clean_exit(parser):
        answer(parser, args)


def answer(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Answers for the texts `args` names (the module's docstring), a chunk at a time."""
    fail = lambda error: parser.exit(2, f"{parser.prog}: error: {error}\n")  # noqa: E731
    if args.input is not None and args.texts:
        fail("pass texts as arguments or --input, not both")
    for option in ("text_column", "id_column"):
        if getattr(args, option) is not None and args.input is None:
            fail(f"--{option.replace('_', '-')} names a column of --input, which is not given")
    # A table that cannot be opened, or lacks the column, is found before the model loads;
    # its rows are read a chunk at a time, as standard input's lines.
    rows = None
    if args.input is not None:
        try:
            # The id is read as a label is: a string, a JSON integer written as it was.
            rows = table_rows(Path(args.input), args.text_column or "text", label_column=args.id_column,
                              label_option="--id-column")
        except DatasetError as error:
            fail(error)
    model, vocabulary = load_model_argument(parser, args.model)
    # Arguments are taken as given (an empty one is an error), but the blank
    # lines of a file are just layout. Standard input is read once the model is
    # loaded, so that from a terminal each line is answered as it is typed.
    # Each text comes with where it lies, for errors (a table's line), and its id.
    if rows is not None:
        texts, size = ((text, (place(args.input, line), key)) for text, key, line in rows), CHUNK_TEXTS
    elif args.texts:
        texts, size = ((text, (None, None)) for text in args.texts), len(args.texts)
    else:
        lines = read_lines(getattr(sys.stdin, "buffer", sys.stdin))
        texts = ((text, (place("standard input", number), None)) for text, number in lines)
        size = 1 if sys.stdin.isatty() else CHUNK_TEXTS
    pieces, done, scorer = chunks(texts, size), 0, attention_scorer(model)
    # A line that is not UTF-8, or a text the model cannot read, ends the run after the
    # answers to the texts before it.
    while True:
        try:
            chunk = next(pieces, None)
        except ValueError as error:
            fail(error)
        if chunk is None:
            break
        keys = [key for _, (_, key) in chunk] if args.id_column is not None else None
        chunk, places = [text for text, _ in chunk], [where for _, (where, _) in chunk]
        where = None if args.texts else places.__getitem__
        try:
            ids, error = encode_texts(model, vocabulary, chunk, first=done + 1, where=where), None
        except TextError as bad:  # the texts before it are answered first
            chunk, error = chunk[: bad.index], bad
            ids = encode_texts(model, vocabulary, chunk, first=done + 1, where=where) if chunk else None
        if chunk:
            items = attend(model, vocabulary, ids, progress=True, scorer=scorer)
            print_answers(chunk, items, done + 1, args.top_k, as_json=args.format == "jsonl", ids=keys)
            done += len(chunk)
        if error is not None:
            fail(error)
    if not done:
        fail(f"{args.input}: no texts" if rows is not None else
             "no text given: pass texts as arguments or one per line on standard input")


def print_answers(texts: list[str], items: list[Attention], first: int, top_k: int, as_json: bool = False,
                  ids: list[str] | None = None) -> None:
    """Prints the lines of each text's answer (the module's docstring), numbering from `first`;
    `ids`, each text's id, go in place of the numbers (and beside them in JSON)."""
    for index, (text, item) in enumerate(zip(texts, items)):
        number = first + index
        if as_json:
            probabilities = {c: float(p) for c, p in zip(item.classes, item.probabilities)}
            answer = {"number": number, **({"id": ids[index]} if ids is not None else {}), "text": text,
                      "predicted": item.predicted, "probabilities": probabilities,
                      "top_words": top_words_json(item, top_k)}
            print(json.dumps(finite_json(answer), ensure_ascii=False, allow_nan=False))  # NaN is no JSON: null
            continue
        words = ", ".join(f"{word} {weight:.3f}" for _, word, weight in top_words(item, top_k))
        echo = shorten(text, 80)
        key = number if ids is None else " ".join(ids[index].split())  # one field of one line
        print(f"{key}\t{item.probability:.4f}\t{item.predicted}\t{echo}")
        if len(item.classes) > 2:
            print("\tprobabilities: " + ", ".join(f"{c} {p:.4f}" for c, p in zip(item.classes, item.probabilities)))
        print(f"\ttop words: {words}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

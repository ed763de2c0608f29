"""Classifies texts with a model trained by train_imdb.py or train_text.py.

Prints, for each text, a tab-separated line: its number, a probability (two
classes: the second's, IMDB's P(positive); more: the predicted class's), the
predicted class and the text; then, with more than two classes, every class's
probability; then the words the model attended to most. Texts come from the
arguments or, when none are given, one per line from standard input (blank
lines are skipped):

    python -m attention.predict --model logdir/RUN/model.keras "A great film." "Dull."
    python -m attention.predict --model logdir/RUN/model.keras < reviews.txt
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import BinaryIO, TextIO

from attention.arguments import positive_int
from attention.backends import cache_compiled_programs
from attention.trained import ModelFileError, encode_texts, load_trained
from attention.visualize import attend, top_words


def read_lines(stream: BinaryIO | TextIO) -> list[str]:
    """The non-blank lines of a stream, stripped; bytes are read as UTF-8.

    Raises:
        ValueError: A line is not UTF-8 text; the message gives its number.
    """
    lines = []
    for number, raw in enumerate(stream, start=1):
        try:
            line = (raw.decode("utf-8") if isinstance(raw, bytes) else raw).strip()
        except UnicodeDecodeError:
            raise ValueError(f"line {number} of standard input is not UTF-8 text") from None
        if line:
            lines.append(line)
    return lines


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m attention.predict``."""
    parser = argparse.ArgumentParser(
        prog="python -m attention.predict",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="the .keras file saved by a training script (its vocabulary lies beside it)")
    parser.add_argument("--top-k", type=positive_int, default=10, help="how many of the most attended words to print (default: 10)")
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify (default: lines of standard input)")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Runs the command line; errors end the process with status 2 and one line on stderr."""
    parser = build_parser()
    args = parser.parse_args(argv)
    fail = lambda error: parser.exit(2, f"{parser.prog}: error: {error}\n")  # noqa: E731
    cache_compiled_programs()
    # Arguments are taken as given (an empty one is an error), but the blank
    # lines of a file are just layout.
    try:
        texts = args.texts if args.texts else read_lines(getattr(sys.stdin, "buffer", sys.stdin))
    except ValueError as error:
        fail(error)
    if not texts:
        fail("no text given: pass texts as arguments or one per line on standard input")
    try:
        model, vocabulary = load_trained(args.model)
    except ModelFileError as error:
        fail(error)
    try:
        ids = encode_texts(model, vocabulary, texts)
    except ValueError as error:
        fail(error)

    for number, (text, item) in enumerate(zip(texts, attend(model, vocabulary, ids, progress=True)), start=1):
        words = ", ".join(f"{word} {weight:.3f}" for _, word, weight in top_words(item, args.top_k))
        echo = textwrap.shorten(" ".join(text.split()), width=80, placeholder="...")
        print(f"{number}\t{item.probability:.4f}\t{item.predicted}\t{echo}")
        if len(item.classes) > 2:
            print("\tprobabilities: " + ", ".join(f"{c} {p:.4f}" for c, p in zip(item.classes, item.probabilities)))
        print(f"\ttop words: {words}")


if __name__ == "__main__":
    main()

"""Shows what a model trained by train_imdb.py or train_text.py attends to, word by word.

A port of the original visualize.py: writes an HTML page (visualization.html)
with each word of test reviews, or of any text, highlighted by its attention
weight, with the predicted probabilities of its classes; or, with
--format text, prints the words, their weights and the most attended ones.
"""

import argparse
from pathlib import Path

from attention.arguments import (
    HelpFormatter, add_model_argument, add_validation_data_arguments, check_writable, clean_exit,
    load_model_argument, load_validation_argument, non_negative_int, nonempty_path, positive_int,
)
from attention.atomic import atomic_path
from attention.trained import encode_texts, model_file
from attention.visualize import attend, render_html, render_text

TOP_K = 10  # the most attended words --format text lists

parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
add_model_argument(parser)
source = parser.add_mutually_exclusive_group()
source.add_argument("--index", type=non_negative_int, nargs="+", metavar="N", help="validation (IMDB: test) texts to show (default: 0, as the original)")
source.add_argument("--text", action="append", help="a text to show instead of test reviews (repeat for several)")
add_validation_data_arguments(parser)
parser.add_argument("--format", choices=["html", "text"], default="html", help="an HTML page, or text on the terminal")
parser.add_argument("--output", type=nonempty_path, help="where to write the HTML page (default: visualization.html)")
parser.add_argument("--title", help="the page's title (default: 'Attention of RUN/model.keras')")
parser.add_argument("--top-k", type=positive_int, help=f"most attended words listed by --format text (default: {TOP_K})")


def main(argv: list[str] | None = None) -> None:
    args = parser.parse_args(argv)
    fail = lambda error: parser.exit(2, f"{parser.prog}: error: {error}\n")  # noqa: E731
    if args.text is not None and (args.data is not None or args.cache_dir is not None):
        fail("--data and --cache-dir find the run's validation texts, which --text replaces: pass one or the other")
    if args.format == "text" and (args.output is not None or args.title is not None):
        fail("--output and --title are the HTML page's; --format text prints to the terminal")
    if args.format == "html" and args.top_k is not None:
        fail("--top-k is --format text's list; the HTML page shows every word's weight")
    output = args.output or "visualization.html"
    if args.format == "html" and (problem := check_writable(output)):
        fail(f"--output: {problem}")  # before the model loads
    with clean_exit(parser):
        model, vocabulary = load_model_argument(parser, args.model)

        if args.text is not None:
            try:
                ids = encode_texts(model, vocabulary, args.text)
            except ValueError as error:
                fail(error)
            captions, labels = [f"Text {n}" for n in range(1, len(args.text) + 1)], None
        else:
            indices = args.index or [0]
            ids, labels, config = load_validation_argument(parser, args, model, vocabulary, indices)
            noun = "Validation text" if config.get("script") == "train_text" else "Test review"
            captions = [f"{noun} {i}" for i in indices]

        items = attend(model, vocabulary, ids)
        if args.format == "text":
            print(render_text(items, args.top_k or TOP_K, captions, labels))
            return
        model_path = model_file(args.model)
        title = args.title or f"Attention of {Path(model_path.parent.name, model_path.name).as_posix()}"
        page = render_html(items, title=title, captions=captions, labels=labels)
        try:
            with atomic_path(output) as tmp:
                tmp.write_text(page, encoding="utf-8")
        except OSError as error:
            fail(f"cannot write --output {output!r}: {error.strerror or error}")
        print(f"Wrote the attention of {len(items)} text(s) to {output}")


if __name__ == "__main__":
    main()

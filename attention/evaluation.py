"""How well a trained classifier does on held-out texts: per-class scores and a confusion matrix.

As a command, scores a model trained by train_imdb.py or train_text.py on
labelled texts: each class's precision, recall and F1, the accuracy, the
macro-F1 and the confusion matrix, printed (and written as JSON with
`--output`). Without `--test-data` it scores the run's own validation texts,
read as its training read them (the report the training printed). With it, it
scores new texts in any form train_text.py's `--data` takes (their `test/`
split, if they have one), labelled with the model's class names; a model of
train_imdb.py also reads IMDB's `neg` and `pos` folders and the labels 0 and 1.
`--errors K` also shows the K misclassified texts the model was surest of, with
the words it attended to most:

    python -m attention.evaluation --model logdir/RUN/model.keras --errors 5
    python -m attention.evaluation --model logdir/RUN --test-data next_month.csv --text-column body --label-column queue
    python -m attention.evaluation --model logdir/RUN --test-data aclImdb_v1.tar.gz --output report.json
"""

from __future__ import annotations

import argparse
import unicodedata
from collections.abc import Sequence

import keras
import numpy as np

from attention import defaults
from attention.arguments import (
    HelpFormatter, add_model_argument, add_validation_data_arguments, check_writable, clean_exit, load_model_argument,
    load_validation_argument, non_negative_int, nonempty_path, positive_int,
)
from attention.atomic import write_json
from attention.callbacks import TqdmProgress
from attention.data.errors import DatasetError
from attention.data.labelled import held_out_texts
from attention.data.sources import Records, open_source
from attention.interrupts import KeepInterrupts
from attention.model import class_probabilities
from attention.pipeline import batch_indices, make_dataset, num_batches, sequence_lengths
from attention.trained import embedding_rows, run_config, shorten
from attention.visualize import Attention, attend, top_words_json
from attention.vocabulary import BINARY_CLASSES, Vocabulary

# The names IMDB gives train_imdb.py's two classes elsewhere: the archive's class
# folders and Keras's labels.
IMDB_LABELS = {"neg": "negative", "pos": "positive", "0": "negative", "1": "positive"}


def predict_probabilities(
    model: keras.Model, x: np.ndarray, batch_size: int, callbacks: Sequence[keras.callbacks.Callback] = ()
) -> np.ndarray:
    """Each class's probability for padded word ids, `(samples, classes)`, in the order of `x`.

    Batched by similar length with the padding trimmed, through the training
    pipeline (one traced function for every width): the same results as
    full-width batches, in less time. `callbacks` go to `model.predict`.
    """
    x = np.asarray(x, dtype="int32")
    with KeepInterrupts() as keep:
        logits = model.predict(make_dataset(x, np.zeros(len(x)), batch_size, shuffle=False, bucketing=True),
                               verbose=0, callbacks=[*callbacks, keep])[: len(x)]  # a filled last batch's copies come last
    # Without shuffling the batches' order is fixed: put each prediction back in its row.
    order = np.concatenate(batch_indices(sequence_lengths(x), batch_size, False, True, np.random.default_rng(0)))
    in_order = np.empty_like(logits)
    in_order[order] = logits
    return class_probabilities(in_order)


def evaluate(model: keras.Model, x: np.ndarray, y: Sequence[int], classes: Sequence[str], batch_size: int,
             callbacks: Sequence[keras.callbacks.Callback] = ()) -> dict:
    """The `classification_report` of the model's predictions for padded word ids `x` with labels `y`."""
    return classification_report(y, predict_probabilities(model, x, batch_size, callbacks).argmax(axis=1), classes)


def classification_report(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str]) -> dict:
    """Accuracy, each class's precision, recall, F1 and support, macro-F1 and the confusion matrix.

    A class never predicted has precision 0, one never present recall 0 (and F1 0), as
    scikit-learn reports them with ``zero_division=0`` and every class as ``labels``.

    Returns:
        A JSON-ready dict; ``confusion_matrix[i][j]`` counts texts of class ``i``
        predicted as class ``j``.
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    n = len(classes)
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    hits, support, predicted = np.diag(confusion), confusion.sum(axis=1), confusion.sum(axis=0)
    precision = np.divide(hits, predicted, out=np.zeros(n), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros(n), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(n), where=total > 0)
    return {
        "accuracy": float(hits.sum() / max(len(y_true), 1)),
        "macro_f1": float(f1.mean()),
        "classes": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(classes, precision, recall, f1, support)
        },
        "confusion_matrix": confusion.tolist(),
    }


def format_report(report: dict) -> str:
    """The report as a table for the console."""
    names = list(report["classes"])
    width = max(9, *(display_width(name) for name in names))
    lines = [f"{'class':<{width}}  precision  recall     f1  support"]
    for name, scores in report["classes"].items():
        lines.append(f"{name}{' ' * (width - display_width(name))}  {scores['precision']:9.3f}  "
                     f"{scores['recall']:6.3f}  {scores['f1']:5.3f}  {scores['support']:7d}")
    lines.append(f"accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}")
    lines.append("confusion matrix (rows: true class, columns: predicted, in the order above):")
    cell = max(len(str(v)) for row in report["confusion_matrix"] for v in row)
    lines += ["  " + " ".join(f"{v:>{cell}}" for v in row) for row in report["confusion_matrix"]]
    return "\n".join(lines)


def display_width(text: str) -> int:
    """The columns a text takes in a terminal: two for wide (Chinese, Japanese) characters, none for combining marks."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def confusion_image(confusion: Sequence[Sequence[int]], cell: int = 24) -> np.ndarray:
    """The confusion matrix as an RGB image for TensorBoard: rows true, columns predicted.

    Each cell is blue in proportion to its share of its row (the class's texts),
    so the diagonal shows each class's recall whatever the class sizes.

    Returns:
        A uint8 array `(classes * cell, classes * cell, 3)`.
    """
    counts = np.asarray(confusion, dtype="float64")
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    white, blue = np.array([255.0, 255.0, 255.0]), np.array([31.0, 119.0, 180.0])
    image = white * (1.0 - share[..., None]) + blue * share[..., None]
    image = np.repeat(np.repeat(image, cell, axis=0), cell, axis=1)
    image[cell - 1 :: cell, :] = image[:, cell - 1 :: cell] = 200.0  # grid lines between cells
    return np.round(image).astype("uint8")


def confident_errors(model: keras.Model, vocabulary: Vocabulary, x: np.ndarray, y: Sequence[int],
                     probabilities: np.ndarray, k: int) -> list[tuple[int, Attention]]:
    """The `k` misclassified texts the model was surest of, surest first: `(row, what it made of the text)`."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != np.asarray(y))
    wrong = wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")][:k]
    return list(zip(wrong.tolist(), attend(model, vocabulary, x[wrong])))


def format_errors(errors: list[dict]) -> str:
    """The misclassified texts of `attention.evaluation --errors`, for the console."""
    if not errors:
        return "No text misclassified."
    lines = ["The misclassified text the model was surest of:" if len(errors) == 1 else
             f"The {len(errors)} misclassified texts the model was surest of:"]
    for n, error in enumerate(errors, start=1):
        words = ", ".join(f"{w['word']} {w['weight']:.3f}" for w in error["top_words"])
        lines += [f"{n}. {error['where']}: {error['true']}, predicted {error['predicted']} ({error['probability']:.4f})",
                  f"\ttop words: {words}",
                  "\t" + shorten(error["text"], 100)]
    return "\n".join(lines)


def encode_labelled(model: keras.Model, vocabulary: Vocabulary, records: Records) -> tuple[np.ndarray, np.ndarray]:
    """Labelled texts as the model reads them: padded word ids, and each label's class index.

    Texts are encoded as the training encoded its validation texts (a text of
    unknown words is read as such, not refused).

    Raises:
        DatasetError: A text is empty, or a label is none of the model's classes;
            the message says where.
    """
    if vocabulary.word_index is None:
        raise DatasetError("the model's vocabulary has no word index (its data had none), so text cannot be encoded")
    classes = vocabulary.class_names
    index = {name: i for i, name in enumerate(classes)}
    if classes == list(BINARY_CLASSES):
        index = {**{alias: index[name] for alias, name in IMDB_LABELS.items()}, **index}
    for i, (text, label) in enumerate(zip(records.texts, records.labels)):
        if not text.strip():
            raise DatasetError(f"{records.where(i)}: the text is empty.")
        if label not in index:
            raise DatasetError(f"{records.where(i)}: the label {label!r} is not one of the model's classes "
                               f"({', '.join(classes)}).")
    if not len(records):
        raise DatasetError(f"{records.origin}: no texts.")
    labels = np.array([index[label] for label in records.labels], dtype=np.int64)
    return vocabulary.encode(records.texts, embedding_rows(model)), labels


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m attention.evaluation``."""
    parser = argparse.ArgumentParser(prog="python -m attention.evaluation", description=__doc__,
                                     formatter_class=HelpFormatter)
    add_model_argument(parser)
    parser.add_argument("--test-data", type=nonempty_path, help="labelled texts to score: a folder of class folders, a .tar.gz of one, "
                        "or a .csv, .tsv or .jsonl file (optionally .gz) (default: the run's validation texts)")
    parser.add_argument("--text-column",
                        help="the text's column (CSV, TSV) or field (JSON Lines) of --test-data (default: text)")
    parser.add_argument("--label-column",
                        help="the label's column (CSV, TSV) or field (JSON Lines) of --test-data (default: label)")
    add_validation_data_arguments(parser)
    parser.add_argument("--batch-size", type=positive_int,
                        help=f"texts per batch (default: the training's, else {defaults.BATCH_SIZE})")
    parser.add_argument("--errors", type=non_negative_int, default=0, metavar="K",
                        help="also show the K misclassified texts the model was surest of, with the words it attended to")
    parser.add_argument("--output", type=nonempty_path, help="also write the report to this JSON file")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Runs the command line; errors end the process with status 2 and one line on stderr, Ctrl-C with 130."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with clean_exit(parser):
        evaluation_command(parser, args)


def evaluation_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Scores the model `args` names, prints its report (and its surest errors) and writes it to `--output`."""
    fail = lambda error: parser.exit(2, f"{parser.prog}: error: {error}\n")  # noqa: E731
    if args.test_data is not None and (args.data is not None or args.cache_dir is not None):
        fail("--data and --cache-dir find the run's own validation texts, --test-data gives others: pass one "
             "or the other")
    if args.test_data is None and (args.text_column or args.label_column):
        fail("--text-column and --label-column name the columns of --test-data; the run's own texts are read "
             "with the columns its training recorded")
    if args.output and (problem := check_writable(args.output)):
        fail(f"--output: {problem}")
    model, vocabulary = load_model_argument(parser, args.model)
    if args.test_data is not None:
        try:
            source = open_source(args.test_data, text_column=args.text_column or "text",
                                 label_column=args.label_column or "label")
            records = held_out_texts(source)
            x, y = encode_labelled(model, vocabulary, records)
        except DatasetError as error:
            fail(error)
        what = records.origin

        def place(row: int, item: Attention) -> tuple[str, str]:
            return records.where(row), records.texts[row]
    else:
        x, y, config = load_validation_argument(parser, args, model, vocabulary)
        what = "the run's validation texts"
        # As visualize_attention.py --index names them, which shows the same text.
        noun = "validation text" if config.get("script") == "train_text" else "test review"

        def place(row: int, item: Attention) -> tuple[str, str]:
            return f"{noun} {row}", " ".join(item.words)
    classes = vocabulary.class_names
    batch_size = args.batch_size or run_config(args.model).get("batch_size") or defaults.BATCH_SIZE
    progress = TqdmProgress(0, num_batches(len(x), batch_size), report=f"scoring {len(x)} texts")
    probabilities = predict_probabilities(model, x, batch_size, [progress])
    report = classification_report(y, probabilities.argmax(axis=1), classes)
    print(f"{args.model} on {len(x)} texts of {what}:")
    print(format_report(report))
    errors = []
    for row, item in confident_errors(model, vocabulary, x, y, probabilities, args.errors):
        where, text = place(row, item)
        errors.append({"where": where, "true": classes[y[row]], "predicted": classes[probabilities[row].argmax()],
                       "probability": float(probabilities[row].max()), "top_words": top_words_json(item, 5),
                       "text": text})
    if args.errors:
        print("\n" + format_errors(errors))
    if args.output:
        result = {"model": args.model, "test_data": args.test_data, "texts": len(x), "report": report}
        write_json(args.output, {**result, "errors": errors} if args.errors else result)
        print(f"Report written to {args.output}")


if __name__ == "__main__":
    main()

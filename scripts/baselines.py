"""Scores the baselines the attention model is compared with, on the same texts as train_text.py.

The majority class, and logistic regression on which of the --num-words words each
text holds (bag of words), both read through the same loader, vocabulary and
validation texts as train_text.py; prints accuracy, macro-F1 and per-class scores.

    python scripts/baselines.py --data ratings/train.csv --validation-data ratings/test.csv
"""

import argparse
import json

import attention  # noqa: F401  (first: it quiets TensorFlow's start-up logging before Keras loads it)

from attention.arguments import (
    HelpFormatter, add_text_data_arguments, check_num_words, clean_exit, labelled_options, nonempty_path, positive_int,
    seed,
)
from attention.baselines import bag_of_words_report, majority_report
from attention.data import DatasetError, load_labelled
from attention.defaults import NUM_WORDS
from attention.evaluation import format_report


parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
add_text_data_arguments(parser)
parser.add_argument("--num-words", type=positive_int, default=NUM_WORDS, help="vocabulary: the most frequent words kept")
parser.add_argument("--epochs", type=positive_int, default=5, help="passes of the logistic regression over the data")
parser.add_argument("--seed", type=seed, default=0, help="seed of the logistic regression's weights and order")
parser.add_argument("--cache-dir", type=nonempty_path, help="folder of the tokenised-data cache (default: ~/.keras/datasets)")
parser.add_argument("--json", action="store_true", help="print the reports as JSON instead of tables")


def main(argv: list[str] | None = None) -> None:
    args = parser.parse_args(argv)
    if problem := check_num_words(args):
        parser.exit(2, f"{parser.prog}: error: {problem}\n")
    with clean_exit(parser):
        try:
            data = load_labelled(args.data, **labelled_options(args))
        except DatasetError as error:
            parser.exit(2, f"{parser.prog}: error: {error}\n")
        reports = {
            "majority": majority_report(data.y_train, data.y_validation, data.classes),
            "bag_of_words_logistic_regression": bag_of_words_report(
                data.x_train, data.y_train, data.x_validation, data.y_validation, data.classes, data.num_words,
                epochs=args.epochs, seed=args.seed),
        }
        if args.json:
            print(json.dumps(reports, indent=2))
            return
        for name, report in reports.items():
            print(f"{name}:\n{format_report(report)}\n")


if __name__ == "__main__":
    main()

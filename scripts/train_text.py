"""Trains the Bi-GRU with attention on your own labelled texts, two classes or many.

The network, run folders, TensorBoard logs, checkpoints and options of
train_imdb.py, on texts from class folders (CLASS/*.txt, or train/ and test/
folders of them, or a .tar.gz of either), or a CSV, TSV or JSON Lines file
(each optionally .gz). Two classes keep the original's sigmoid head; three or
more get a softmax. The run folder holds the model, its vocabulary and classes,
per-class scores in run.json, and (on TensorFlow) an export that reads raw text.

    python scripts/train_text.py --data reviews.csv --text-column review --label-column stars --validation-split 0.1
"""

import argparse
import shlex

import attention  # noqa: F401  (first: it quiets TensorFlow's start-up logging before Keras loads it)

from attention.arguments import (
    HelpFormatter, add_text_data_arguments, add_training_arguments, labelled_options, recorded_arguments,
)
from attention.data import DatasetError, load_labelled
from attention.training import run_command, train_classifier
from attention.vocabulary import Vocabulary


parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
add_text_data_arguments(parser)
add_training_arguments(parser)


def main(argv: list[str] | None = None) -> None:
    run_command(parser, argv, train)


def train(args: argparse.Namespace, fail) -> None:
    try:
        data = load_labelled(args.data, **labelled_options(args))
    except DatasetError as error:
        fail(error)
    used = lambda n: f"{args.max_samples:,} of {n:,}" if args.max_samples and n > args.max_samples else f"{n:,}"  # noqa: E731
    print(f"{used(len(data.x_train))} training and {used(len(data.x_validation))} validation texts, "
          f"{len(data.classes)} classes: {', '.join(data.classes)}")
    vocabulary = Vocabulary(data.word_index, data.num_words, args.index_from, sequence_length=args.sequence_length,
                            classes=data.classes, trained_on="texts")
    train_classifier(args, (data.x_train, data.y_train, data.x_validation, data.y_validation), vocabulary,
                     recorded_arguments(args, script="train_text"))
    print(f"Run 'tensorboard --logdir={shlex.quote(args.logdir)}' to checkout tensorboard logs.")


if __name__ == "__main__":
    main()

"""Trains the original Bi-GRU with attention on IMDB and logs the run for TensorBoard.

A Keras 3 port of the classic TF1 script: the same network and constants, with
the padding masked, each run in its own folder under --logdir, checkpoints
after each epoch (an interrupted run resumes when started again with the same
arguments) and the trained model saved as a .keras file with its vocabulary.
For other texts, two classes or many, see train_text.py.
"""

import argparse
import shlex
import sys

import attention  # noqa: F401  (first: it quiets TensorFlow's start-up logging before Keras loads it)

from attention import imdb
from attention.arguments import HelpFormatter, add_training_arguments, nonempty_path, recorded_arguments
from attention.training import run_command, train_classifier
from attention.vocabulary import BINARY_CLASSES, Vocabulary


parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
parser.add_argument("--data", type=nonempty_path, help="IMDB source: an imdb.npz file, an aclImdb/ folder or the aclImdb_v1.tar.gz archive "
                    "(default: ./imdb/imdb.npz if present, else Keras's download)")
add_training_arguments(parser)


def main(argv: list[str] | None = None) -> None:
    run_command(parser, argv, train)


def train(args: argparse.Namespace, fail) -> None:
    """The original script's body."""

    # Load the data set
    try:
        (x_train, y_train), (x_test, y_test) = imdb.load_data(
            args.data, num_words=args.num_words, index_from=args.index_from, cache_dir=args.cache_dir
        )
    except imdb.DatasetError as error:
        fail(error)
    try:
        word_index = imdb.get_word_index(args.data, cache_dir=args.cache_dir)
    except imdb.DatasetError as error:
        print(f"warning: {error} Attention views will show word ids.", file=sys.stderr)
        word_index = None
    vocabulary = Vocabulary(word_index, args.num_words, args.index_from, sequence_length=args.sequence_length,
                            classes=list(BINARY_CLASSES), trained_on="imdb")

    train_classifier(args, (x_train, y_train, x_test, y_test), vocabulary, recorded_arguments(args))
    print(f"Run 'tensorboard --logdir={shlex.quote(args.logdir)}' to checkout tensorboard logs.")


if __name__ == "__main__":
    main()

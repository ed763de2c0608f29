"""Trains the original Bi-GRU with attention on IMDB and logs the run for TensorBoard.

A Keras 3 port of the classic TF1 script: the same network and constants, with
the padding masked, each run in its own folder under --logdir, checkpoints
after each epoch (an interrupted run resumes when started again with the same
arguments) and the trained model saved as a .keras file with its vocabulary.
"""

import argparse
import os
import sys
import time

import attention  # noqa: F401  (first: it quiets TensorFlow's start-up logging before Keras loads it)
import keras

from attention import build_model, defaults, imdb
from attention.arguments import (
    check_writable, keep_probability, keras_file, non_negative_int, positive_float, positive_int, seed, sequence_length,
)
from attention.callbacks import AttentionSummaries, StopOnNonFiniteLoss, TqdmProgress
from attention.pipeline import make_dataset, num_batches
from attention.preprocessing import fit_in_vocabulary, get_vocabulary_size, zero_pad
from attention.backends import check_strategy, configure_threads, distribution_scope, grow_gpu_memory, set_random_seed
from attention.training import Run, RunError, RunStopped
from attention.vocabulary import Vocabulary


parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
parser.add_argument("--data", help="IMDB source: an imdb.npz file, an aclImdb/ folder or the aclImdb_v1.tar.gz archive "
                    "(default: ./imdb/imdb.npz if present, else Keras's download)")
parser.add_argument("--num-words", type=positive_int, default=defaults.NUM_WORDS, help="vocabulary: the most frequent words kept")
parser.add_argument("--index-from", type=positive_int, default=defaults.INDEX_FROM, help="word ids start after this index")
parser.add_argument("--sequence-length", type=sequence_length, default=defaults.SEQUENCE_LENGTH,
                    help="reviews are cut to this length minus one and padded (the original zero_pad)")
parser.add_argument("--embedding-dim", type=positive_int, default=defaults.EMBEDDING_DIM, help="word embedding size")
parser.add_argument("--hidden-size", type=positive_int, default=defaults.HIDDEN_SIZE, help="GRU units per direction")
parser.add_argument("--attention-size", type=positive_int, default=defaults.ATTENTION_SIZE, help="attention projection size")
parser.add_argument("--keep-prob", type=keep_probability, default=defaults.KEEP_PROB, help="dropout keep probability")
parser.add_argument("--batch-size", type=positive_int, default=defaults.BATCH_SIZE, help="reviews per batch")
parser.add_argument("--num-epochs", type=positive_int, default=defaults.NUM_EPOCHS, help="passes over the training set")
parser.add_argument("--learning-rate", type=positive_float, default=defaults.LEARNING_RATE, help="Adam's learning rate")
parser.add_argument("--reset-after", action=argparse.BooleanOptionalAction, default=False,
                    help="cuDNN-style GRU (reset gate after the recurrent matmul); the original TF1 GRUCell is --no-reset-after")
parser.add_argument("--bucketing", action=argparse.BooleanOptionalAction, default=True,
                    help="batch reviews of similar length and trim each batch's padding (same results, faster)")
parser.add_argument("--logdir", default="./logdir", help="TensorBoard folder; each run writes into its own sub-folder")
parser.add_argument("--model-path", type=keras_file, help="where to save the trained .keras model (default: model.keras in the run's folder)")
parser.add_argument("--seed", type=seed, help="random seed of weights, dropout and shuffling (default: a random "
                    "one, recorded in run.json)")
parser.add_argument("--max-samples", type=positive_int, help="use only the first N training and N test reviews (a quick run)")
parser.add_argument("--strategy", choices=["default", "mirrored"], default="default",
                    help="tf.distribute strategy: one device, or mirrored over all GPUs (or logical CPUs)")
parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                    help="resume the newest unfinished run with the same arguments, from its last completed epoch")
parser.add_argument("--intra-op-threads", type=non_negative_int, help="threads per TensorFlow op; 0: TensorFlow's choice "
                    "(default without a GPU: half the cores, so the two GRU directions run side by side)")
parser.add_argument("--inter-op-threads", type=non_negative_int, help="TensorFlow ops run at once; 0: TensorFlow's choice "
                    "(default without a GPU: 2)")
parser.add_argument("--cache-dir", help="folder of the tokenised-data cache (default: ~/.keras/datasets)")


def main(argv: list[str] | None = None) -> None:
    args = parser.parse_args(argv)
    fail = lambda error, status=2: parser.exit(status, f"{parser.prog}: error: {error}\n")  # noqa: E731
    if args.model_path and (problem := check_writable(args.model_path)):
        fail(f"--model-path: {problem}")
    try:
        check_strategy(args.strategy)
    except ValueError as error:
        fail(error)
    try:
        train(args, fail)
    except RunStopped as stopped:
        fail(stopped, stopped.status)
    except KeyboardInterrupt:
        fail("interrupted before training started; nothing was saved", 130)


def train(args: argparse.Namespace, fail) -> None:
    """The original script's body."""
    grow_gpu_memory()
    configure_threads(args.intra_op_threads, args.inter_op_threads)

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
    if args.max_samples:
        x_train, y_train = x_train[: args.max_samples], y_train[: args.max_samples]
        x_test, y_test = x_test[: args.max_samples], y_test[: args.max_samples]

    # Sequences pre-processing, as the original
    vocabulary_size = get_vocabulary_size(x_train)
    x_test = fit_in_vocabulary(x_test, vocabulary_size)
    x_train = zero_pad(x_train, args.sequence_length)
    x_test = zero_pad(x_test, args.sequence_length)
    vocabulary = Vocabulary(word_index, args.num_words, args.index_from, sequence_length=args.sequence_length)

    try:
        # An absolute data path keeps run.json usable from any folder.
        config = {**vars(args), "data": args.data and os.path.abspath(args.data)}
        config = {k: v for k, v in config.items() if k != "resume"}
        run = Run.open(args.logdir, config, resume=args.resume, seed=args.seed)
    except RunError as error:
        fail(error)
    for name in run.skipped:
        print(f"Run {name} is in progress in another process; starting a new run.")
    with run.guard():
        # Every run is seeded (with a random seed unless --seed, recorded in run.json),
        # so that a resumed run goes on exactly as the uninterrupted one would have.
        set_random_seed(run.seed)
        with distribution_scope(args.strategy):
            model, initial_epoch = run.restore()
            if model is None:
                model = build_model(vocabulary_size, args.embedding_dim, args.hidden_size, args.attention_size,
                                    args.keep_prob, args.learning_rate, reset_after=args.reset_after)
        if initial_epoch:
            print(f"Resuming run {run.name} after epoch {initial_epoch}.")

        train_data = make_dataset(x_train, y_train, args.batch_size, shuffle=True, bucketing=args.bucketing,
                                  seed=run.seed, first_epoch=initial_epoch)
        test_data = make_dataset(x_test, y_test, args.batch_size, shuffle=False, bucketing=args.bucketing)
        train_batches = num_batches(len(x_train), args.batch_size)
        callbacks = [
            StopOnNonFiniteLoss(),
            TqdmProgress(train_batches, num_batches(len(x_test), args.batch_size)),
            AttentionSummaries(run.directory, x_test[:32], train_batches),
            run.checkpoint_callback(),
        ]

        print("Start learning...")
        start = time.perf_counter()
        model.fit(train_data, validation_data=test_data, epochs=args.num_epochs, initial_epoch=initial_epoch,
                  callbacks=callbacks, shuffle=False, verbose=0)
        results = {**run.last_epoch_logs(), "train_seconds_this_session": round(time.perf_counter() - start, 1)}
        model_path = run.finish(model, vocabulary, results)
    print(f"Model saved to {model_path}")
    print(f"Run 'tensorboard --logdir={args.logdir}' to checkout tensorboard logs.")


if __name__ == "__main__":
    main()

"""Seconds for `model.fit` and `train_on_batch` over the same real batches of the bucketed pipeline.

A check of the headline benchmark's bucketed rows against the training script's own path:
the batches `train_imdb.py` feeds (`make_dataset`, shuffled and bucketed, seed 0), taken from one
pass and kept, the first ones to warm up, the next --batches through `model.fit`, and the very
same ones through `train_on_batch`. Run it in two checkouts, alternately, to compare them (each
run uses its own checkout's package):

    flock /tmp/cpu.lock python benchmarks/fit_batches.py --data ../shared/data/aclImdb_v1-labeled.tar.gz
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's package
from attention.arguments import clean_exit, nonempty_path, positive_int  # noqa: E402

WARMUP = 10  # batches that trace the steps before any is timed

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", required=True, type=nonempty_path, help="the IMDB archive, folder or imdb.npz")
parser.add_argument("--batches", type=positive_int, default=40, help="timed batches (default: 40)")


def taken(dataset, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first `count` batches of one pass over `dataset`, as arrays: a dataset that shuffles
    gives other batches at each pass, a list the same ones each time it is read."""
    return [(np.asarray(word_ids), np.asarray(labels)) for word_ids, labels in dataset.take(count)]


def fit_and_batch_seconds(model, batches: list) -> tuple[float, float]:
    """Seconds of `model.fit` over `batches`, then of `train_on_batch` over the very same ones, in order."""
    from benchmarks.harness import as_dataset

    start = time.perf_counter()
    model.fit(as_dataset(batches, "train"), epochs=1, shuffle=False, verbose=0)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    for word_ids, labels in batches:
        model.train_on_batch(word_ids, labels)
    return fit_s, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    args = parser.parse_args(argv)
    with clean_exit(parser):
        from attention.backends import configure_threads

        configure_threads()
        import keras

        from attention import defaults, imdb
        from attention.data.errors import DatasetError
        from attention.model import build_model
        from attention.pipeline import make_dataset
        from attention.preprocessing import zero_pad

        try:
            (x_train, y_train), _ = imdb.load_data(args.data, num_words=defaults.NUM_WORDS, index_from=defaults.INDEX_FROM)
        except DatasetError as error:
            parser.exit(2, f"{parser.prog}: error: --data: {error}\n")
        x, y = zero_pad(x_train, defaults.SEQUENCE_LENGTH), np.asarray(y_train, "float32")
        keras.utils.set_random_seed(0)
        model = build_model()
        data = make_dataset(x, y, defaults.BATCH_SIZE, shuffle=True, bucketing=True, seed=0)
        batches = taken(data, WARMUP + args.batches)
        fit_and_batch_seconds(model, batches[:WARMUP])  # tracing and warm-up, of both paths
        timed = batches[WARMUP:]
        fit_s, batch_s = fit_and_batch_seconds(model, timed)
        width = np.mean([word_ids.shape[1] for word_ids, _ in timed])
        print(f"{len(timed)} batches (mean width {width:.1f}): fit {fit_s:.1f} s, train_on_batch {batch_s:.1f} s")


if __name__ == "__main__":
    main()

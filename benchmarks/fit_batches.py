"""Seconds for `model.fit` and `train_on_batch` over the first real batches of the bucketed pipeline.

A check of the headline benchmark's bucketed rows against the training script's own path:
the batches `train_imdb.py` feeds (`make_dataset`, shuffled and bucketed, seed 0) through
`model.fit`, after a warm-up, and the same batches through `train_on_batch`. Run it in two
checkouts, alternately, to compare them (each run uses its own checkout's package):

    flock /tmp/cpu.lock python benchmarks/fit_batches.py --data ../shared/data/aclImdb_v1-labeled.tar.gz
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's package
from attention.arguments import positive_int  # noqa: E402
from attention.backends import configure_threads  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", required=True, help="the IMDB archive, folder or imdb.npz")
parser.add_argument("--batches", type=positive_int, default=40, help="timed batches (default: 40)")
args = parser.parse_args()

configure_threads()
import keras  # noqa: E402

from attention import defaults, imdb  # noqa: E402
from attention.model import build_model  # noqa: E402
from attention.pipeline import make_dataset  # noqa: E402
from attention.preprocessing import zero_pad  # noqa: E402

(x_train, y_train), _ = imdb.load_data(args.data, num_words=defaults.NUM_WORDS, index_from=defaults.INDEX_FROM)
x, y = zero_pad(x_train, defaults.SEQUENCE_LENGTH), np.asarray(y_train, "float32")
keras.utils.set_random_seed(0)
model = build_model()
data = make_dataset(x, y, defaults.BATCH_SIZE, shuffle=True, bucketing=True, seed=0)
model.fit(data, epochs=1, steps_per_epoch=10, verbose=0)  # tracing and warm-up

start = time.perf_counter()
model.fit(data.take(args.batches), epochs=1, verbose=0)
fit_s = time.perf_counter() - start
batches = [(a.numpy(), b.numpy()) for a, b in data.take(args.batches)]
start = time.perf_counter()
for word_ids, labels in batches:
    model.train_on_batch(word_ids, labels)
batch_s = time.perf_counter() - start
width = np.mean([word_ids.shape[1] for word_ids, _ in batches])
print(f"{args.batches} batches (mean width {width:.1f}): fit {fit_s:.1f} s, train_on_batch {batch_s:.1f} s")

"""The original TF1 script, rebuilt faithfully under `tf.compat.v1`: the reference to beat.

The graph is the classic script's, op for op: placeholders fed with `feed_dict`, an
embedding drawn from uniform(-1, 1), `bidirectional_dynamic_rnn` over two TF1 `GRUCell`s
with `sequence_length` computed as the original (`list(x).index(0) + 1`: the first
padding 0 counts as a step), the original `attention()` (no mask: the softmax runs over
all time steps), `tf.nn.dropout` with a `keep_prob` placeholder, a dense layer on
truncated-normal weights, sigmoid cross entropy and `AdamOptimizer(1e-3)`.

Run as a script, it trains the original way (the original's `batch_generator`, its
per-epoch line, the test set as validation) and prints the total wall time:

    python benchmarks/tf1_reference.py --data ../shared/data/aclImdb_v1-labeled.tar.gz --epochs 3

It needs `tf_keras` (``pip install "tf_keras==2.21.*"``, the `bench` extra): TensorFlow
2.16+ with Keras 3 no longer provides `tf.compat.v1.nn.rnn_cell.GRUCell`; `tf_keras`
still ships that exact class (`legacy_cells.GRUCell`).

The only changes to the original code are those TF 2 forces: `inputs.shape[2].value`
is `inputs.shape[2]`, `tf.array_ops.transpose` is `tf.transpose`, and the graph lives
in a `tf.Graph` and `Session` of its own so that this module can share a process with
eager Keras 3. `enable_tf1_behavior()` (what the script and the benchmark worker call,
as TF1 code run under TF 2 does with `tf.compat.v1.disable_v2_behavior()`) also gives
the original's v1 control flow and reference variables; it is process-wide, so it is
never called where Keras 3 runs too.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf1 = tf.compat.v1

from attention import arguments  # noqa: E402

# The original script's constants, which are also the port's defaults.
from attention.defaults import (  # noqa: E402
    ATTENTION_SIZE,
    BATCH_SIZE,
    DELTA,
    EMBEDDING_DIM,
    HIDDEN_SIZE,
    INDEX_FROM,
    KEEP_PROB,
    LEARNING_RATE,
    NUM_EPOCHS,
    NUM_WORDS,
    SEQUENCE_LENGTH,
)

MISSING_TF_KERAS = (
    "The TF1 reference needs the TF1 GRUCell, which TensorFlow 2.16+ only provides through "
    'tf_keras: pip install "tf_keras==2.21.*" (or pip install -e ".[bench]").'
)


def gru_cell_class() -> type:
    """The TF1 `GRUCell`: `tf.compat.v1.nn.rnn_cell.GRUCell` where TF still has it, else tf_keras's."""
    try:
        return tf1.nn.rnn_cell.GRUCell  # TF <= 2.15, or TF_USE_LEGACY_KERAS=1
    except Exception:  # "GRUCell is not available with Keras 3"
        pass
    try:
        from tf_keras.src.layers.rnn.legacy_cells import GRUCell
    except ImportError as error:
        raise ImportError(MISSING_TF_KERAS) from error
    return GRUCell


def enable_tf1_behavior() -> None:
    """Process-wide TF1 semantics (graph mode, v1 control flow), as a TF1 script under TF 2."""
    tf1.disable_v2_behavior()


def original_sequence_lengths(x: np.ndarray) -> np.ndarray:
    """The original's `seq_len`: position of the first 0 plus one (the 0 is a step)."""
    return np.array([list(row).index(0) + 1 for row in x])


def attention(inputs, attention_size, time_major=False, return_alphas=False):
    """The original `attention()` function (Yang et al., 2016), unchanged but for TF 2 names."""
    if isinstance(inputs, tuple):
        # In case of Bi-RNN, concatenate the forward and the backward RNN outputs.
        inputs = tf.concat(inputs, 2)

    if time_major:
        # (T,B,D) => (B,T,D)
        inputs = tf.transpose(inputs, [1, 0, 2])

    hidden_size = inputs.shape[2]  # D value - hidden size of the RNN layer

    initializer = tf1.random_normal_initializer(stddev=0.1)

    # Trainable parameters
    w_omega = tf1.get_variable(name="w_omega", shape=[hidden_size, attention_size], initializer=initializer)
    b_omega = tf1.get_variable(name="b_omega", shape=[attention_size], initializer=initializer)
    u_omega = tf1.get_variable(name="u_omega", shape=[attention_size], initializer=initializer)

    with tf.name_scope("v"):
        # (B,T,D)*(D,A)=(B,T,A), where A=attention_size
        v = tf.tanh(tf.tensordot(inputs, w_omega, axes=1) + b_omega)

    vu = tf.tensordot(v, u_omega, axes=1, name="vu")  # (B,T) shape
    alphas = tf.nn.softmax(vu, name="alphas")  # (B,T) shape

    # Output of (Bi-)RNN is reduced with attention vector; the result has (B,D) shape
    output = tf.reduce_sum(inputs * tf.expand_dims(alphas, -1), 1)

    if not return_alphas:
        return output
    else:
        return output, alphas


class Reference:
    """The original graph in its own `tf.Graph` and `Session`.

    Args:
        vocabulary_size: Rows of the embedding (the original: `get_vocabulary_size(X_train)`).
        sequence_length: Width of the `batch_ph` placeholder (the original: 250; `None` for any).
        intra_op_threads, inter_op_threads: `ConfigProto` thread pools; 0 is TensorFlow's
            default, as the original (which set neither).
        summaries: Build the original's histogram and scalar summaries (`self.merged`).
    """

    def __init__(
        self,
        vocabulary_size: int = NUM_WORDS,
        sequence_length: int | None = SEQUENCE_LENGTH,
        embedding_dim: int = EMBEDDING_DIM,
        hidden_size: int = HIDDEN_SIZE,
        attention_size: int = ATTENTION_SIZE,
        learning_rate: float = LEARNING_RATE,
        seed: int | None = None,
        intra_op_threads: int = 0,
        inter_op_threads: int = 0,
        summaries: bool = False,
    ) -> None:
        GRUCell = gru_cell_class()
        self.graph = tf.Graph()
        logger, level = tf.get_logger(), tf.get_logger().level
        logger.setLevel("ERROR")  # deprecation notices of every TF1 API used
        try:
            self._build(GRUCell, vocabulary_size, sequence_length, embedding_dim, hidden_size,
                        attention_size, learning_rate, seed, summaries)
        finally:
            logger.setLevel(level)
        session_conf = tf1.ConfigProto(
            gpu_options=tf1.GPUOptions(allow_growth=True),
            intra_op_parallelism_threads=intra_op_threads,
            inter_op_parallelism_threads=inter_op_threads,
        )
        self.session = tf1.Session(graph=self.graph, config=session_conf)
        self.session.run(self._init)

    def _build(self, GRUCell, vocabulary_size, sequence_length, embedding_dim, hidden_size,
               attention_size, learning_rate, seed, summaries) -> None:
        with self.graph.as_default(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if seed is not None:
                tf1.set_random_seed(seed)
            with tf.name_scope("Inputs"):
                self.batch_ph = tf1.placeholder(tf.int32, [None, sequence_length], name="batch_ph")
                self.target_ph = tf1.placeholder(tf.float32, [None], name="target_ph")
                self.seq_len_ph = tf1.placeholder(tf.int32, [None], name="seq_len_ph")
                self.keep_prob_ph = tf1.placeholder(tf.float32, name="keep_prob_ph")

            with tf.name_scope("Embedding_layer"):
                embeddings_var = tf1.Variable(
                    tf1.random_uniform([vocabulary_size, embedding_dim], -1.0, 1.0), trainable=True
                )
                if summaries:
                    tf1.summary.histogram("embeddings_var", embeddings_var)
                batch_embedded = tf1.nn.embedding_lookup(embeddings_var, self.batch_ph)

            self.rnn_outputs, _ = tf1.nn.bidirectional_dynamic_rnn(
                GRUCell(hidden_size), GRUCell(hidden_size),
                inputs=batch_embedded, sequence_length=self.seq_len_ph, dtype=tf.float32,
            )
            if summaries:
                tf1.summary.histogram("RNN_outputs", self.rnn_outputs)

            with tf.name_scope("Attention_layer"):
                self.attention_output, self.alphas = attention(self.rnn_outputs, attention_size, return_alphas=True)
                if summaries:
                    tf1.summary.histogram("alphas", self.alphas)

            drop = tf1.nn.dropout(self.attention_output, self.keep_prob_ph)

            with tf.name_scope("Fully_connected_layer"):
                W = tf1.Variable(tf1.truncated_normal([hidden_size * 2, 1], stddev=0.1))
                b = tf1.Variable(tf1.constant(0.0, shape=[1]))
                y_hat = tf1.nn.xw_plus_b(drop, W, b)
                self.y_hat = tf.squeeze(y_hat)
                if summaries:
                    tf1.summary.histogram("W", W)

            with tf.name_scope("Metrics"):
                self.loss = tf.reduce_mean(
                    tf.nn.sigmoid_cross_entropy_with_logits(logits=self.y_hat, labels=self.target_ph)
                )
                self.optimizer = tf1.train.AdamOptimizer(learning_rate=learning_rate).minimize(self.loss)
                self.accuracy = tf.reduce_mean(
                    tf.cast(tf.equal(tf.round(tf.sigmoid(self.y_hat)), self.target_ph), tf.float32)
                )
                if summaries:
                    tf1.summary.scalar("loss", self.loss)
                    tf1.summary.scalar("accuracy", self.accuracy)

            self.merged = tf1.summary.merge_all() if summaries else None
            self.variables = {v.op.name: v for v in tf1.trainable_variables()}
            self._assign_ph = {n: tf1.placeholder(v.dtype.base_dtype, v.shape) for n, v in self.variables.items()}
            self._assign_op = tf.group(*(tf1.assign(self.variables[n], p) for n, p in self._assign_ph.items()))
            self.saver = tf1.train.Saver()
            self._init = tf1.global_variables_initializer()

    def feed(self, x, y=None, seq_len=None, keep_prob=1.0) -> dict:
        seq_len = original_sequence_lengths(x) if seq_len is None else seq_len
        feed = {self.batch_ph: x, self.seq_len_ph: seq_len, self.keep_prob_ph: keep_prob}
        if y is not None:
            feed[self.target_ph] = y
        return feed

    def train_step(self, x, y, seq_len=None, summary=False):
        """One Adam step with dropout, as the original's training loop: `(loss, accuracy[, summary])`."""
        fetches = [self.loss, self.accuracy, self.optimizer] + ([self.merged] if summary else [])
        out = self.session.run(fetches, feed_dict=self.feed(x, y, seq_len, KEEP_PROB))
        return tuple(out[:2] + out[3:])

    def evaluate_step(self, x, y, seq_len=None, summary=False):
        """`(loss, accuracy[, summary])` without dropout, as the original's test loop."""
        fetches = [self.loss, self.accuracy] + ([self.merged] if summary else [])
        return tuple(self.session.run(fetches, feed_dict=self.feed(x, y, seq_len)))

    def predict(self, x, seq_len=None) -> np.ndarray:
        """The logits `y_hat` without dropout."""
        return self.session.run(self.y_hat, feed_dict=self.feed(x, seq_len=seq_len))

    def run(self, fetches, x, seq_len=None):
        """Any graph tensors (for example `rnn_outputs`, `alphas`) without dropout."""
        return self.session.run(fetches, feed_dict=self.feed(x, seq_len=seq_len))

    def get_weights(self) -> dict[str, np.ndarray]:
        """Trainable variables by name, e.g. `bidirectional_rnn/fw/gru_cell/gates/kernel`."""
        return self.session.run(self.variables)

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        missing = set(self.variables) - set(weights)
        if missing:
            raise KeyError(f"No value for {sorted(missing)}.")
        self.session.run(self._assign_op, {self._assign_ph[n]: weights[n] for n in self.variables})

    def close(self) -> None:
        self.session.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="imdb.npz, aclImdb/ folder or aclImdb_v1.tar.gz")
    parser.add_argument("--epochs", type=arguments.positive_int, default=NUM_EPOCHS)
    parser.add_argument("--batch-size", type=arguments.positive_int, default=BATCH_SIZE)
    parser.add_argument("--max-samples", type=arguments.positive_int, help="use only the first N training and test reviews")
    parser.add_argument("--seed", type=arguments.seed, help="seed of NumPy's global generator and of the graph")
    parser.add_argument("--logdir", help="write the original's summaries here (default: a temporary folder)")
    parser.add_argument("--no-summaries", action="store_true", help="skip the per-step summaries")
    parser.add_argument("--model-path", help="save the trained session with tf.train.Saver, as the original")
    parser.add_argument("--v2-behavior", action="store_true", help="keep TF 2 control flow and resource variables")
    args = parser.parse_args(argv)
    with arguments.clean_exit(parser):
        train(parser, args)


def load(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple:
    """The training and test reviews, padded, as the original prepares them; data that cannot make a
    whole batch of each ends the process with one line (status 2)."""
    from attention import imdb
    from attention.data.errors import DatasetError
    from attention.preprocessing import fit_in_vocabulary, get_vocabulary_size, zero_pad

    fail = lambda error: parser.exit(2, f"{parser.prog}: error: {error}\n")  # noqa: E731
    try:
        (X_train, y_train), (X_test, y_test) = imdb.load_data(args.data, num_words=NUM_WORDS, index_from=INDEX_FROM)
    except DatasetError as error:
        fail(f"--data: {error}")
    if args.max_samples:
        X_train, y_train, X_test, y_test = (a[: args.max_samples] for a in (X_train, y_train, X_test, y_test))
    if min(len(X_train), len(X_test)) < args.batch_size:
        fail(f"--data: {len(X_train)} training and {len(X_test)} test reviews; each split needs one batch of "
             f"{args.batch_size} at least (use a smaller --batch-size)")
    # Sequences pre-processing
    vocabulary_size = get_vocabulary_size(X_train)
    X_test = fit_in_vocabulary(X_test, vocabulary_size)
    return zero_pad(X_train, SEQUENCE_LENGTH), y_train, zero_pad(X_test, SEQUENCE_LENGTH), y_test, vocabulary_size


def train(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The original's training loop, timed."""
    from tqdm import tqdm

    from attention.preprocessing import batch_generator

    # Checked before TF1 behaviour, which is process-wide, is switched on.
    if args.max_samples and args.max_samples < args.batch_size:
        parser.exit(2, f"{parser.prog}: error: --max-samples {args.max_samples} is less than one batch of "
                       f"{args.batch_size}: the original's epochs only take whole batches (use a smaller --batch-size)\n")
    if not os.path.exists(args.data):
        parser.exit(2, f"{parser.prog}: error: --data: {args.data!r} does not exist\n")
    if not args.v2_behavior:
        enable_tf1_behavior()
    if args.seed is not None:
        np.random.seed(args.seed)
    # Load the data set
    X_train, y_train, X_test, y_test, vocabulary_size = load(parser, args)

    summaries = not args.no_summaries
    ref = Reference(vocabulary_size, seed=args.seed, summaries=summaries)
    train_batch_generator = batch_generator(X_train, y_train, args.batch_size)
    test_batch_generator = batch_generator(X_test, y_test, args.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        logdir = args.logdir or tmp
        if summaries:
            train_writer = tf1.summary.FileWriter(os.path.join(logdir, "train"), ref.graph)
            test_writer = tf1.summary.FileWriter(os.path.join(logdir, "test"), ref.graph)
        print("Start learning...")
        start = time.perf_counter()
        for epoch in range(args.epochs):
            loss_train = loss_test = accuracy_train = accuracy_test = 0
            epoch_start = time.perf_counter()
            print("epoch: {}\t".format(epoch), end="")

            # Training
            num_batches = X_train.shape[0] // args.batch_size
            for b in tqdm(range(num_batches)):
                x_batch, y_batch = next(train_batch_generator)
                out = ref.train_step(x_batch, y_batch, summary=summaries)
                accuracy_train += out[1]
                loss_train = out[0] * DELTA + loss_train * (1 - DELTA)
                if summaries:
                    train_writer.add_summary(out[2], b + num_batches * epoch)
            accuracy_train /= num_batches

            # Testing
            num_batches = X_test.shape[0] // args.batch_size
            for b in tqdm(range(num_batches)):
                x_batch, y_batch = next(test_batch_generator)
                out = ref.evaluate_step(x_batch, y_batch, summary=summaries)
                accuracy_test += out[1]
                loss_test += out[0]
                if summaries:
                    test_writer.add_summary(out[2], b + num_batches * epoch)
            accuracy_test /= num_batches
            loss_test /= num_batches

            print("loss: {:.3f}, val_loss: {:.3f}, acc: {:.3f}, val_acc: {:.3f}".format(
                loss_train, loss_test, accuracy_train, accuracy_test
            ))
            print(f"epoch {epoch} wall time: {time.perf_counter() - epoch_start:.1f} s", file=sys.stderr)
        total = time.perf_counter() - start
        if summaries:
            train_writer.close()
            test_writer.close()
        if args.model_path:
            ref.saver.save(ref.session, args.model_path)
    print(f"Total wall time ({args.epochs} epochs, training and validation): {total:.1f} s")


if __name__ == "__main__":
    main()

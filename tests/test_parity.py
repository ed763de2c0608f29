"""The port computes the original TF1 graph's numbers, given the same weights.

The reference is `benchmarks/tf1_reference.py`, the original script's graph rebuilt under
`tf.compat.v1` (it needs tf_keras for the TF1 `GRUCell`). Weights are copied from the
port into it: the TF1 `GRUCell` keeps `gates/kernel` `(D + H, 2H)` with the gates in
`[r, u]` order and `candidate/kernel` `(D + H, H)`, Keras's GRU `kernel` `(D, 3H)` and
`recurrent_kernel` `(H, 3H)` in `[z, r, h]` order (`u` is Keras's `z`).

Two documented differences of the original are kept out of the comparison:

* the original feeds `sequence_length = list(x).index(0) + 1`, so each review's first
  padding 0 is one more RNN step; the port masks every padding step. Here the reference
  is fed the real lengths (its `seq_len` placeholder), which is what the port computes;
* the original's attention has no mask: its softmax also gives weight to the padded
  steps (whose RNN outputs are zeros), so its pooled vector is scaled down on padded
  rows. On rows without padding the two are the same; on padded rows the port equals the
  reference's attention renormalised over the real steps, which is checked exactly.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

pytest.importorskip(
    "tf_keras", reason='the TF1 reference needs tf_keras for the TF1 GRUCell (pip install "tf_keras==2.21.*")'
)

from attention import build_model, inspection_model  # noqa: E402
from script_runs import load_benchmark  # noqa: E402

ATOL = 1e-4


tf1_reference = load_benchmark("tf1_reference")

SMALL = dict(vocabulary_size=40, embedding_dim=8, hidden_size=6, attention_size=5)


def port_and_reference(vocabulary_size, embedding_dim, hidden_size, attention_size, seed=0):
    """A port model with random weights (biases included) and the reference holding the same."""
    keras.utils.set_random_seed(seed)
    model = build_model(vocabulary_size, embedding_dim, hidden_size, attention_size)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0.0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
    ref = tf1_reference.Reference(vocabulary_size, None, embedding_dim, hidden_size, attention_size, seed=seed)
    ref.set_weights(tf1_weights(model))
    return model, ref


def tf1_weights(model) -> dict:
    """The port's weights in the TF1 graph's names and layouts."""
    embedding, bi_gru, attention, dense = (model.get_layer(n) for n in ("embedding", "bi_gru", "attention", "output"))
    weights = {"Embedding_layer/Variable": embedding.embeddings.numpy()}
    for direction, layer in (("fw", bi_gru.forward_layer), ("bw", bi_gru.backward_layer)):
        cell = layer.cell
        w_z, w_r, w_h = np.split(cell.kernel.numpy(), 3, axis=1)
        u_z, u_r, u_h = np.split(cell.recurrent_kernel.numpy(), 3, axis=1)
        b_z, b_r, b_h = np.split(cell.bias.numpy(), 3)
        scope = f"bidirectional_rnn/{direction}/gru_cell"
        weights[f"{scope}/gates/kernel"] = np.concatenate([np.hstack([w_r, w_z]), np.hstack([u_r, u_z])])
        weights[f"{scope}/gates/bias"] = np.concatenate([b_r, b_z])
        weights[f"{scope}/candidate/kernel"] = np.concatenate([w_h, u_h])
        weights[f"{scope}/candidate/bias"] = b_h
    weights.update(w_omega=attention.w_omega.numpy(), b_omega=attention.b_omega.numpy(),
                   u_omega=attention.u_omega.numpy())
    weights["Fully_connected_layer/Variable"] = dense.kernel.numpy()
    weights["Fully_connected_layer/Variable_1"] = dense.bias.numpy()
    return weights


def padded_batch(lengths, width, vocabulary_size, rng):
    """Post-padded rows of random word ids (never 0) of the given real lengths."""
    x = np.zeros((len(lengths), width), "int32")
    for row, n in zip(x, lengths):
        row[:n] = rng.integers(1, vocabulary_size, n)
    return x


def masked_reference_logits(ref, x, lengths):
    """The reference's logits with its softmax renormalised over the real steps."""
    pooled, alphas = ref.run([ref.attention_output, ref.alphas], x, lengths)
    real = np.arange(x.shape[1])[None, :] < np.asarray(lengths)[:, None]
    mass = (alphas * real).sum(axis=1, keepdims=True)
    w = ref.get_weights()
    return ((pooled / mass) @ w["Fully_connected_layer/Variable"] + w["Fully_connected_layer/Variable_1"])[:, 0]


def test_weight_layouts_match():
    model, ref = port_and_reference(**SMALL)
    ours, theirs = tf1_weights(model), ref.get_weights()
    assert set(ours) == set(theirs)
    for name, value in theirs.items():
        np.testing.assert_array_equal(value, ours[name], err_msg=name)


def test_logits_match_on_rows_without_padding():
    model, ref = port_and_reference(**SMALL)
    x = np.random.default_rng(1).integers(1, SMALL["vocabulary_size"], (6, 9)).astype("int32")
    expected = ref.predict(x, np.full(len(x), x.shape[1]))
    np.testing.assert_allclose(model.predict_on_batch(x)[:, 0], expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_padded_batches_match_with_real_lengths(seed):
    model, ref = port_and_reference(**SMALL, seed=seed)
    rng = np.random.default_rng(seed)
    lengths = [1, 2, 5, 9, 11, 12, 3, 12]
    x = padded_batch(lengths, 12, SMALL["vocabulary_size"], rng)
    logits, rnn_outputs, alphas = (np.asarray(t) for t in inspection_model(model)(x))

    # Both directions of the Bi-GRU, step by step (zeros on the padding on both sides).
    outputs_fw, outputs_bw = ref.run(ref.rnn_outputs, x, lengths)
    np.testing.assert_allclose(rnn_outputs, np.concatenate([outputs_fw, outputs_bw], axis=2), atol=ATOL, rtol=0)
    # The attention weights: the original's, renormalised over the real steps.
    ref_alphas = ref.run(ref.alphas, x, lengths)
    real = np.arange(x.shape[1])[None, :] < np.array(lengths)[:, None]
    np.testing.assert_allclose(alphas, ref_alphas * real / (ref_alphas * real).sum(1, keepdims=True), atol=ATOL)
    np.testing.assert_allclose(logits[:, 0], masked_reference_logits(ref, x, lengths), atol=ATOL, rtol=0)

    # Full rows are unaffected by the original's unmasked softmax; padded rows are not.
    original = ref.predict(x, lengths)
    full = np.array(lengths) == x.shape[1]
    np.testing.assert_allclose(logits[full, 0], original[full], atol=ATOL, rtol=0)
    assert np.all(np.abs(logits[~full, 0] - original[~full]) > ATOL)


def test_gradients_match_on_rows_without_padding():
    model, ref = port_and_reference(**SMALL, seed=3)
    rng = np.random.default_rng(3)
    x = rng.integers(1, SMALL["vocabulary_size"], (5, 7)).astype("int32")
    y = np.array([1, 0, 1, 1, 0], "float32")
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=False))
    grads = {v.path: tf.convert_to_tensor(g).numpy() for v, g in zip(model.trainable_variables,
                                                                      tape.gradient(loss, model.trainable_variables))}
    # Keras's gradients in the TF1 layout: reuse the weight mapping on a model holding them.
    model.set_weights([grads[v.path] for v in model.weights])
    ours = tf1_weights(model)
    with ref.graph.as_default():
        names = list(ref.variables)
        grad_ops = [tf.convert_to_tensor(g) for g in tf.compat.v1.gradients(ref.loss, [ref.variables[n] for n in names])]
    feed = ref.feed(x, y, np.full(len(x), x.shape[1]), keep_prob=1.0)
    theirs = dict(zip(names, ref.session.run(grad_ops, feed)))
    ref_loss = ref.session.run(ref.loss, feed)
    assert abs(float(loss) - float(ref_loss)) < ATOL
    for name in names:
        np.testing.assert_allclose(ours[name], theirs[name], atol=ATOL, rtol=0, err_msg=name)


def test_default_sizes_on_short_reviews():
    model, ref = port_and_reference(10000, 100, 150, 50, seed=4)
    rng = np.random.default_rng(4)
    lengths = [17, 9, 20]
    x = padded_batch(lengths, 20, 10000, rng)
    logits = model.predict_on_batch(x)[:, 0]
    np.testing.assert_allclose(logits, masked_reference_logits(ref, x, lengths), atol=ATOL, rtol=0)
    np.testing.assert_allclose(logits[2], ref.predict(x, lengths)[2], atol=ATOL, rtol=0)


def test_original_sequence_lengths_count_the_first_padding_zero():
    x = np.array([[5, 6, 7, 0, 0], [5, 0, 0, 0, 0], [1, 2, 3, 4, 0]], "int32")
    np.testing.assert_array_equal(tf1_reference.original_sequence_lengths(x), [4, 2, 5])


@pytest.mark.parametrize("variant", ["keras", "concat", "block", "fast", "projected"])
def test_benchmark_gru_variants_compute_the_same(variant):
    """The faster GRU loops prototyped in benchmarks/variants.py: same outputs and gradients."""
    variants = load_benchmark("variants")
    model = build_model(**SMALL, keep_prob=1.0)  # no dropout, so that training=True is deterministic
    copy = variants.with_gru(model, variant)
    copy.set_weights(model.get_weights())
    x = padded_batch([3, 7, 1, 7, 5], 7, SMALL["vocabulary_size"], np.random.default_rng(5))
    y = np.array([1, 0, 1, 0, 1], "float32")
    results = []
    for m in (model, copy):
        with tf.GradientTape() as tape:
            logits = m(x, training=True)  # BlockGRU's fused kernels run in training only
            loss = m.compute_loss(x=x, y=y, y_pred=logits)
        grads = tape.gradient(loss, m.trainable_variables)
        results.append([logits.numpy(), m(x, training=False).numpy()] + [tf.convert_to_tensor(g).numpy() for g in grads])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(theirs, ours, atol=1e-5, rtol=0)


def test_tf1_layout_cell_takes_the_reference_weights_as_they_are():
    """benchmarks/variants.py's TF1GRUCell holds TF1's arrays unchanged and computes the same."""
    model, ref = port_and_reference(**SMALL, seed=6)
    copy = load_benchmark("variants").with_gru(model, "tf1cell")
    x = padded_batch([4, 8, 1, 6], 8, SMALL["vocabulary_size"], np.random.default_rng(6))
    copy(x)  # builds the weights
    for name in ("embedding", "attention", "output"):
        copy.get_layer(name).set_weights(model.get_layer(name).get_weights())
    weights = ref.get_weights()
    bi_gru = copy.get_layer("bi_gru")
    for direction, layer in (("fw", bi_gru.forward_layer), ("bw", bi_gru.backward_layer)):
        scope = f"bidirectional_rnn/{direction}/gru_cell"
        cell = layer.cell
        for variable, name in ((cell.gates_kernel, "gates/kernel"), (cell.gates_bias, "gates/bias"),
                               (cell.candidate_kernel, "candidate/kernel"), (cell.candidate_bias, "candidate/bias")):
            variable.assign(weights[f"{scope}/{name}"])
    lengths = np.count_nonzero(x, axis=1)
    np.testing.assert_allclose(copy.predict_on_batch(x)[:, 0], masked_reference_logits(ref, x, lengths), atol=ATOL)
    np.testing.assert_allclose(copy.predict_on_batch(x), model.predict_on_batch(x), atol=ATOL)

"""AttentionLayer against an independent NumPy version of the original math."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from gradients import layer_gradients

import attention as package
from attention import AttentionLayer, attention
from attention.model import attention_layers, update_inspection_model


def reference(inputs, w, b, u, time_major=False):
    """The original TF1 attention() in NumPy."""
    if isinstance(inputs, tuple):
        inputs = np.concatenate(inputs, axis=2)
    if time_major:
        inputs = inputs.transpose(1, 0, 2)
    v = np.tanh(inputs @ w + b)
    vu = v @ u
    e = np.exp(vu - vu.max(axis=1, keepdims=True))
    alphas = e / e.sum(axis=1, keepdims=True)
    return (inputs * alphas[..., None]).sum(axis=1), alphas


def weights_of(layer):
    return [v.numpy() for v in (layer.w_omega, layer.b_omega, layer.u_omega)]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("pair", [False, True])
@pytest.mark.parametrize("return_alphas", [False, True])
def test_matches_numpy_reference(rng, time_major, pair, return_alphas):
    shape = (7, 4, 6) if time_major else (4, 7, 6)
    x = rng.normal(size=shape).astype("float32")
    inputs = (x, rng.normal(size=shape).astype("float32")) if pair else x
    layer = AttentionLayer(5, time_major=time_major, return_alphas=return_alphas)
    result = layer(inputs)
    expected_out, expected_alphas = reference(inputs, *weights_of(layer), time_major=time_major)
    if return_alphas:
        out, alphas = (keras.ops.convert_to_numpy(t) for t in result)
        assert alphas.shape == (4, 7)
        assert np.max(np.abs(alphas - expected_alphas)) <= 1e-5
    else:
        out = keras.ops.convert_to_numpy(result)
    assert out.shape == (4, 12 if pair else 6)
    assert np.max(np.abs(out - expected_out)) <= 1e-5


def test_attention_function_has_original_signature(rng):
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    out, alphas = attention(x, 8, time_major=False, return_alphas=True)
    assert out.shape == (3, 4) and alphas.shape == (3, 5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(alphas).sum(axis=1), 1.0, atol=1e-6)
    assert attention(x, 8).shape == (3, 4)


def test_default_initialisers_and_weight_names():
    layer = AttentionLayer(50)
    layer.build((None, 10, 300))
    assert [w.path.split("/")[-1] for w in layer.weights] == ["w_omega", "b_omega", "u_omega"]
    assert layer.w_omega.shape == (300, 50) and layer.b_omega.shape == (50,)
    w = layer.w_omega.numpy()
    assert abs(w.std() - 0.1) < 0.01 and abs(w.mean()) < 0.01


def test_custom_initialisers():
    layer = AttentionLayer(3, kernel_initializer="zeros", bias_initializer="ones", context_initializer="zeros")
    layer.build((2, 4, 5))
    w, b, u = weights_of(layer)
    assert not w.any() and (b == 1).all() and not u.any()


def test_regularizers_add_their_penalties_to_the_losses():
    layer = AttentionLayer(3, bias_initializer="ones", kernel_regularizer=keras.regularizers.L2(0.5),
                           bias_regularizer="l1", context_regularizer=keras.regularizers.L1L2(l1=0.1, l2=0.2))
    model = keras.Sequential([keras.Input((4, 5)), layer, keras.layers.Dense(1)])
    w, b, u = weights_of(layer)
    expected = [0.5 * (w**2).sum(), 0.01 * np.abs(b).sum(), 0.1 * np.abs(u).sum() + 0.2 * (u**2).sum()]
    got = [float(keras.ops.convert_to_numpy(loss)) for loss in model.losses]
    np.testing.assert_allclose(sorted(got), sorted(expected), rtol=1e-5)
    unregularized = AttentionLayer(3)
    unregularized.build((2, 4, 5))
    assert unregularized.losses == []


def test_the_keras_2_attention_with_context_layer_maps_onto_this_one(rng):
    # README: that layer's math, W (features x features), b and u, with its 1e-7 in the softmax's sum.
    x = rng.normal(size=(3, 6, 8)).astype("float32")
    mask = np.arange(6) < np.array([[4], [2], [6]])
    layer = AttentionLayer(8, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                           context_initializer="glorot_uniform")
    out = keras.ops.convert_to_numpy(layer(x, mask=mask))
    w, b, u = weights_of(layer)
    a = np.exp(np.tanh(x @ w + b) @ u) * mask
    a /= a.sum(axis=1, keepdims=True) + 1e-7
    np.testing.assert_allclose(out, (x * a[..., None]).sum(axis=1), atol=1e-6)


def test_without_bias_the_projection_has_no_b_omega(rng):
    # Keras 2's AttentionWithContext(bias=False) too: v = tanh(x . W), with no weight for a bias.
    x = rng.normal(size=(3, 6, 8)).astype("float32")
    lengths = [4, 2, 6]
    layer = AttentionLayer(5, use_bias=False, bias_initializer="ones", bias_regularizer="l2", return_alphas=True)
    out, alphas = (keras.ops.convert_to_numpy(t) for t in layer(x, mask=np.arange(6) < np.array(lengths)[:, None]))
    assert [w.path.split("/")[-1] for w in layer.weights] == ["w_omega", "u_omega"] and layer.b_omega is None
    assert layer.losses == []  # no bias, so nothing for its regularizer
    w, u = layer.w_omega.numpy(), layer.u_omega.numpy()
    for row, n in enumerate(lengths):  # each row as the original math on the row cut to its length, b = 0
        expected_out, expected_alphas = reference(x[row : row + 1, :n], w, 0.0, u)
        np.testing.assert_allclose(out[row], expected_out[0], atol=1e-5)
        np.testing.assert_allclose(alphas[row, :n], expected_alphas[0], atol=1e-6)
        assert not alphas[row, n:].any()


def test_constraints_hold_after_training_steps():
    layer = AttentionLayer(3, kernel_constraint="non_neg", bias_constraint=keras.constraints.MaxNorm(0.05),
                           context_constraint="unit_norm")
    model = keras.Sequential([keras.Input((4, 5)), layer, keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.5), "mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 4, 5)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")
    assert (weights_of(layer)[0] < 0).any()  # N(0, 0.1): what the constraint must change
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    w, b, u = weights_of(layer)
    assert (w >= 0).all() and w.any()
    assert np.linalg.norm(b) <= 0.05 + 1e-6
    np.testing.assert_allclose(np.linalg.norm(u), 1.0, rtol=1e-5)


class TestMasking:
    def setup_method(self):
        rng = np.random.default_rng(1)
        self.x = rng.normal(size=(3, 6, 4)).astype("float32")
        self.mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0]], dtype=bool)
        self.layer = AttentionLayer(5, return_alphas=True)

    def test_masked_steps_get_zero_weight(self):
        _, alphas = self.layer(self.x, mask=self.mask)
        alphas = keras.ops.convert_to_numpy(alphas)
        assert (alphas[~self.mask] == 0).all()
        np.testing.assert_allclose(alphas[:2].sum(axis=1), 1.0, atol=1e-6)

    def test_masked_row_equals_row_cut_to_its_length(self):
        out, alphas = self.layer(self.x, mask=self.mask)
        cut_out, cut_alphas = self.layer(self.x[:1, :4])
        np.testing.assert_allclose(keras.ops.convert_to_numpy(out)[0], keras.ops.convert_to_numpy(cut_out)[0], atol=1e-6)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(alphas)[0, :4], keras.ops.convert_to_numpy(cut_alphas)[0], atol=1e-6)

    def test_all_masked_row_is_finite(self):
        out, alphas = self.layer(self.x, mask=self.mask)
        out, alphas = keras.ops.convert_to_numpy(out), keras.ops.convert_to_numpy(alphas)
        assert np.isfinite(out).all() and np.isfinite(alphas).all()
        assert not out[2].any() and not alphas[2].any()

    def test_all_masked_row_has_finite_gradients(self):
        grads = layer_gradients(self.layer, lambda outputs: keras.ops.sum(outputs[0]), [self.x], mask=self.mask)
        assert all(np.isfinite(g).all() for g in grads)

    def test_mask_from_embedding_through_bidirectional_gru(self):
        ids = np.array([[4, 5, 6, 0, 0], [7, 8, 9, 3, 2]])
        inputs = keras.Input(shape=(None,), dtype="int32")
        x = keras.layers.Embedding(10, 8, mask_zero=True)(inputs)
        x = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True))(x)
        _, alphas = AttentionLayer(3, return_alphas=True)(x)
        alphas = keras.Model(inputs, alphas).predict(ids, verbose=0)
        assert (alphas[0, 3:] == 0).all() and (alphas[0, :3] > 0).all()
        np.testing.assert_allclose(alphas.sum(axis=1), 1.0, atol=1e-6)

    def test_mask_with_tuple_input_from_bidirectional_without_merge(self):
        ids = np.array([[4, 5, 0, 0]])
        inputs = keras.Input(shape=(None,), dtype="int32")
        x = keras.layers.Embedding(10, 8, mask_zero=True)(inputs)
        fw, bw = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True), merge_mode=None)(x)
        out, alphas = AttentionLayer(3, return_alphas=True)([fw, bw])
        out, alphas = keras.Model(inputs, [out, alphas]).predict(ids, verbose=0)
        assert out.shape == (1, 8)
        assert (alphas[0, 2:] == 0).all()

    def test_pair_computes_what_its_concatenation_computes(self):
        rng = np.random.default_rng(5)
        fw, bw = (rng.normal(size=(3, 6, d)).astype("float32") for d in (4, 5))
        both = np.concatenate([fw, bw], -1)
        mask = np.ones((3, 6), dtype=bool)
        mask[1, 2:] = False
        pair, joined = AttentionLayer(3, return_alphas=True), AttentionLayer(3, return_alphas=True)
        pair([fw, bw], mask=[mask, mask])
        joined(both, mask=mask)
        joined.set_weights(pair.get_weights())
        for got, expected in zip(pair([fw, bw], mask=[mask, mask]), joined(both, mask=mask)):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(expected), atol=1e-6)
        loss = lambda outputs: keras.ops.sum(outputs[0] ** 2)  # noqa: E731
        grads_p = layer_gradients(pair, loss, [fw, bw], as_list=True, mask=[mask, mask])
        grads_j = layer_gradients(joined, loss, [both], mask=mask)
        np.testing.assert_allclose(np.concatenate(grads_p[:2], -1), grads_j[0], atol=1e-5)
        for g_p, g_j in zip(grads_p[2:], grads_j[1:]):
            np.testing.assert_allclose(g_p, g_j, atol=1e-5)

    def test_time_major_mask(self):
        layer = AttentionLayer(5, time_major=True, return_alphas=True)
        _, alphas = layer(self.x.transpose(1, 0, 2), mask=self.mask.T)
        assert (keras.ops.convert_to_numpy(alphas)[~self.mask] == 0).all()


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy, rng):
    x = rng.normal(size=(2, 9, 6)).astype("float32")
    mask = np.ones((2, 9), dtype=bool)
    mask[1, 4:] = False
    layer = AttentionLayer(4, return_alphas=True, dtype=policy)
    out, alphas = layer(x, mask=mask)
    assert keras.backend.standardize_dtype(out.dtype) == layer.compute_dtype
    out32, alphas32 = reference(x[:1], *weights_of(layer))
    out, alphas = (keras.ops.convert_to_numpy(keras.ops.cast(t, "float32")) for t in (out, alphas))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[0], out32[0], atol=5e-2)
    assert (alphas[1, 4:] == 0).all()


def test_float64_layer_keeps_float64_precision(rng):
    probe = np.linspace(-3, 3, 101)
    matmul, tanh = keras.ops.matmul(probe[None], probe[:, None]), keras.ops.tanh(probe)
    if keras.backend.standardize_dtype(matmul.dtype) != "float64" or np.max(np.abs(tanh - np.tanh(probe))) > 1e-12:
        # JAX in float32 without JAX_ENABLE_X64 and XLA's tanh within 1e-7 with it; Keras's matmul on PyTorch
        pytest.skip("this backend computes float64 with float32 accuracy")
    x = rng.normal(size=(3, 9, 5))
    layer = AttentionLayer(4, dtype="float64", return_alphas=True)
    out, alphas = (keras.ops.convert_to_numpy(t) for t in layer(x))
    expected_out, expected_alphas = reference(x, *weights_of(layer))
    assert out.dtype == alphas.dtype == np.float64
    # float32 anywhere on the way would leave errors of about 1e-8.
    assert np.max(np.abs(alphas - expected_alphas)) <= 1e-12
    assert np.max(np.abs(out - expected_out)) <= 1e-12


@pytest.mark.parametrize("policy", ["mixed_float16"])
def test_build_model_under_mixed_precision_gives_float32_logits(policy):
    keras.config.set_dtype_policy(policy)
    try:
        model = package.build_model(40, 8, 4, 4)
    finally:
        keras.config.set_dtype_policy("float32")
    assert model.get_layer("bi_gru").compute_dtype == keras.mixed_precision.Policy(policy).compute_dtype
    x = np.array([[3, 5, 7, 0], [9, 0, 0, 0]], "int32")
    logits = model(x)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    history = model.fit(x, np.array([1.0, 0.0]), verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_large_scores_do_not_overflow():
    layer = AttentionLayer(2, return_alphas=True, context_initializer=keras.initializers.Constant(1e4))
    out, alphas = layer(np.ones((1, 3, 2), dtype="float32"))
    assert np.isfinite(keras.ops.convert_to_numpy(out)).all()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(alphas).sum(), 1.0, atol=1e-6)


def small_model():
    return keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(20, 8, mask_zero=True),
            keras.layers.Bidirectional(keras.layers.GRU(6, return_sequences=True)),
            AttentionLayer(5),
            keras.layers.Dense(1),
        ]
    )


def test_in_sequential_after_bidirectional_gru():
    model = small_model()
    preds = model.predict(np.array([[1, 2, 3, 0], [4, 5, 0, 0]]), verbose=0)
    assert preds.shape == (2, 1) and np.isfinite(preds).all()


def test_in_subclassed_model():
    class Classifier(keras.Model):
        def __init__(self):
            super().__init__()
            self.embedding = keras.layers.Embedding(20, 8, mask_zero=True)
            self.rnn = keras.layers.GRU(6, return_sequences=True)
            self.attention = AttentionLayer(5)
            self.dense = keras.layers.Dense(1)

        def call(self, ids):
            x = self.embedding(ids)
            mask = self.embedding.compute_mask(ids)
            return self.dense(self.attention(self.rnn(x, mask=mask), mask=mask))

    model = Classifier()
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    x, y = np.array([[1, 2, 3, 0], [4, 5, 0, 0]]), np.array([1.0, 0.0])
    history = model.fit(x, y, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_inspection_model_of_any_sequential_or_functional_model(rng):
    ids = np.array([[1, 2, 3, 0], [4, 5, 0, 0]])
    word_ids = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(20, 6, mask_zero=True)(word_ids)
    forward = keras.layers.GRU(3, return_sequences=True)(embedded)
    backward = keras.layers.GRU(3, return_sequences=True, go_backwards=True)(embedded)
    pair = keras.Model(word_ids, keras.layers.Dense(1)(AttentionLayer(4)((forward, backward))))
    features = keras.Sequential([keras.Input((None, 3)), keras.layers.Masking(), keras.layers.GRU(4, return_sequences=True),
                                 AttentionLayer(4), keras.layers.Dense(2)])
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    x[1, 2:] = 0.0  # masked steps
    for model, inputs, rnn in [(pair, ids, keras.Model(word_ids, [forward, backward])),
                               (small_model(), ids, None), (features, x, keras.Sequential(features.layers[:2]))]:
        inspector = package.inspection_model(model)
        outputs, rnn_outputs, alphas = (keras.ops.convert_to_numpy(t) for t in inspector(inputs))
        np.testing.assert_allclose(outputs, keras.ops.convert_to_numpy(model(inputs)), atol=1e-6)
        assert alphas.shape == (2, 4) and (alphas[1, 2:] == 0).all()  # no weight on padding
        np.testing.assert_allclose(alphas.sum(axis=1), 1.0, atol=1e-6)
        if rnn is not None:  # the attention's input, a pair concatenated
            parts = [keras.ops.convert_to_numpy(t) for t in keras.tree.flatten(rnn(inputs))]
            np.testing.assert_allclose(rnn_outputs, np.concatenate(parts, axis=-1), atol=1e-6)
        # The twin follows the model's attention weights when told to.
        layer = next(layer for layer in model.layers if isinstance(layer, AttentionLayer))
        layer.set_weights([w + 0.5 for w in layer.get_weights()])
        update_inspection_model(inspector, model)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(inspector(inputs)[0]),
                                   keras.ops.convert_to_numpy(model(inputs)), atol=1e-6)


def test_inspection_model_of_a_model_with_its_alphas_or_an_encoder_inside():
    ids = np.array([[1, 2, 3, 0], [4, 5, 0, 0]])
    words = keras.Input((None,), dtype="int32")
    sequences = keras.layers.GRU(3, return_sequences=True)(keras.layers.Embedding(20, 6, mask_zero=True)(words))
    pooled, alphas = AttentionLayer(4, return_alphas=True)(sequences)
    with_alphas = keras.Model(words, [keras.layers.Dense(1)(pooled), alphas])  # its own weights as an output
    encoder = keras.Model(words, AttentionLayer(4)(sequences), name="encoder")
    inner = keras.Input((None,), dtype="int32")
    nested = keras.Model(inner, keras.layers.Dense(1)(encoder(inner)))
    in_sequential = keras.Sequential([keras.Input((None,), dtype="int32"), encoder, keras.layers.Dense(1)])
    for model in (with_alphas, nested, in_sequential):
        outputs, rnn_outputs, weights = package.inspection_model(model)(ids)
        expected = keras.tree.flatten(model(ids))
        for got, want in zip(keras.tree.flatten(outputs), expected):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(want), atol=1e-6)
        weights = keras.ops.convert_to_numpy(weights)
        assert weights.shape == (2, 4) and (weights[1, 2:] == 0).all()
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
        assert keras.ops.convert_to_numpy(rnn_outputs).shape == (2, 4, 3)
    # The twin inside the nested one follows the encoder's weights when told to.
    inspector = package.inspection_model(nested)
    (layer,) = attention_layers(nested)
    layer.set_weights([w + 0.5 for w in layer.get_weights()])
    update_inspection_model(inspector, nested)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(inspector(ids)[0]), keras.ops.convert_to_numpy(nested(ids)),
                               atol=1e-6)


def test_inspection_model_needs_a_graph_with_an_attention_layer():
    with pytest.raises(ValueError, match="has no AttentionLayer"):
        package.inspection_model(keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]))

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="is subclassed"):
        package.inspection_model(Subclassed())


def test_hierarchical_model_of_the_paper(tmp_path):
    # Yang et al.'s two levels: words into sentence vectors, sentences into a document vector.
    # A padded sentence (all words masked) is encoded as exactly 0, so Masking hides it from
    # the sentence level. Five sentences: with an unknown number, TimeDistributed takes a
    # vectorised map on TensorFlow, which fails once the number of sentences changes.
    words = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(50, 8, mask_zero=True)(words)
    x = keras.layers.Bidirectional(keras.layers.GRU(6, return_sequences=True))(x)
    sentence_encoder = keras.Model(words, AttentionLayer(5)(x))
    document = keras.Input(shape=(5, None), dtype="int32")
    s = keras.layers.TimeDistributed(sentence_encoder)(document)
    s = keras.layers.Masking(0.0)(s)
    s = keras.layers.Bidirectional(keras.layers.GRU(6, return_sequences=True))(s)
    pooled, alphas = AttentionLayer(5, return_alphas=True)(s)
    model = keras.Model(document, [keras.layers.Dense(1)(pooled), alphas])

    docs = np.random.default_rng(0).integers(1, 50, (4, 5, 7))
    docs[:, :, 5:] = 0
    docs[0, 2:], docs[1, 4:], docs[2, 1:] = 0, 0, 0
    logits, weights = (keras.ops.convert_to_numpy(t) for t in model(docs))
    sentences = (docs != 0).any(axis=2)
    assert (weights[~sentences] == 0).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    # More padding words change nothing: the word-level mask reaches the inner model.
    wider = np.concatenate([docs, np.zeros((4, 5, 3), docs.dtype)], axis=2)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(wider)[0]), logits, rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "han.keras")
    restored = keras.models.load_model(tmp_path / "han.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(restored(docs)[0]), logits, rtol=1e-5, atol=1e-6)


def test_config_round_trip():
    layer = AttentionLayer(7, time_major=True, return_alphas=True, bias_initializer="zeros", name="att",
                           kernel_regularizer=keras.regularizers.L2(0.3), context_constraint="non_neg",
                           activity_regularizer="l1", use_bias=False)
    config = layer.get_config()
    weights = ("kernel", "bias", "context")
    assert config["use_bias"] is False
    assert {"attention_size", "time_major", "return_alphas", "activity_regularizer"} | {
        f"{w}_{kind}" for w in weights for kind in ("initializer", "regularizer", "constraint")} <= set(config)
    assert config["kernel_regularizer"]["config"]["l2"] == pytest.approx(0.3)
    assert config["context_constraint"] is not None and config["bias_regularizer"] is None
    clone = AttentionLayer.from_config(config)
    assert clone.get_config() == config
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(restored, AttentionLayer) and restored.get_config() == config


def test_config_of_a_file_saved_before_regularizers_and_constraints_loads():
    config = AttentionLayer(4).get_config()
    older = {k: v for k, v in config.items() if not k.endswith(("_regularizer", "_constraint")) and k != "use_bias"}
    layer = AttentionLayer.from_config(older)
    layer.build((2, 3, 6))
    assert layer.losses == [] and all(w.constraint is None for w in layer.weights)
    assert layer.get_config() == config and len(layer.weights) == 3


def test_compute_output_shape():
    assert AttentionLayer(3).compute_output_shape((None, 10, 8)) == (None, 8)
    assert AttentionLayer(3, return_alphas=True).compute_output_shape((2, 10, 8)) == ((2, 8), (2, 10))
    assert AttentionLayer(3, time_major=True).compute_output_shape((10, 2, 8)) == (2, 8)
    assert AttentionLayer(3).compute_output_shape(((2, 10, 8), (2, 10, 4))) == (2, 12)


def test_keras_file_round_trip_in_fresh_process(tmp_path):
    model = small_model()
    x = np.array([[1, 2, 3, 0], [4, 5, 0, 0], [6, 7, 8, 9]])
    path = tmp_path / "m.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", model.predict(x, verbose=0))
    # A fresh interpreter proves the layer is registered on import alone,
    # without custom_objects.
    code = textwrap.dedent(
        f"""
        import numpy as np, keras
        import attention
        model = keras.models.load_model({str(path)!r})
        got = model.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0)
        np.testing.assert_array_equal(got, np.load({str(tmp_path / 'expected.npy')!r}))
        print("ok", type(model.layers[2]).__name__)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ok AttentionLayer" in result.stdout


@pytest.mark.parametrize(
    "inputs, match",
    [
        (np.zeros((2, 5), "float32"), "3-D tensor.*2-D"),
        (np.zeros((2, 5, 3, 1), "float32"), "3-D tensor.*4-D"),
        ((np.zeros((2, 5, 3), "float32"),) * 3, "tuple of 3"),
        ((np.zeros((2, 5, 3), "float32"), np.zeros((3, 5, 3), "float32")), "same batch"),
        ((np.zeros((2, 5, 3), "float32"), np.zeros((2, 4, 3), "float32")), "same time"),
    ],
)
def test_bad_inputs(inputs, match):
    with pytest.raises(ValueError, match=match):
        AttentionLayer(4)(inputs)


@pytest.mark.parametrize("shapes, match", [(((6, 3, 2), (5, 3, 2)), "same time"), (((6, 3, 2), (6, 4, 2)), "same batch")])
def test_a_time_major_pair_that_differs_names_the_axis_that_differs(shapes, match):
    with pytest.raises(ValueError, match=match):
        AttentionLayer(4, time_major=True)(tuple(np.zeros(s, "float32") for s in shapes))


def test_unknown_depth():
    with pytest.raises(ValueError, match="known last"):
        AttentionLayer(4)(keras.Input(shape=(5, None)))


@pytest.mark.parametrize("size", [0, -3, 2.5, None, True])
def test_bad_attention_size(size):
    with pytest.raises(ValueError, match="positive integer"):
        AttentionLayer(size)


@pytest.mark.parametrize("argument, value, match", [
    ("attention_size", "5", "positive integer, got '5'"), ("embedding_dim", None, "positive integer, got None"),
    ("hidden_size", 2.5, "positive integer, got 2.5"), ("vocabulary_size", 0, "positive integer"),
    ("num_classes", 1, "at least 2"), ("keep_prob", 0.0, r"\(0, 1\]"), ("keep_prob", "0.5", r"\(0, 1\]"),
    ("learning_rate", -1.0, "positive number"), ("learning_rate", float("nan"), "positive number"),
])
def test_build_model_refuses_bad_arguments(argument, value, match):
    with pytest.raises(ValueError, match=match):
        package.build_model(**{argument: value})
    package.build_model(30, 4, np.int64(3), 2, learning_rate=np.float32(0.01))  # NumPy's numbers are numbers

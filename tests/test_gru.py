"""ConcatGRU computes exactly what keras.layers.GRU(reset_after=False) computes."""

import keras
import numpy as np
import pytest
from gradients import layer_gradients

from attention.gru import ConcatGRU


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("reset_after", [False, True])
def test_outputs_and_gradients_match_keras_gru(go_backwards, reset_after, use_bias):
    x = np.random.default_rng(0).normal(size=(4, 7, 5)).astype("float32")
    mask = np.ones((4, 7), dtype=bool)
    mask[1, 3:] = False
    mask[2, :] = False
    kwargs = dict(units=6, return_sequences=True, reset_after=reset_after, go_backwards=go_backwards, use_bias=use_bias)
    reference, layer = keras.layers.GRU(**kwargs), ConcatGRU(**kwargs)
    reference.build(x.shape)
    layer.build(x.shape)
    rng = np.random.default_rng(1)  # non-zero biases too, so that their gradients are checked
    reference.set_weights([rng.normal(0.0, 0.5, w.shape).astype("float32") for w in reference.get_weights()])
    layer.set_weights(reference.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x, mask=mask)),
                               keras.ops.convert_to_numpy(reference(x, mask=mask)), atol=1e-6)
    loss = lambda outputs: keras.ops.sum(outputs**2)  # noqa: E731
    got = layer_gradients(layer, loss, [x], mask=mask)
    expected = layer_gradients(reference, loss, [x], mask=mask)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=1e-5)


def test_other_activations_take_the_plain_step():
    x = np.random.default_rng(2).normal(size=(3, 5, 4)).astype("float32")
    kwargs = dict(units=3, return_sequences=True, reset_after=False, activation="relu", recurrent_activation="hard_sigmoid")
    reference, layer = keras.layers.GRU(**kwargs), ConcatGRU(**kwargs)
    reference.build(x.shape)
    layer.build(x.shape)
    layer.set_weights(reference.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), keras.ops.convert_to_numpy(reference(x)), atol=1e-6)


def test_hand_written_gradient_where_it_runs():
    backend = keras.backend.backend()
    assert ConcatGRU(3, reset_after=False)._hand_written_gradient() == (backend in ("tensorflow", "jax"))
    assert not ConcatGRU(3, reset_after=False, activation="relu")._hand_written_gradient()
    assert not ConcatGRU(3, reset_after=False, recurrent_activation="hard_sigmoid")._hand_written_gradient()


def test_config_and_weights_are_those_of_gru(tmp_path):
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.Bidirectional(ConcatGRU(4, reset_after=False))])
    assert [w.shape for w in model.weights[:3]] == [(3, 12), (4, 12), (12,)]
    model.save(tmp_path / "m.keras")
    restored = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(restored.layers[0].forward_layer, ConcatGRU)
    x = np.ones((2, 5, 3), "float32")
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="XLA through jit_compile is TensorFlow's")
def test_trains_under_xla_as_without():
    # Keras compiles with XLA by default on a GPU: the hand-written gradient must compile too.
    x = np.random.default_rng(3).normal(size=(4, 6, 3)).astype("float32")
    y = np.array([0.0, 1.0, 1.0, 0.0], "float32")
    losses = []
    for jit_compile in (False, True):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((None, 3)), keras.layers.Bidirectional(ConcatGRU(5, reset_after=False)),
                                  keras.layers.Dense(1)])
        model.compile("adam", keras.losses.BinaryCrossentropy(from_logits=True), jit_compile=jit_compile)
        losses.append([float(model.train_on_batch(x, y)) for _ in range(3)])
    np.testing.assert_allclose(losses[1], losses[0], atol=1e-5)

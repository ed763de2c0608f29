"""BidirectionalGRU computes what Bidirectional(ConcatGRU) computes, in whichever loop it runs."""

import keras
import numpy as np
import pytest
from gradients import layer_gradients

import attention.bidirectional as bidirectional
from attention import build_model
from attention.bidirectional import LOOPS, BidirectionalGRU
from attention.gru import ConcatGRU

STACKED = ("stacked", "stacked_hoisted")


def inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A batch with a short row, a fully masked row and a full row, post-padded as the pipeline pads."""
    x = np.random.default_rng(seed).normal(size=(4, 7, 5)).astype("float32")
    mask = np.ones((4, 7), dtype=bool)
    mask[1, 3:] = False
    mask[2, :] = False
    mask[3, 5:] = False
    return x, mask


def layers(merge_mode: str | None = None, **gru: object) -> dict[str, BidirectionalGRU]:
    """One built layer per loop, all with the same (random, non-zero) weights."""
    x, _ = inputs()
    made = {}
    gru = {"reset_after": False, **gru}
    for loop in LOOPS[1:]:
        layer = BidirectionalGRU(ConcatGRU(6, return_sequences=True, **gru), merge_mode=merge_mode, loop=loop)
        layer.build(x.shape)
        made[loop] = layer
    rng = np.random.default_rng(1)
    weights = [rng.normal(0.0, 0.5, w.shape).astype("float32") for w in made["per_direction"].get_weights()]
    for layer in made.values():
        layer.set_weights(weights)
    return made


def numpy(outputs: object) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(t) for t in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


@pytest.mark.parametrize("loop", STACKED)
@pytest.mark.parametrize("merge_mode", [None, "concat", "sum", "ave", "mul"])
@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize("reset_after", [False, True])
def test_outputs_match_the_loop_per_direction(loop, merge_mode, masked, reset_after):
    x, mask = inputs()
    made = layers(merge_mode, reset_after=reset_after)
    kwargs = {"mask": mask} if masked else {}
    assert made[loop].loop_in_force(x) == ("stacked_hoisted" if reset_after else loop)
    expected = numpy(made["per_direction"](x, **kwargs))
    got = numpy(made[loop](x, **kwargs))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, atol=2e-6)
    if masked and merge_mode is None:
        assert not np.any(got[0][1, 3:]) and not np.any(got[1][2])  # masked steps output zeros


@pytest.mark.parametrize("loop", STACKED)
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("reset_after", [False, True])
def test_gradients_match_the_loop_per_direction(loop, use_bias, reset_after):
    x, mask = inputs(3)
    made = layers(use_bias=use_bias, reset_after=reset_after)
    loss = lambda outputs: keras.ops.sum(outputs[0] ** 2) + keras.ops.sum(outputs[1] * 0.5)  # noqa: E731
    expected = layer_gradients(made["per_direction"], loss, [x], mask=mask)
    got = layer_gradients(made[loop], loss, [x], mask=mask)
    assert made[loop].loop_in_force(x) == ("stacked_hoisted" if reset_after else loop)
    assert len(got) == len(expected) == 1 + (6 if use_bias else 4)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=1e-5)
    assert np.any(got[0]) and not np.any(got[0][2])  # the fully masked row gets no gradient


def test_other_activations():
    x, mask = inputs(4)
    made = layers(activation="relu", recurrent_activation="hard_sigmoid")
    expected = numpy(made["per_direction"](x, mask=mask))
    for loop in STACKED:
        for g, e in zip(numpy(made[loop](x, mask=mask)), expected):
            np.testing.assert_allclose(g, e, atol=2e-6)


@pytest.mark.parametrize(
    "gru, layer_kwargs",
    [({"dropout": 0.1}, {}), ({"recurrent_dropout": 0.1}, {}), ({"return_sequences": False}, {}),
     ({"return_state": True}, {})],
)
def test_runs_per_direction_where_stacking_cannot(gru, layer_kwargs):
    options = {"return_sequences": True, "reset_after": False, **gru}
    layer = BidirectionalGRU(ConcatGRU(3, **options), loop="stacked", **layer_kwargs)
    x, mask = inputs()
    layer(x, mask=mask)
    assert layer.loop_in_force(x) == "per_direction"


def test_directions_that_differ_run_per_direction():
    backward = ConcatGRU(3, return_sequences=True, reset_after=True, go_backwards=True)
    layer = BidirectionalGRU(ConcatGRU(3, return_sequences=True, reset_after=False), backward_layer=backward,
                             loop="stacked")
    x, mask = inputs()
    layer(x, mask=mask)
    assert layer.loop_in_force(x) == "per_direction"


def test_a_subclass_of_concat_gru_runs_its_own_step():
    @keras.saving.register_keras_serializable(package="tests")
    class Subclass(ConcatGRU):
        pass

    layer = BidirectionalGRU(Subclass(3, return_sequences=True, reset_after=False), loop="stacked")
    assert layer.loop_in_force(inputs()[0]) == "per_direction"


@pytest.mark.parametrize("reset_after", [False, True])
def test_auto_picks_the_measured_loop_for_this_backend_on_cpu(reset_after):
    layer = BidirectionalGRU(ConcatGRU(3, return_sequences=True, reset_after=reset_after))
    on_torch = "cudnn" if reset_after else "stacked"
    expected = {"tensorflow": "per_direction", "jax": "per_direction", "torch": on_torch}[keras.backend.backend()]
    assert layer.loop_in_force(inputs()[0]) == expected


@pytest.mark.parametrize("reset_after", [False, True])
def test_auto_picks_the_measured_loop_for_this_backend_on_a_gpu(reset_after, monkeypatch):
    # BENCHMARKS.md, on an H200: JAX's stacked scan unrolled, PyTorch's hoisted loop as CUDA graphs
    # (the original math) or PyTorch's GRU kernel (reset_after). TensorFlow has no GPU here.
    monkeypatch.setattr(bidirectional, "_on_gpu", lambda sequences: True)
    layer = BidirectionalGRU(ConcatGRU(3, return_sequences=True, reset_after=reset_after))
    on_torch = "cudnn" if reset_after else "graphed"
    expected = {"tensorflow": "per_direction", "jax": "stacked_hoisted", "torch": on_torch}[keras.backend.backend()]
    assert layer.loop_in_force(inputs()[0]) == expected


def test_graphed_runs_the_hoisted_loop_off_a_pytorch_gpu():
    layer = BidirectionalGRU(ConcatGRU(3, return_sequences=True, reset_after=False), loop="graphed")
    assert layer.loop_in_force(inputs()[0]) == "stacked_hoisted"


@pytest.mark.parametrize("reset_after", [False, True])
def test_unrolled_scan_computes_the_same(reset_after, monkeypatch):
    x, mask = inputs()
    made = layers(reset_after=reset_after)
    unrolls = []
    scan = bidirectional.scan
    monkeypatch.setattr(bidirectional, "scan", lambda *args: unrolls.append(args[3]) or scan(*args))
    expected = numpy(made["per_direction"](x, mask=mask))
    monkeypatch.setattr(bidirectional, "_on_gpu", lambda sequences: True)
    got = numpy(made["stacked_hoisted"](x, mask=mask))
    if keras.backend.backend() == "jax":
        assert unrolls == [bidirectional.JAX_GPU_UNROLL] and bidirectional.JAX_GPU_UNROLL > 1
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=2e-6)


def test_rejects_an_unknown_loop():
    with pytest.raises(ValueError, match="`loop` must be one of"):
        BidirectionalGRU(ConcatGRU(3, return_sequences=True), loop="fused")


def test_config_round_trip_and_weights_of_bidirectional(tmp_path):
    made = layers()
    config = made["stacked"].get_config()
    assert config["loop"] == "stacked" and config["merge_mode"] is None
    copy = BidirectionalGRU.from_config(config)
    assert copy.loop == "stacked" and isinstance(copy.forward_layer, ConcatGRU) and copy.backward_layer.go_backwards
    # A model saved with keras.layers.Bidirectional (before this layer) gives its weights to this one, and back.
    x, mask = inputs()
    plain = keras.layers.Bidirectional(ConcatGRU(6, return_sequences=True, reset_after=False), merge_mode=None)
    plain.build(x.shape)
    plain.set_weights(made["stacked"].get_weights())
    for g, e in zip(numpy(made["stacked"](x, mask=mask)), numpy(plain(x, mask=mask))):
        np.testing.assert_allclose(g, e, atol=2e-6)
    names = lambda layer: [(w.path.split("/", 1)[0][:8], w.name, w.shape) for w in layer.weights]  # noqa: E731
    assert names(plain) == names(made["stacked"])


@pytest.mark.parametrize("loop", STACKED)
@pytest.mark.parametrize("reset_after", [False, True])
def test_predict_matches_the_loop_per_direction(loop, reset_after):
    # predict runs without gradients, where the hoisted loop on PyTorch keeps nothing for a
    # backward pass and zeroes the masked steps' outputs itself.
    x, mask = inputs()
    made = layers("concat", reset_after=reset_after)
    got = {}
    for name in ("per_direction", loop):
        x_in, mask_in = keras.Input(x.shape[1:]), keras.Input(mask.shape[1:], dtype="bool")
        got[name] = keras.Model([x_in, mask_in], made[name](x_in, mask=mask_in)).predict([x, mask], verbose=0)
    assert not np.any(got[loop][1, 3:]) and not np.any(got[loop][2])
    np.testing.assert_allclose(got[loop], got["per_direction"], atol=2e-6)


@pytest.mark.parametrize("loop, reset_after", [("stacked", False), ("stacked_hoisted", False), ("stacked", True)])
@pytest.mark.parametrize("jit_compile", ["auto", True])
def test_model_trains_and_reloads_with_each_loop(loop, reset_after, jit_compile, tmp_path):
    # One SGD step at learning rate 1 moves each weight by its gradient: equal steps, equal gradients.
    # Under XLA too (jit_compile=True), which needs loops of a known number of steps on TensorFlow.
    if jit_compile is True and (keras.backend.backend() != "tensorflow" or reset_after):
        pytest.skip("XLA on TensorFlow (JAX compiles every model so), once for each kind of step")
    rng = np.random.default_rng(5)
    x = rng.integers(1, 50, (6, 9)).astype("int32")
    x[1, 4:] = 0
    x[2, 1:] = 0
    y = np.array([0, 1, 1, 0, 1, 0], "float32")
    trained = {}
    for name in ("per_direction", loop):
        keras.utils.set_random_seed(3)
        model = build_model(50, 8, 6, 4, keep_prob=1.0, reset_after=reset_after)
        model.get_layer("bi_gru").loop = name
        model.compile(keras.optimizers.SGD(1.0), keras.losses.BinaryCrossentropy(from_logits=True),
                      jit_compile=jit_compile if name == loop else False)
        model.train_on_batch(x, y)
        trained[name] = model
    for g, e in zip(trained[loop].get_weights(), trained["per_direction"].get_weights()):
        np.testing.assert_allclose(g, e, atol=1e-5)
    trained[loop].save(tmp_path / "m.keras")
    restored = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(restored.get_layer("bi_gru"), BidirectionalGRU) and restored.get_layer("bi_gru").loop == loop
    np.testing.assert_allclose(restored.predict(x, verbose=0), trained[loop].predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("loop", STACKED)
def test_mixed_precision(loop):
    x, mask = inputs(6)
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        made = layers()
        expected = numpy(made["per_direction"](x, mask=mask))
        got = made[loop](x, mask=mask)
        assert keras.backend.standardize_dtype(got[0].dtype) == "bfloat16"
        for g, e in zip(numpy(got), expected):
            np.testing.assert_allclose(g.astype("float32"), e.astype("float32"), atol=0.05)
    finally:
        keras.config.set_dtype_policy("float32")


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="Keras's scan indexes step by step on PyTorch only")
def test_torch_loop_takes_steps_as_views_not_slices():
    # Keras's scan takes xs[i] at each step on PyTorch; the gradient of each slice is a zero-filled
    # copy of the whole sequence (SelectBackward), which made training 2 to 4 times slower.
    import torch

    x, mask = inputs()
    for layer in (layers()["stacked"], ConcatGRU(6, return_sequences=True, reset_after=False)):
        names = autograd_nodes(layer(torch.tensor(x, requires_grad=True), mask=torch.tensor(mask)))
        assert "UnbindBackward0" in names
        assert sum(name.startswith("SelectBackward") for name in names) < x.shape[1]  # not one per step


def autograd_nodes(outputs: object) -> list[str]:
    """The names of the PyTorch autograd nodes that `outputs` were computed through."""
    seen, stack = set(), [t.grad_fn for t in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return [type(node).__name__ for node in seen]


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the loop written for PyTorch's autograd")
@pytest.mark.parametrize("masked", [True, False])
def test_torch_loop_gradient_is_exact(masked):
    # Finite differences in float64 against the hand-written backward, with a mask that skips
    # steps in the middle and at both ends (the layer's own masks only pad), and a random
    # gradient at every output, masked steps included.
    import torch
    from torch_ops import recurrence_arguments

    from attention import torch_loop

    inputs, recurrent, masks = recurrence_arguments(masked)
    assert torch.autograd.gradcheck(lambda i, r: torch_loop.recurrence(i, r, masks), (inputs, recurrent))


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="PyTorch's autograd")
def test_torch_hoisted_loop_is_one_autograd_node():
    # Autograd would record every op of every step and replay them one by one; the whole
    # recurrence is one node, whatever the number of steps.
    import torch

    x, mask = inputs()
    layer = layers("concat")["stacked_hoisted"]
    counts = []
    for steps in (4, 7):
        x_t, mask_t = torch.tensor(x[:, :steps], requires_grad=True), torch.tensor(mask[:, :steps])
        names = autograd_nodes(layer(x_t, mask=mask_t))
        assert names.count("_GRUBackward") == 1
        counts.append(len(names))
    assert counts[0] == counts[1]


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="a tensor made from Python data is PyTorch's")
@pytest.mark.parametrize("reset_after", [False, True])
def test_torch_loops_never_copy_python_data_to_the_device(reset_after):
    # Keras's `ops.split` with a list of split points puts the list on the device and reads it back:
    # on a GPU, a wait at every step of the loop, and no CUDA graph can capture it.
    import torch
    from torch_ops import HOST_ROUND_TRIPS, OpsSeen

    x, mask = inputs()
    made = layers("concat", reset_after=reset_after)
    # Per direction with reset_after is Keras's own loop, which counts steps with a tensor.
    for loop in STACKED if reset_after else (*STACKED, "per_direction"):
        x_t, mask_t = torch.tensor(x, requires_grad=True), torch.tensor(mask)
        with OpsSeen() as ops:
            outputs = made[loop](x_t, mask=mask_t)
            torch.autograd.grad(outputs, [x_t, *(w.value for w in made[loop].weights)], torch.ones_like(outputs))
        assert {"mm.default", "bmm.default"} & ops.names, loop  # the spy saw the loop
        assert not HOST_ROUND_TRIPS & ops.names, loop


@pytest.mark.parametrize("reset_after", [False, True])
def test_cudnn_loop_is_pytorchs_kernel_for_reset_after_on_pytorch_only(reset_after):
    layer = layers(reset_after=reset_after)["cudnn"]
    x, mask = inputs()
    on_kernel = reset_after and keras.backend.backend() == "torch"
    assert layer.loop_in_force(x) == ("cudnn" if on_kernel else "stacked_hoisted")
    expected = numpy(layers(reset_after=reset_after)["per_direction"](x, mask=mask))
    for g, e in zip(numpy(layer(x, mask=mask)), expected):
        np.testing.assert_allclose(g, e, atol=2e-6)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="PyTorch's GRU kernel")
@pytest.mark.parametrize("padding", ["post", "none", "pre"])
def test_cudnn_loop_outputs_and_gradients(padding):
    from unittest import mock

    from attention import torch_gru

    x, mask = inputs(7)
    if padding == "pre":
        mask = mask[:, ::-1].copy()  # real steps last: not lengths, so the call runs stacked_hoisted
    made = layers(reset_after=True)
    loss = lambda outputs: keras.ops.sum(outputs[0] ** 2) + keras.ops.sum(outputs[1] * 0.5)  # noqa: E731
    kwargs = {} if padding == "none" else {"mask": mask}
    expected = layer_gradients(made["per_direction"], loss, [x], **kwargs)
    with mock.patch.object(torch_gru, "_run", wraps=torch_gru._run) as kernel:
        got = layer_gradients(made["cudnn"], loss, [x], **kwargs)
    assert kernel.call_count == (0 if padding == "pre" else 2)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=1e-5)
    outputs = numpy(made["cudnn"](x, **kwargs))
    for g, e in zip(outputs, numpy(made["per_direction"](x, **kwargs))):
        np.testing.assert_allclose(g, e, atol=2e-6)
    if padding == "post":
        assert not np.any(outputs[1][1, 3:]) and not np.any(outputs[0][2])

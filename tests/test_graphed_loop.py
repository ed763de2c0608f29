"""`attention.torch_graphs`, the stacked loop as CUDA graphs (`loop="graphed"`), without the graphs.

On a CPU the capture is replaced by the function itself, so everything around it runs:
widths rounded up with masked steps, one capture per shape, the weights passed in as
arguments through `keras.StatelessScope` so that their gradients reach the optimizer.
"""

import functools

import keras
import numpy as np
import pytest

if keras.backend.backend() != "torch":
    pytest.skip("the graphed loop is PyTorch's", allow_module_level=True)

import torch  # noqa: E402
from torch_ops import Captures  # noqa: E402

import attention.bidirectional as bidirectional  # noqa: E402
from attention import build_model, torch_graphs  # noqa: E402
from attention.torch_graphs import cuda_graphed  # noqa: E402


def outputs_and_gradients(loop, layer, x, mask):
    x = torch.tensor(x, requires_grad=True)
    y, y_rev = loop(x, None if mask is None else torch.tensor(mask), layer.forward_layer, layer.backward_layer, True)
    loss = (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum() + (y_rev**2).sum()
    gradients = torch.autograd.grad(loss, [x, *(v.value for v in layer.weights)])
    return [t.detach().numpy() for t in (y, y_rev, *gradients)]


@pytest.mark.parametrize("reset_after", [False, True])
def test_same_outputs_and_gradients_as_the_loop(reset_after):
    keras.utils.set_random_seed(0)
    layer = build_model(50, 8, 6, 4, reset_after=reset_after).get_layer("bi_gru")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 37, 8)).astype("float32")
    mask = np.arange(37) < np.array([[37], [20], [3], [1], [36]])
    captures = Captures()
    graphed = cuda_graphed(bidirectional.stacked_gru, make_graphed=captures, device_type="cpu")
    for m in (mask, None):
        expected = outputs_and_gradients(bidirectional.stacked_gru, layer, x, m)
        got = outputs_and_gradients(graphed, layer, x, m)
        assert got[0].shape == (5, 37, 6)
        for a, b in zip(expected, got):
            np.testing.assert_allclose(a, b, atol=1e-5)
    assert captures.shapes == [(5, 64, 8)]  # the width rounded up to 32 steps; one capture for both calls


def test_one_capture_per_rounded_shape():
    keras.utils.set_random_seed(0)
    layer = build_model(50, 8, 6, 4).get_layer("bi_gru")
    captures = Captures()
    graphed = cuda_graphed(bidirectional.stacked_gru, width_step=16, make_graphed=captures, device_type="cpu")
    for batch, width in [(4, 10), (4, 16), (4, 17), (3, 17), (4, 30)]:
        x = torch.ones((batch, width, 8))
        y, _ = graphed(x, torch.ones((batch, width), dtype=torch.bool), layer.forward_layer, layer.backward_layer)
        assert tuple(y.shape) == (batch, width, 6)
    assert captures.shapes == [(4, 16, 8), (4, 32, 8), (3, 32, 8)]


def test_training_through_the_graphed_loop_updates_the_weights_alike(monkeypatch):
    # On a PyTorch GPU "auto" takes the graphed loop; here the "GPU" is the CPU and the capture is
    # the function itself, so the whole path of the layer's call runs.
    rng = np.random.default_rng(1)
    x = rng.integers(1, 50, (6, 21)).astype("int32")
    x[2, 9:] = 0
    y = np.array([0, 1, 1, 0, 1, 0], "float32")

    def trained():
        keras.utils.set_random_seed(3)
        model = build_model(50, 8, 6, 4, keep_prob=1.0)
        model.fit(x, y, batch_size=6, epochs=2, verbose=0)
        return model.get_weights()

    expected = trained()
    captures = Captures()
    monkeypatch.setattr(bidirectional, "_on_gpu", lambda sequences: True)
    monkeypatch.setattr(torch_graphs, "cuda_graphed",
                        functools.partial(cuda_graphed, make_graphed=captures, device_type="cpu"))
    assert build_model(50, 8, 6, 4).get_layer("bi_gru").loop_in_force(torch.ones((1, 3, 8))) == "graphed"
    got = trained()
    assert captures.shapes == [(6, 32, 8)]  # both epochs went through one capture
    for a, b in zip(expected, got):
        np.testing.assert_allclose(a, b, atol=1e-5)

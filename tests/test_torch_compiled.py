"""`benchmarks.torch_compiled`, the `compiled` benchmark token: the hand-written loop with its steps compiled.

The steps compile with `aot_eager` here: Dynamo's and AOTAutograd's tracing as on a GPU,
without Inductor's code generation (seconds, and no C++ compiler needed).
"""

import keras
import numpy as np
import pytest

if keras.backend.backend() != "torch":
    pytest.skip("the compiled steps are PyTorch's", allow_module_level=True)

import torch  # noqa: E402
from torch_ops import Captures, recurrence_arguments  # noqa: E402

import attention.bidirectional as bidirectional  # noqa: E402
from attention import build_model, torch_loop  # noqa: E402
from attention.torch_graphs import cuda_graphed  # noqa: E402
from benchmarks import torch_compiled  # noqa: E402


@pytest.fixture(autouse=True)
def cheap_compiles(monkeypatch):
    monkeypatch.setattr(torch_compiled, "BACKEND", "aot_eager")


@pytest.mark.parametrize("masked", [True, False])
def test_same_outputs_and_gradients_as_the_hand_written_loop(masked):
    # attention.torch_loop's gradient is checked against finite differences; here the compiled
    # loop against it, with steps masked anywhere and a random gradient at every output.
    inputs, recurrent, masks = recurrence_arguments(masked, steps=6, units=4)
    d_outputs = torch.randn(6, 2, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    results = []
    for recurrence in (torch_loop.recurrence, torch_compiled.recurrence):
        outputs = recurrence(inputs, recurrent, masks)
        gradients = torch.autograd.grad(outputs, (inputs, recurrent), d_outputs)
        with torch.no_grad():
            inference = recurrence(inputs, recurrent, masks)
        results.append([outputs.detach(), *gradients, inference])
    assert results[1][2].abs().sum() > 0  # the kernels' gradient, computed after the loop
    for expected, got in zip(*results):
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_the_graphed_loop_runs_the_compiled_steps(monkeypatch):
    # The benchmark's compiled+graphed: the layer's weights through keras.StatelessScope, widths
    # rounded up with masked steps.
    keras.utils.set_random_seed(0)
    layer = build_model(50, 8, 6, 4).get_layer("bi_gru")
    x = torch.tensor(np.random.default_rng(0).normal(size=(3, 11, 8)).astype("float32"))
    mask = torch.tensor(np.arange(11) < np.array([[11], [4], [1]]))

    def outputs_and_gradients(loop):
        x_ = x.clone().requires_grad_(True)
        y, y_rev = loop(x_, mask, layer.forward_layer, layer.backward_layer, True)
        loss = (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum() + (y_rev**2).sum()
        return [y, y_rev, *torch.autograd.grad(loss, [x_, *(v.value for v in layer.weights)])]

    expected = outputs_and_gradients(bidirectional.stacked_gru)
    calls = []
    monkeypatch.setattr(torch_loop, "recurrence", lambda *args: calls.append(1) or torch_compiled.recurrence(*args))
    captures = Captures(check_ops=False)
    got = outputs_and_gradients(cuda_graphed(bidirectional.stacked_gru, make_graphed=captures, device_type="cpu"))
    assert calls and captures.shapes == [(3, 32, 8)]
    for a, b in zip(expected, got):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)

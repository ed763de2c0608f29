"""`benchmarks.torch_fused`, the `fused` benchmark token: the hand-written loop as two Triton kernels.

Runs where Triton can: on a CUDA GPU, or on a CPU under Triton's interpreter
(`TRITON_INTERPRET=1`; with Triton 3.6 it needs NumPy below 2.4). Elsewhere, CI
included, the module is skipped.
"""

import os

import keras
import numpy as np
import pytest

if keras.backend.backend() != "torch":
    pytest.skip("the fused kernels are PyTorch's", allow_module_level=True)

import torch  # noqa: E402

pytest.importorskip("triton")
if not (torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"):
    pytest.skip("Triton runs on a CUDA GPU, or on a CPU with TRITON_INTERPRET=1", allow_module_level=True)

from torch_ops import Captures  # noqa: E402

import attention.bidirectional as bidirectional  # noqa: E402
from attention import build_model, torch_loop  # noqa: E402
from attention.torch_graphs import cuda_graphed  # noqa: E402
from benchmarks import torch_fused  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# Float64 under the interpreter (NumPy); float32 on a GPU, in full precision.
DTYPE, TOLERANCE = (torch.float32, 1e-5) if DEVICE == "cuda" else (torch.float64, 1e-12)


@pytest.fixture(autouse=True)
def full_float32_matmuls():
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    yield
    torch.set_float32_matmul_precision(precision)


@pytest.mark.parametrize("masked", [True, False])
def test_same_outputs_and_gradients_as_the_hand_written_loop(masked):
    # More rows than a program takes and more units than a slice of the matmuls, so that both
    # the rows and the columns are cut into blocks with a ragged last one; steps masked anywhere.
    steps, batch, units = 5, torch_fused.ROWS + 4, torch_fused.CHUNK + 8
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(steps, 2, batch, 3 * units, dtype=DTYPE, generator=generator).to(DEVICE)
    recurrent = (torch.randn(2, units, 3 * units, dtype=DTYPE, generator=generator) / units**0.5).to(DEVICE)
    masks = (torch.rand(steps, 2, batch, 1, generator=generator) > 0.3).to(DEVICE) if masked else None
    d_outputs = torch.randn(steps, 2, batch, units, dtype=DTYPE, generator=generator).to(DEVICE)
    results = []
    for recurrence in (torch_loop.recurrence, torch_fused.recurrence):
        x, kernel = inputs.clone().requires_grad_(True), recurrent.clone().requires_grad_(True)
        outputs = recurrence(x, kernel, masks)
        gradients = torch.autograd.grad(outputs, (x, kernel), d_outputs)
        with torch.no_grad():
            inference = recurrence(inputs, recurrent, masks)
        results.append([outputs.detach(), *gradients, inference])
    assert results[1][0].abs().sum() > 0 and results[1][2].abs().sum() > 0
    if masked:
        assert (results[1][0][~masks.expand(-1, -1, -1, units)] == 0).all()  # zero output at a masked step
    for expected, got in zip(*results):
        torch.testing.assert_close(got, expected, rtol=TOLERANCE, atol=TOLERANCE)


@pytest.mark.parametrize("reset_after", [False, True])
def test_a_kernel_launched_again_on_its_buffers_gives_the_same_result(reset_after, monkeypatch):
    # Triton's autotuner, on a GPU, launches a kernel once for each config it times and then once
    # more, all on the caller's buffers. The backward kernel once read the last step's state
    # gradient from a buffer it also writes: every launch after the first started from the one
    # before's leftovers (input gradients 47 % off on an H200, found by benchmarks/fused_kernels.py).
    steps, batch, units = 6, torch_fused.ROWS + 4, torch_fused.CHUNK + 8
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(steps, 2, batch, 3 * units, dtype=DTYPE, generator=generator).to(DEVICE)
    recurrent = (torch.randn(2, units, 3 * units, dtype=DTYPE, generator=generator) / units**0.5).to(DEVICE)
    bias = (0.1 * torch.randn(2, 1, 3 * units, dtype=DTYPE, generator=generator)).to(DEVICE)
    masks = (torch.rand(steps, 2, batch, 1, generator=generator) > 0.3).to(DEVICE)
    d_outputs = torch.randn(steps, 2, batch, units, dtype=DTYPE, generator=generator).to(DEVICE)

    def outputs_and_gradients():
        tensors = [t.clone().requires_grad_(True) for t in (inputs, recurrent, bias)]
        outputs = torch_fused.recurrence(tensors[0], tensors[1], masks, tensors[2] if reset_after else None,
                                         reset_after=reset_after)
        gradients = torch.autograd.grad(outputs, tensors if reset_after else tensors[:2], d_outputs)
        return [outputs.detach(), *gradients]

    expected = outputs_and_gradients()
    for name in ("_FORWARD", "_BACKWARD"):
        launch = getattr(torch_fused, name)
        monkeypatch.setattr(torch_fused, name, lambda grid, launch=launch: lambda *args, **kwargs: [
            launch(grid)(*args, **kwargs) for _ in range(2)])
    got = outputs_and_gradients()
    assert all(g.abs().sum() > 0 for g in got)
    for a, b in zip(expected, got):
        torch.testing.assert_close(b, a, rtol=TOLERANCE, atol=TOLERANCE)


@pytest.mark.parametrize("reset_after", [False, True])
def test_the_graphed_layer_runs_the_fused_kernels(reset_after):
    # What the benchmark runs with the fused token, with either GRU math: the layer's weights
    # through keras.StatelessScope (the recurrent bias too with reset_after), widths rounded up
    # with masked steps. The package's loop is the reference: attention.torch_loop for the
    # original math, Keras's ops under autograd for reset_after.
    keras.utils.set_random_seed(0)
    layer = build_model(50, 8, 6, 4, reset_after=reset_after).get_layer("bi_gru")
    for weight in layer.weights:  # biases away from their zero or one start, so that their gradients tell
        weight.assign(weight + np.random.default_rng(1).normal(0, 0.3, weight.shape).astype("float32"))
    x = torch.tensor(np.random.default_rng(0).normal(size=(3, 11, 8)).astype("float32"), device=DEVICE)
    mask = torch.tensor(np.arange(11) < np.array([[11], [4], [1]]), device=DEVICE)

    def outputs_and_gradients(loop):
        x_ = x.clone().requires_grad_(True)
        y, y_rev = loop(x_, mask, layer.forward_layer, layer.backward_layer, True)
        loss = (y * torch.linspace(-1, 1, y.numel(), device=DEVICE).reshape(y.shape)).sum() + (y_rev**2).sum()
        return [y, y_rev, *torch.autograd.grad(loss, [x_, *(v.value for v in layer.weights)])]

    expected = outputs_and_gradients(bidirectional.stacked_gru)
    captures = Captures(check_ops=False) if DEVICE == "cpu" else None  # on a GPU, CUDA graphs
    got = outputs_and_gradients(cuda_graphed(torch_fused.stacked_gru, make_graphed=captures, device_type=DEVICE))
    assert captures is None or captures.shapes == [(3, 32, 8)]
    assert len(got) == 2 + 1 + len(layer.weights) and all(g.abs().sum() > 0 for g in got)
    for a, b in zip(expected, got):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)

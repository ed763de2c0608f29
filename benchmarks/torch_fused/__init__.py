"""`attention.torch_loop.recurrence` as two Triton kernels, one launch each for all steps (the `fused` token).

On a GPU the hoisted loop runs each step as a handful of kernels: two small
matmuls that leave most of the device idle, and elementwise passes between
them. CUDA graphs (`loop="graphed"`) take away the launching, `torch.compile`
fuses the elementwise passes, and still the PyTorch backend trained at a third
of JAX's speed on an H200 (BENCHMARKS.md). Here one program per direction and
block of `ROWS` rows runs all the steps itself (`kernels`): each step's
matmuls read the recurrent kernels from the GPU's cache, and the gates never
leave the program; the backward kernel walks the steps in reverse the same way.
The recurrent kernels' gradients are two matmuls over all steps after it, as
in `benchmarks.torch_compiled`. Same math and masking as `attention.torch_loop`,
or Keras's `reset_after` math (`stacked_gru`, which the benchmark puts in the
package's place, takes either); the matmuls in full float32, or in
TensorFloat-32 (JAX's default on a GPU) where
`torch.set_float32_matmul_precision` allows it.

Needs Triton (it comes with PyTorch's CUDA builds). `TRITON_INTERPRET=1` runs
the kernels on a CPU, slowly, which is how the tests check them.
"""

from __future__ import annotations

import os
from typing import Any

import keras
import torch
import triton
from keras import ops
from torch.autograd.function import once_differentiable

import attention.bidirectional as bidirectional
from benchmarks.torch_fused.kernels import backward_kernel, forward_kernel

ROWS, COLS, CHUNK, WARPS, STAGES = 16, 32, 32, 4, 2
"""The launch without autotuning (Triton's interpreter): batch rows per program (`tl.dot` needs at
least 16), the state's columns computed at a time, the depth of each slice of a matmul, warps per
program, and the slices in flight."""
CONFIGS = [triton.Config({"ROWS": 16, "COLS": cols, "CHUNK": chunk}, num_warps=warps, num_stages=2)
           for cols, chunk, warps in [(32, 32, 4), (32, 32, 8), (64, 32, 8), (64, 64, 8)]]
"""What Triton's autotuner tries on a GPU, once per width, masking, math and precision (a config that does
not fit is skipped). Each compiles for an H100 (sm_90a) with Triton 3.6, checked without a GPU."""

_INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"  # the interpreter has no libdevice
_PACKAGE_STACKED_GRU = bidirectional.stacked_gru  # kept: the benchmark puts `stacked_gru` in its place


def recurrence(inputs: torch.Tensor, recurrent: torch.Tensor, masks: torch.Tensor | None,
               recurrent_bias: torch.Tensor | None = None, reset_after: bool = False) -> torch.Tensor:
    """`attention.torch_loop.recurrence`, with the same arguments and result, run by the kernels.

    With `reset_after`, Keras's other GRU math (cuDNN's) instead: per direction,
    `z, r = sigmoid(inputs[t, :, :2H] + h @ recurrent[:, :2H] + recurrent_bias[:2H])`,
    `c = tanh(inputs[t, :, 2H:] + r * (h @ recurrent[:, 2H:] + recurrent_bias[2H:]))`,
    `h = c + z * (h - c)`; `recurrent_bias` is `(directions, 1, 3 units)` or `None`.
    """
    recurrent = recurrent.to(inputs.dtype)
    if recurrent_bias is not None:
        recurrent_bias = recurrent_bias.to(inputs.dtype)
    tensors = [t for t in (inputs, recurrent, recurrent_bias) if t is not None]
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return _FusedGRU.apply(inputs, masks, recurrent, recurrent_bias, reset_after)
    with torch.no_grad():
        states, _ = _forward(inputs, masks, recurrent, recurrent_bias, reset_after, keep=False)
    return states if masks is None else states * masks


def runs_on(device: Any) -> bool:
    """Whether the kernels run on PyTorch's `device`: a CUDA GPU, or any under Triton's interpreter."""
    return _INTERPRETED or torch.device(device).type == "cuda"


def stacked_gru(x: Any, mask: Any, forward: Any, backward: Any, hoisted: bool = False, unroll: int = 1) -> tuple:
    """`attention.bidirectional.stacked_gru` with the recurrence in the kernels, for either GRU math.

    What the benchmark's `fused` token puts in its place. Off PyTorch, off a CUDA
    device (unless under Triton's interpreter), or with other activations than
    tanh and sigmoid, it is the package's loop.
    """
    cell = forward.cell
    if not (keras.backend.backend() == "torch" and runs_on(ops.convert_to_tensor(x).device)
            and cell.activation is keras.activations.tanh and cell.recurrent_activation is keras.activations.sigmoid):
        return _PACKAGE_STACKED_GRU(x, mask, forward, backward, hoisted, unroll)
    xs = ops.transpose(x, (1, 0, 2))  # (time, batch, features)
    inputs, recurrent, recurrent_bias = bidirectional._projected_inputs(xs, forward, backward)
    outputs = recurrence(inputs, recurrent, bidirectional._step_masks(mask), recurrent_bias, cell.reset_after)
    return bidirectional._in_time_order(outputs)


TUNED: dict = {}
"""Each kernel's autotuner (on a GPU): its `cache` holds the config picked for each shape."""


def _launcher(kernel: Any) -> Any:
    """`kernel` autotuned over `CONFIGS` on a GPU; under the interpreter, with the fixed launch."""
    if _INTERPRETED:
        return lambda grid: lambda *args, **kwargs: kernel[grid({"ROWS": ROWS})](
            *args, ROWS=ROWS, COLS=COLS, CHUNK=CHUNK, num_warps=WARPS, num_stages=STAGES, **kwargs)
    # Tuned once per width, masking, math and precision: a program's work does not depend on the
    # batch. The tuner launches each config on the caller's buffers: the kernels must not depend
    # on what a launch before left there.
    tuned = TUNED[kernel.__name__] = triton.autotune(
        CONFIGS, key=["units", "HAS_MASK", "RESET_AFTER", "PRECISION"])(kernel)
    return lambda grid: tuned[grid]


def _launch(kernel: Any, inputs: torch.Tensor, *args: Any, **constants: Any) -> None:
    """`kernel` over `inputs`' directions and blocks of rows."""
    directions, batch = inputs.shape[1], inputs.shape[2]
    precision = "ieee" if torch.get_float32_matmul_precision() == "highest" else "tf32"
    grid = lambda meta: (directions, triton.cdiv(batch, meta["ROWS"]))  # noqa: E731
    kernel(grid)(*args, PRECISION=precision, **constants)


_FORWARD, _BACKWARD = _launcher(forward_kernel), _launcher(backward_kernel)


def _flat_masks(masks: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """`(time, direction, batch)` bytes (a placeholder without masks)."""
    if masks is None:
        return like.new_zeros((1,), dtype=torch.uint8)
    return masks.reshape(masks.shape[:3]).to(torch.uint8).contiguous()


def _forward(inputs: torch.Tensor, masks: torch.Tensor | None, recurrent: torch.Tensor,
             recurrent_bias: torch.Tensor | None, reset_after: bool, keep: bool) -> tuple:
    """`(states, kept)`: every step's state `(time, direction, batch, units)`, and with `keep` what the
    backward kernel needs: `(states with zeros before the first step, gates, r * h or with
    `reset_after` h @ U_h + b_h, candidates)`."""
    steps, directions, batch, features = inputs.shape
    units = features // 3
    if inputs.numel() >= 2**31:
        raise ValueError(f"The fused loop indexes with 32 bits; these inputs have {inputs.numel()} elements.")
    inputs, recurrent = inputs.contiguous(), recurrent.contiguous()
    bias = inputs.new_zeros((1,)) if recurrent_bias is None else recurrent_bias.reshape(directions, -1).contiguous()
    states = inputs.new_empty((steps + 1, directions, batch, units))
    states[0] = 0
    rh = inputs.new_empty((steps if keep else 1, directions, batch, units))
    gates = inputs.new_empty((steps if keep else 1, directions, batch, 2 * units))
    candidates = inputs.new_empty((steps, directions, batch, units)) if keep else rh
    _launch(_FORWARD, inputs, inputs, recurrent, bias, _flat_masks(masks, inputs), states, gates, rh, candidates,
            steps, batch, units, HAS_MASK=masks is not None, KEEP=keep, RESET_AFTER=reset_after,
            HAS_BIAS=recurrent_bias is not None, EXACT_TANH=not _INTERPRETED)
    return states[1:], (states, gates, rh, candidates) if keep else None


class _FusedGRU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, inputs: torch.Tensor, masks: torch.Tensor | None, recurrent: torch.Tensor,
                recurrent_bias: torch.Tensor | None, reset_after: bool) -> torch.Tensor:
        outputs, kept = _forward(inputs, masks, recurrent, recurrent_bias, reset_after, keep=True)
        ctx.reset_after, ctx.bias_shape = reset_after, None if recurrent_bias is None else recurrent_bias.shape
        ctx.save_for_backward(masks, recurrent, *kept)
        return outputs if masks is None else outputs * masks

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, d_outputs: torch.Tensor) -> tuple:
        masks, recurrent, states, gates, rh, candidates = ctx.saved_tensors
        steps, directions, batch, units = rh.shape
        d_inputs = d_outputs.new_empty((steps, directions, batch, 3 * units))
        # With reset_after, the gradient of h @ U_h + b_h at every step (else unused).
        d_hidden = d_outputs.new_empty((steps, directions, batch, units) if ctx.reset_after else (1,))
        d_states = d_outputs.new_empty((2, directions, batch, units))  # the kernel reads neither half first
        _launch(_BACKWARD, d_inputs, d_outputs.contiguous(), recurrent.transpose(1, 2).contiguous(),
                _flat_masks(masks, d_outputs), states, gates, rh, candidates, d_inputs, d_hidden, d_states,
                steps, batch, units, HAS_MASK=masks is not None, RESET_AFTER=ctx.reset_after)
        # The kernels' gradients over all steps at once; the state before the first step is zero.
        d_recurrent_zr = torch.einsum("tdbi,tdbj->dij", states[:-1], d_inputs[..., : 2 * units])
        d_recurrent_bias = None
        if ctx.reset_after:
            d_recurrent_h = torch.einsum("tdbi,tdbj->dij", states[:-1], d_hidden)
            if ctx.bias_shape is not None:
                d_recurrent_bias = torch.cat([d_inputs[..., : 2 * units].sum((0, 2)), d_hidden.sum((0, 2))], dim=-1)
                d_recurrent_bias = d_recurrent_bias.reshape(ctx.bias_shape)
        else:
            d_recurrent_h = torch.einsum("tdbi,tdbj->dij", rh, d_inputs[..., 2 * units :])
        return d_inputs, None, torch.cat([d_recurrent_zr, d_recurrent_h], dim=-1), d_recurrent_bias, None

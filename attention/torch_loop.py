"""The stacked GRU's loop on PyTorch, with its gradient written out by hand.

PyTorch's autograd records every op of every step of the loop and replays
them backwards one by one: on a GPU each of those ops is a kernel launched
from Python, too small to keep the device busy, and on a CPU their dispatch
and bookkeeping are a good part of a step. As one `torch.autograd.Function`,
the forward loop records nothing and keeps only each step's gates, `r * h`,
candidate and state; the backward loop runs a handful of ops a step
(PyTorch's own `tanh_backward` and `sigmoid_backward`), with the kernels'
gradients accumulated in place.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.function import once_differentiable


def recurrence(inputs: torch.Tensor, recurrent: torch.Tensor, masks: torch.Tensor | None,
               kernel: torch.Tensor | None = None, bias: torch.Tensor | None = None) -> torch.Tensor:
    """TF1's GRU, for every direction at once, in Keras's `[z, r, h]` weight layout.

    Each step computes, per direction `d`, from `h = 0`::

        p = x_t @ kernel[d] + bias[d]  # or inputs[t, d], projected before the loop
        z, r = sigmoid(p[:, :2H] + h @ recurrent[d, :, :2H])
        c = tanh(p[:, 2H:] + (r * h) @ recurrent[d, :, 2H:])
        h = c + z * (h - c)

    At a masked step the state carries over and the output is zero.

    Args:
        inputs: `(timesteps, directions, batch, features)`: each direction's
            steps in the order it reads them; with `kernel=None`, every step's
            `x_t @ kernel + bias` (`features = 3 * units`).
        recurrent: `(directions, units, 3 * units)`: the recurrent kernels.
        masks: `(timesteps, directions, batch, 1)` booleans, or `None`.
        kernel: `(directions, features, 3 * units)`, to project each step
            in the loop; `None` if `inputs` are projected.
        bias: `(directions, 1, 3 * units)` or `None`, with `kernel`.

    Returns:
        `(timesteps, directions, batch, units)`: every step's output.
    """
    dtype = inputs.dtype
    weights = [None if w is None else w.to(dtype) for w in (recurrent, kernel, bias)]
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (inputs, *weights)):
        return _GRU.apply(inputs, masks, *weights)
    states, _ = _forward(inputs, masks, *weights, keep=False)  # inference: keep nothing
    return states if masks is None else states * masks


def _forward(inputs: torch.Tensor, masks: torch.Tensor | None, recurrent: torch.Tensor, kernel: torch.Tensor | None,
             bias: torch.Tensor | None, keep: bool) -> tuple:
    """The loop: `(states, kept)`, `kept` being what the backward pass needs (`None` unless `keep`)."""
    steps, directions, batch, _ = inputs.shape
    units = recurrent.shape[1]
    recurrent_zr = recurrent[..., : 2 * units].contiguous()
    recurrent_h = recurrent[..., 2 * units :].contiguous()
    states = inputs.new_empty((steps, directions, batch, units))
    # Each step's gates, r * h_tm1 and candidate, written in place by the step's ops.
    kept = [inputs.new_empty((steps, directions, batch, n * units)) for n in (2, 1, 1)] if keep else None
    h = inputs.new_zeros((directions, batch, units))
    for t in range(steps):
        projected = inputs[t] if kernel is None else _project(inputs[t], kernel, bias)
        gates_t, reset_state_t, candidate_t = (buffer[t] for buffer in kept) if keep else (None, None, None)
        zr = torch.baddbmm(projected[..., : 2 * units], h, recurrent_zr, out=gates_t).sigmoid_()
        rh = torch.mul(zr[..., units:], h, out=reset_state_t)
        c = torch.baddbmm(projected[..., 2 * units :], rh, recurrent_h, out=candidate_t).tanh_()
        if masks is None:
            h = torch.lerp(c, h, zr[..., :units], out=states[t])  # c + z * (h - c)
        else:
            h = torch.where(masks[t], torch.lerp(c, h, zr[..., :units]), h, out=states[t])
    return states, (recurrent_zr, recurrent_h, *kept) if keep else None


def _project(x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.bmm(x, kernel) if bias is None else torch.baddbmm(bias, x, kernel)


class _GRU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, inputs: torch.Tensor, masks: torch.Tensor | None, recurrent: torch.Tensor,
                kernel: torch.Tensor | None, bias: torch.Tensor | None) -> torch.Tensor:
        states, kept = _forward(inputs, masks, recurrent, kernel, bias, keep=True)
        ctx.save_for_backward(inputs, masks, kernel, bias, states, *kept)
        return states if masks is None else states * masks

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, d_outputs: torch.Tensor) -> tuple:
        inputs, masks, kernel, bias, states, recurrent_zr, recurrent_h, gates, reset_states, candidates = (
            ctx.saved_tensors
        )
        steps, directions, batch, units = states.shape
        recurrent_zr_t, recurrent_h_t = recurrent_zr.transpose(1, 2), recurrent_h.transpose(1, 2)
        d_recurrent_zr, d_recurrent_h = torch.zeros_like(recurrent_zr), torch.zeros_like(recurrent_h)
        d_kernel = None if kernel is None else torch.zeros_like(kernel)
        d_bias = None if bias is None else torch.zeros_like(bias)
        # Each step's gradients are written in place: the inputs' into `d_inputs[t]`, or with the
        # projection in the loop, the projection's into one buffer and the inputs' from it.
        d_inputs = torch.empty_like(inputs)
        d_projected = None if kernel is None else d_outputs.new_empty((directions, batch, 3 * units))
        d_h = d_outputs.new_zeros((directions, batch, units))
        for t in reversed(range(steps)):
            zr, c = gates[t], candidates[t]
            z, r = zr[..., :units], zr[..., units:]
            h_tm1 = states[t - 1] if t else torch.zeros_like(c)
            if masks is None:
                d_state = d_new = d_h + d_outputs[t]  # the output is the state
            else:
                d_state = d_h + d_outputs[t] * masks[t]  # the output is zero at a masked step
                d_new = d_state * masks[t]
            d_step = d_inputs[t] if kernel is None else d_projected
            d_zr, d_c = d_step[..., : 2 * units], d_step[..., 2 * units :]
            _tanh_backward(d_new * (1 - z), c, grad_input=d_c)
            d_rh = torch.bmm(d_c, recurrent_h_t)
            torch.mul(d_new, h_tm1 - c, out=d_zr[..., :units])
            torch.mul(d_rh, h_tm1, out=d_zr[..., units:])
            _sigmoid_backward(d_zr, zr, grad_input=d_zr)
            d_h = torch.baddbmm(d_new * z + d_rh * r, d_zr, recurrent_zr_t)
            if masks is not None:
                d_h = d_h + d_state * ~masks[t]  # a masked step passes the state's gradient back unchanged
            if t:  # the state before the first step is zero: no gradient for the kernels there
                d_recurrent_zr.baddbmm_(h_tm1.transpose(1, 2), d_zr)
                d_recurrent_h.baddbmm_(reset_states[t].transpose(1, 2), d_c)
            if kernel is not None:
                torch.bmm(d_step, kernel.transpose(1, 2), out=d_inputs[t])
                d_kernel.baddbmm_(inputs[t].transpose(1, 2), d_step)
                if bias is not None:
                    d_bias += d_step.sum(dim=1, keepdim=True)
        d_recurrent = torch.cat([d_recurrent_zr, d_recurrent_h], dim=-1)
        return d_inputs, None, d_recurrent, d_kernel, d_bias


# The derivatives of tanh and sigmoid from their outputs, written into `grad_input`: one op each.
_tanh_backward = torch.ops.aten.tanh_backward.grad_input
_sigmoid_backward = torch.ops.aten.sigmoid_backward.grad_input

"""The stacked GRU's recurrence on PyTorch (`"stacked_hoisted"`), with its gradient written out by hand.

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


def recurrence(inputs: torch.Tensor, recurrent: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
    """TF1's GRU over projected inputs, for every direction at once, in Keras's `[z, r, h]` layout.

    Each step computes, per direction `d`, from `h = 0`::

        z, r = sigmoid(inputs[t, d, :, :2H] + h @ recurrent[d, :, :2H])
        c = tanh(inputs[t, d, :, 2H:] + (r * h) @ recurrent[d, :, 2H:])
        h = c + z * (h - c)

    At a masked step the state carries over and the output is zero.

    Args:
        inputs: `(timesteps, directions, batch, 3 * units)`: every step's
            `x_t @ kernel + bias`, each direction's steps in the order it reads them.
        recurrent: `(directions, units, 3 * units)`: the recurrent kernels.
        masks: `(timesteps, directions, batch, 1)` booleans, or `None`.

    Returns:
        `(timesteps, directions, batch, units)`: every step's output.
    """
    recurrent = recurrent.to(inputs.dtype)
    if torch.is_grad_enabled() and (inputs.requires_grad or recurrent.requires_grad):
        return _GRU.apply(inputs, masks, recurrent)
    states, _ = _forward(inputs, masks, recurrent, keep=False)  # inference: keep nothing
    return states if masks is None else states * masks


def _forward(inputs: torch.Tensor, masks: torch.Tensor | None, recurrent: torch.Tensor, keep: bool) -> tuple:
    """The loop: `(states, kept)`, `kept` being what the backward pass needs (`None` unless `keep`)."""
    units = recurrent.shape[1]
    recurrent_zr = recurrent[..., : 2 * units].contiguous()
    recurrent_h = recurrent[..., 2 * units :].contiguous()
    # Step-sized tensors, not buffers for all steps: a CPU's allocator recycles them from one
    # step to the next, where a fresh buffer of hundreds of MB costs a page fault per page.
    states, kept = [], []
    h = inputs.new_zeros(inputs.shape[1:-1] + (units,))
    for t in range(inputs.shape[0]):
        zr = torch.baddbmm(inputs[t, ..., : 2 * units], h, recurrent_zr).sigmoid_()
        rh = zr[..., units:] * h
        c = torch.baddbmm(inputs[t, ..., 2 * units :], rh, recurrent_h).tanh_()
        h_new = torch.lerp(c, h, zr[..., :units])  # c + z * (h - c)
        h = h_new if masks is None else torch.where(masks[t], h_new, h)
        states.append(h)
        if keep:
            kept.append((zr, rh, c))
    return torch.stack(states), (recurrent_zr, recurrent_h, kept) if keep else None


class _GRU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, inputs: torch.Tensor, masks: torch.Tensor | None, recurrent: torch.Tensor) -> torch.Tensor:
        states, kept = _forward(inputs, masks, recurrent, keep=True)
        recurrent_zr, recurrent_h, ctx.steps = kept  # each step's (gates, r * h_tm1, candidate)
        ctx.save_for_backward(masks, states, recurrent_zr, recurrent_h)
        return states if masks is None else states * masks

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, d_outputs: torch.Tensor) -> tuple:
        masks, states, recurrent_zr, recurrent_h = ctx.saved_tensors
        steps, directions, batch, units = states.shape
        recurrent_zr_t, recurrent_h_t = recurrent_zr.transpose(1, 2), recurrent_h.transpose(1, 2)
        d_recurrent_zr, d_recurrent_h = torch.zeros_like(recurrent_zr), torch.zeros_like(recurrent_h)
        d_inputs = d_outputs.new_empty((steps, directions, batch, 3 * units))  # each step's written in place
        d_h = d_outputs.new_zeros((directions, batch, units))
        if masks is not None:
            keep = masks.to(d_outputs.dtype)
            drop = 1 - keep
        for t in reversed(range(steps)):
            zr, rh, c = ctx.steps[t]
            z, r = zr[..., :units], zr[..., units:]
            h_tm1 = states[t - 1] if t else torch.zeros_like(c)
            if masks is None:
                d_state = d_new = d_h + d_outputs[t]  # the output is the state
            else:
                d_state = torch.addcmul(d_h, d_outputs[t], keep[t])  # the output is zero at a masked step
                d_new = d_state * keep[t]
            d_zr, d_c = d_inputs[t, ..., : 2 * units], d_inputs[t, ..., 2 * units :]
            d_z_h = d_new * z
            _tanh_backward(d_new - d_z_h, c, grad_input=d_c)
            d_rh = torch.bmm(d_c, recurrent_h_t)
            torch.mul(d_new, h_tm1 - c, out=d_zr[..., :units])
            torch.mul(d_rh, h_tm1, out=d_zr[..., units:])
            _sigmoid_backward(d_zr, zr, grad_input=d_zr)
            d_h = torch.baddbmm(torch.addcmul(d_z_h, d_rh, r), d_zr, recurrent_zr_t)
            if masks is not None:
                d_h.addcmul_(d_state, drop[t])  # a masked step passes the state's gradient back unchanged
            if t:  # the state before the first step is zero: no gradient for the kernels there
                d_recurrent_zr.baddbmm_(h_tm1.transpose(1, 2), d_zr)
                d_recurrent_h.baddbmm_(rh.transpose(1, 2), d_c)
        d_recurrent = torch.cat([d_recurrent_zr, d_recurrent_h], dim=-1)
        return d_inputs, None, d_recurrent


# The derivatives of tanh and sigmoid from their outputs, written into `grad_input`: one op each.
_tanh_backward = torch.ops.aten.tanh_backward.grad_input
_sigmoid_backward = torch.ops.aten.sigmoid_backward.grad_input

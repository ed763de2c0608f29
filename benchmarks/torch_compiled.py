"""`attention.torch_loop.recurrence` with each step compiled by `torch.compile` (the benchmark's `compiled` token).

As CUDA graphs (`loop="graphed"`), the hoisted loop no longer pays for launching its kernels,
but each step is still about nine kernels forward and fifteen backward: two small matmuls each
way and a string of elementwise ops, each a pass over the step's tensors. Compiled, each step's
elementwise ops fuse into a few kernels around its matmuls (Inductor's Triton kernels on a GPU,
C++ loops on a CPU), and the recurrent kernels' gradients become two matmuls over all steps
after the backward loop instead of two small ones a step. Same math as `attention.torch_loop`.
On a 2-core CPU it ran as fast as `attention.torch_loop` (the matmuls dominate there), after
about 9 s of compiling; whether it pays on a GPU is what the `compiled` token measures.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import torch
from torch.autograd.function import once_differentiable

BACKEND = "inductor"
"""`torch.compile`'s backend for the steps; the tests take a cheaper one, without code generation."""


def recurrence(inputs: torch.Tensor, recurrent: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
    """`attention.torch_loop.recurrence`, with the same arguments and result, its steps compiled."""
    recurrent = recurrent.to(inputs.dtype)
    if torch.is_grad_enabled() and (inputs.requires_grad or recurrent.requires_grad):
        return _CompiledGRU.apply(inputs, masks, recurrent)
    states, _ = _forward(inputs, masks, recurrent, keep=False)
    return states if masks is None else states * masks


@functools.lru_cache(maxsize=None)
def _compiled(step: Callable, backend: str) -> Callable:
    # One shape, one program: the loop calls each step with the same shapes 250 times.
    return torch.compile(step, backend=backend, dynamic=False, fullgraph=True)


def _forward_step(inputs: torch.Tensor, h: torch.Tensor, recurrent_zr: torch.Tensor, recurrent_h: torch.Tensor,
                  mask: torch.Tensor | None) -> tuple:
    units = h.shape[-1]
    zr = torch.baddbmm(inputs[..., : 2 * units], h, recurrent_zr).sigmoid()
    rh = zr[..., units:] * h
    c = torch.baddbmm(inputs[..., 2 * units :], rh, recurrent_h).tanh()
    h_new = torch.lerp(c, h, zr[..., :units])  # c + z * (h - c)
    if mask is not None:
        h_new = torch.where(mask, h_new, h)
    return h_new, zr, rh, c


def _backward_step(d_h: torch.Tensor, d_output: torch.Tensor, zr: torch.Tensor, c: torch.Tensor, h_tm1: torch.Tensor,
                   recurrent_zr_t: torch.Tensor, recurrent_h_t: torch.Tensor, keep: torch.Tensor | None) -> tuple:
    units = h_tm1.shape[-1]
    z, r = zr[..., :units], zr[..., units:]
    if keep is None:
        d_state = d_new = d_h + d_output  # the output is the state
    else:
        d_state = d_h + d_output * keep  # the output is zero at a masked step
        d_new = d_state * keep
    d_c = d_new * (1 - z) * (1 - c * c)
    d_rh = torch.bmm(d_c, recurrent_h_t)
    d_zr = torch.cat([d_new * (h_tm1 - c) * z * (1 - z), d_rh * h_tm1 * r * (1 - r)], dim=-1)
    d_h = torch.baddbmm(d_new * z + d_rh * r, d_zr, recurrent_zr_t)
    if keep is not None:
        d_h = d_h + d_state * (1 - keep)  # a masked step passes the state's gradient back unchanged
    return d_h, torch.cat([d_zr, d_c], dim=-1)


def _forward(inputs: torch.Tensor, masks: torch.Tensor | None, recurrent: torch.Tensor, keep: bool) -> tuple:
    """`(states, kept)`: every step's state and, if `keep`, its `(gates, r * h_tm1, candidate)`."""
    units = recurrent.shape[1]
    recurrent_zr, recurrent_h = recurrent[..., : 2 * units].contiguous(), recurrent[..., 2 * units :].contiguous()
    step = _compiled(_forward_step, BACKEND)
    h = inputs.new_zeros(inputs.shape[1:-1] + (units,))
    states, kept = [], []
    for t in range(inputs.shape[0]):
        h, zr, rh, c = step(inputs[t], h, recurrent_zr, recurrent_h, None if masks is None else masks[t])
        states.append(h)
        if keep:
            kept.append((zr, rh, c))
    return torch.stack(states), kept


class _CompiledGRU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, inputs: torch.Tensor, masks: torch.Tensor | None, recurrent: torch.Tensor) -> torch.Tensor:
        states, ctx.steps = _forward(inputs, masks, recurrent, keep=True)
        ctx.save_for_backward(masks, states, recurrent)
        return states if masks is None else states * masks

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, d_outputs: torch.Tensor) -> tuple:
        masks, states, recurrent = ctx.saved_tensors
        units = recurrent.shape[1]
        recurrent_t = recurrent.transpose(1, 2)
        recurrent_zr_t = recurrent_t[:, : 2 * units].contiguous()
        recurrent_h_t = recurrent_t[:, 2 * units :].contiguous()
        keep = None if masks is None else masks.to(d_outputs.dtype)
        step = _compiled(_backward_step, BACKEND)
        d_h = torch.zeros_like(states[0])
        d_inputs = [None] * states.shape[0]
        for t in reversed(range(states.shape[0])):
            zr, _, c = ctx.steps[t]
            h_tm1 = states[t - 1] if t else torch.zeros_like(c)
            d_h, d_inputs[t] = step(d_h, d_outputs[t], zr, c, h_tm1, recurrent_zr_t, recurrent_h_t,
                                    None if keep is None else keep[t])
        d_inputs = torch.stack(d_inputs)
        # The kernels' gradients over all steps but the first, whose state before is zero.
        rh = torch.stack([rh for _, rh, _ in ctx.steps[1:]]) if len(ctx.steps) > 1 else states[:0]
        d_recurrent_zr = torch.einsum("tdbi,tdbj->dij", states[:-1], d_inputs[1:, ..., : 2 * units])
        d_recurrent_h = torch.einsum("tdbi,tdbj->dij", rh, d_inputs[1:, ..., 2 * units :])
        return d_inputs, None, torch.cat([d_recurrent_zr, d_recurrent_h], dim=-1)

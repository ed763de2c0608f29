"""Keras's `reset_after` GRU weights run by PyTorch's own GRU kernel: cuDNN on a GPU.

Keras uses cuDNN on PyTorch only without a mask. Post-padded rows (each row's
real steps first, as the pipeline pads) need no mask there: the forward
direction reads the padded row as it is, the backward one reads each row
reversed within its length, and the padded steps' outputs are zeroed after.
"""

from __future__ import annotations

import warnings
from typing import Any

import keras
import torch
from keras import ops
from torch.func import functional_call

_MODULES: dict[tuple, torch.nn.GRU] = {}


def supports(cell: Any, x: Any = None) -> bool:
    """Whether PyTorch's kernel computes `cell`'s math on `x` (default: float32 on Keras's device).

    It needs `reset_after`, tanh and sigmoid, and float32 off a GPU.
    """
    x = ops.zeros(()) if x is None else ops.convert_to_tensor(x)
    return bool(
        cell.reset_after
        and cell.activation is keras.activations.tanh
        and cell.recurrent_activation is keras.activations.sigmoid
        and (x.device.type == "cuda" or x.dtype == torch.float32)
    )


def bidirectional_gru(x: Any, mask: Any, forward: Any, backward: Any) -> tuple | None:
    """Both directions of a bidirectional `reset_after` GRU, each with PyTorch's GRU.

    Args:
        x: `(batch, timesteps, features)`.
        mask: `(batch, timesteps)` booleans or `None`.
        forward, backward: The two directions' built GRU layers.

    Returns:
        The two output sequences `(batch, timesteps, units)` in `x`'s time
        order, zero at masked steps; `None` when a row of `mask` is not
        post-padded (its real steps first), which this way cannot honour.
    """
    x = ops.convert_to_tensor(x)
    units = forward.cell.units
    module = _module(x.shape[-1], units, forward.cell.use_bias, x.device, x.dtype)
    if mask is None:
        return _run(module, forward.cell, x), _run(module, backward.cell, x.flip(1)).flip(1)
    mask = ops.convert_to_tensor(mask).bool()
    lengths = mask.sum(dim=1, keepdim=True)
    steps = torch.arange(x.shape[1], device=x.device)
    inside = steps < lengths
    if not torch.equal(mask, inside):
        return None
    # Each row reversed within its length, so that the backward direction starts at the row's last word.
    order = torch.where(inside, lengths - 1 - steps, steps)
    reversed_x = torch.gather(x, 1, order[..., None].expand(-1, -1, x.shape[-1]))
    y_rev = _run(module, backward.cell, reversed_x)
    y_rev = torch.gather(y_rev, 1, order[..., None].expand(-1, -1, units))
    keep = mask[..., None].to(x.dtype)
    return _run(module, forward.cell, x) * keep, y_rev * keep


def _module(features: int, units: int, bias: bool, device: Any, dtype: Any) -> torch.nn.GRU:
    """An `nn.GRU` to call with Keras's weights in place of its own (one per shape, device and dtype)."""
    key = (features, units, bias, str(device), dtype)
    if key not in _MODULES:
        _MODULES[key] = torch.nn.GRU(features, units, bias=bias, batch_first=True, device=device, dtype=dtype)
    return _MODULES[key]


def _run(module: torch.nn.GRU, cell: Any, x: Any) -> Any:
    """`module` over `x` with `cell`'s weights, differentiable with respect to them."""
    with warnings.catch_warnings():
        # cuDNN would rather have one flat weight buffer; these weights are Keras's variables.
        warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous chunk")
        outputs, _ = functional_call(module, _parameters(cell), (x,))
    return outputs


def _parameters(cell: Any) -> dict:
    """`cell`'s weights as `nn.GRU`'s: gates reordered from Keras's `[z, r, h]` to `[r, z, n]`, kernels transposed."""

    def reorder(weight: Any, axis: int) -> Any:
        z, r, h = torch.chunk(weight, 3, dim=axis)
        return torch.cat([r, z, h], dim=axis)

    parameters = {
        "weight_ih_l0": reorder(ops.convert_to_tensor(cell.kernel), 1).T.contiguous(),
        "weight_hh_l0": reorder(ops.convert_to_tensor(cell.recurrent_kernel), 1).T.contiguous(),
    }
    if cell.use_bias:
        bias = ops.convert_to_tensor(cell.bias)  # (2, 3 units): the input's bias, then the state's
        parameters["bias_ih_l0"] = reorder(bias[0], 0)
        parameters["bias_hh_l0"] = reorder(bias[1], 0)
    return parameters

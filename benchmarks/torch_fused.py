"""`attention.torch_loop.recurrence` as two Triton kernels, one launch each for all steps (the `fused` token).

On a GPU the hoisted loop runs each step as a handful of kernels: two small
matmuls that leave most of the device idle, and elementwise passes between
them. CUDA graphs (`loop="graphed"`) take away the launching, `torch.compile`
fuses the elementwise passes, and still the PyTorch backend trained at a third
of JAX's speed on an H200 (BENCHMARKS.md). Here one program per direction and
block of `ROWS` rows runs all the steps itself: each step's two matmuls read
the recurrent kernels from the GPU's cache, and the gates never leave the
program; the backward kernel walks the steps in reverse the same way. The
recurrent kernels' gradients are two matmuls over all steps after it, as in
`benchmarks.torch_compiled`. Same math and masking as `attention.torch_loop`;
the matmuls in full float32, or in TensorFloat-32 (JAX's default on a GPU)
where `torch.set_float32_matmul_precision` allows it.

A program computes `COLS` columns of the state at a time, each matmul `CHUNK`
rows of the kernel deep: the tiles stay small, and 150 units pad to 160 only
(a whole row of 150 would take a tile of 256). So the state, `r * h` and `z` go through global
memory (the program's own rows, in the GPU's cache) between the gates' turn
and the candidate's, with a barrier between: a program's registers cannot be
sliced by column.

Needs Triton (it comes with PyTorch's CUDA builds). `TRITON_INTERPRET=1` runs
the kernels on a CPU, slowly, which is how the tests check them.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import triton
import triton.language as tl
from torch.autograd.function import once_differentiable
from triton.language.extra import libdevice

ROWS, COLS, CHUNK, WARPS, STAGES = 16, 32, 32, 4, 2
"""The launch without autotuning (Triton's interpreter): batch rows per program (`tl.dot` needs at
least 16), the state's columns computed at a time, the depth of each slice of a matmul, warps per
program, and the slices in flight."""
CONFIGS = [triton.Config({"ROWS": 16, "COLS": cols, "CHUNK": chunk}, num_warps=warps, num_stages=stages)
           for cols, chunk, warps, stages in [(32, 32, 4, 2), (32, 32, 4, 3), (32, 32, 8, 2), (64, 32, 4, 2),
                                              (32, 64, 4, 2), (64, 64, 8, 2)]]
"""What Triton's autotuner tries on a GPU, once per width, masking and precision (a config that does
not fit is skipped). Each compiles for an H100 (sm_90a) with Triton 3.6, checked without a GPU."""

_INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"  # the interpreter has no libdevice


def recurrence(inputs: torch.Tensor, recurrent: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
    """`attention.torch_loop.recurrence`, with the same arguments and result, run by the kernels."""
    recurrent = recurrent.to(inputs.dtype)
    if torch.is_grad_enabled() and (inputs.requires_grad or recurrent.requires_grad):
        return _FusedGRU.apply(inputs, masks, recurrent)
    states, _ = _forward(inputs.detach(), masks, recurrent.detach(), keep=False)
    return states if masks is None else states * masks


@triton.jit
def _tanh(x, EXACT: tl.constexpr):
    if EXACT:
        return libdevice.tanh(x)
    e = tl.exp(-2.0 * tl.abs(x))
    t = (1.0 - e) / (1.0 + e)
    return tl.where(x < 0, -t, t)


@triton.jit
def _accumulate(acc, a, a_rows, row_ok, w, w_stride, cols, col_ok, depth,
                CHUNK: tl.constexpr, PRECISION: tl.constexpr):
    """`acc + A[rows, :depth] @ W[:depth, cols]`, `CHUNK` deep at a time.

    A's rows start at `a + a_rows`, W's row k at `w + k * w_stride`.
    """
    for k0 in range(0, depth, CHUNK):
        k = k0 + tl.arange(0, CHUNK)
        k_ok = k < depth
        a_k = tl.load(a + a_rows[:, None] + k[None, :], mask=row_ok[:, None] & k_ok[None, :], other=0.0)
        w_k = tl.load(w + (k * w_stride)[:, None] + cols[None, :], mask=k_ok[:, None] & col_ok[None, :], other=0.0)
        acc += tl.dot(a_k, w_k, input_precision=PRECISION)
    return acc


# One compiled kernel for every batch, length and width (Triton would compile again for each
# divisibility by 16 of these, which the address arithmetic here does not use).
@triton.jit(do_not_specialize=["steps", "batch", "units"])
def _forward_kernel(inputs, recurrent, masks, states, gates, rh, candidates, steps, batch, units,
                    HAS_MASK: tl.constexpr, KEEP: tl.constexpr, ROWS: tl.constexpr, COLS: tl.constexpr,
                    CHUNK: tl.constexpr, PRECISION: tl.constexpr, EXACT_TANH: tl.constexpr):
    direction = tl.program_id(0)
    directions = tl.num_programs(0)
    rows = tl.program_id(1) * ROWS + tl.arange(0, ROWS)
    row_ok = rows < batch
    slab = directions * batch * units  # one step's (direction, batch, units)
    x_rows = (direction * batch + rows) * 3 * units
    h_rows = (direction * batch + rows) * units
    g_rows = (direction * batch + rows) * 2 * units
    kernel = recurrent + direction * units * 3 * units  # (units, 3 units): [z, r, h]
    for t in range(steps):
        x_t = inputs + t * 3 * slab
        h_t = states + t * slab  # the state before step t (states[0] is zeros)
        if KEEP:
            rh_t = rh + t * slab
            g_t = gates + t * 2 * slab
        else:  # one step's buffers
            rh_t = rh
            g_t = gates
        # The gates, COLS columns at a time; r * h and z go through memory to the candidate's turn.
        for j in range(0, units, COLS):
            cols = j + tl.arange(0, COLS)
            col_ok = cols < units
            tile_ok = row_ok[:, None] & col_ok[None, :]
            z = tl.load(x_t + x_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
            r = tl.load(x_t + x_rows[:, None] + units + cols[None, :], mask=tile_ok, other=0.0)
            z = tl.sigmoid(_accumulate(z, h_t, h_rows, row_ok, kernel, 3 * units, cols, col_ok, units,
                                       CHUNK, PRECISION))
            r = tl.sigmoid(_accumulate(r, h_t, h_rows, row_ok, kernel + units, 3 * units, cols, col_ok, units,
                                       CHUNK, PRECISION))
            h = tl.load(h_t + h_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
            tl.store(rh_t + h_rows[:, None] + cols[None, :], r * h, mask=tile_ok)
            tl.store(g_t + g_rows[:, None] + cols[None, :], z, mask=tile_ok)
            if KEEP:
                tl.store(g_t + g_rows[:, None] + units + cols[None, :], r, mask=tile_ok)
        tl.debug_barrier()
        if HAS_MASK:
            keep = (tl.load(masks + (t * directions + direction) * batch + rows, mask=row_ok, other=0) != 0)[:, None]
        for j in range(0, units, COLS):
            cols = j + tl.arange(0, COLS)
            col_ok = cols < units
            tile_ok = row_ok[:, None] & col_ok[None, :]
            c = tl.load(x_t + x_rows[:, None] + 2 * units + cols[None, :], mask=tile_ok, other=0.0)
            c = _tanh(_accumulate(c, rh_t, h_rows, row_ok, kernel + 2 * units, 3 * units, cols, col_ok, units,
                                  CHUNK, PRECISION), EXACT_TANH)
            z = tl.load(g_t + g_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
            h = tl.load(h_t + h_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
            h_new = c + z * (h - c)
            if HAS_MASK:
                h_new = tl.where(keep, h_new, h)
            tl.store(states + (t + 1) * slab + h_rows[:, None] + cols[None, :], h_new, mask=tile_ok)
            if KEEP:
                tl.store(candidates + t * slab + h_rows[:, None] + cols[None, :], c, mask=tile_ok)
        tl.debug_barrier()


@triton.jit(do_not_specialize=["steps", "batch", "units"])
def _backward_kernel(d_outputs, transposed, masks, states, gates, candidates, d_inputs, d_states, steps, batch, units,
                     HAS_MASK: tl.constexpr, ROWS: tl.constexpr, COLS: tl.constexpr, CHUNK: tl.constexpr,
                     PRECISION: tl.constexpr):
    direction = tl.program_id(0)
    directions = tl.num_programs(0)
    rows = tl.program_id(1) * ROWS + tl.arange(0, ROWS)
    row_ok = rows < batch
    slab = directions * batch * units
    x_rows = (direction * batch + rows) * 3 * units
    h_rows = (direction * batch + rows) * units
    g_rows = (direction * batch + rows) * 2 * units
    kernel_t = transposed + direction * 3 * units * units  # (3 units, units): the kernel transposed
    for i in range(steps):
        t = steps - 1 - i
        # The gradient for the state after step t is in one half of d_states (zeros at first); the
        # one for the state before it goes to the other half.
        d_after = d_states + (i % 2) * slab
        d_before = d_states + ((i + 1) % 2) * slab
        d_x = d_inputs + t * 3 * slab
        h_t = states + t * slab
        g_t = gates + t * 2 * slab
        if HAS_MASK:
            keep = (tl.load(masks + (t * directions + direction) * batch + rows, mask=row_ok, other=0) != 0)[:, None]
        for j in range(0, units, COLS):  # the gradients of z's and the candidate's pre-activations
            cols = j + tl.arange(0, COLS)
            tile_ok = row_ok[:, None] & (cols < units)[None, :]
            d_state = tl.load(d_after + h_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
            d_y = tl.load(d_outputs + t * slab + h_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
            if HAS_MASK:
                d_state += tl.where(keep, d_y, 0.0)  # the output is zero at a masked step
                d_new = tl.where(keep, d_state, 0.0)
            else:
                d_new = d_state + d_y  # the output is the state
            z = tl.load(g_t + g_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
            c = tl.load(candidates + t * slab + h_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
            h = tl.load(h_t + h_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
            tl.store(d_x + x_rows[:, None] + cols[None, :], d_new * (h - c) * z * (1.0 - z), mask=tile_ok)
            tl.store(d_x + x_rows[:, None] + 2 * units + cols[None, :], d_new * (1.0 - z) * (1.0 - c * c), mask=tile_ok)
        tl.debug_barrier()
        for j in range(0, units, COLS):  # r's, and the state's gradient but for the gates' matmul
            cols = j + tl.arange(0, COLS)
            col_ok = cols < units
            tile_ok = row_ok[:, None] & col_ok[None, :]
            d_rh = tl.zeros([ROWS, COLS], dtype=d_outputs.dtype.element_ty)
            d_rh = _accumulate(d_rh, d_x + 2 * units, x_rows, row_ok, kernel_t + 2 * units * units, units, cols, col_ok,
                               units, CHUNK, PRECISION)
            r = tl.load(g_t + g_rows[:, None] + units + cols[None, :], mask=tile_ok, other=0.0)
            h = tl.load(h_t + h_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
            tl.store(d_x + x_rows[:, None] + units + cols[None, :], d_rh * h * r * (1.0 - r), mask=tile_ok)
            d_state = tl.load(d_after + h_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
            d_y = tl.load(d_outputs + t * slab + h_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
            z = tl.load(g_t + g_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
            if HAS_MASK:
                d_state += tl.where(keep, d_y, 0.0)
                # A masked step passes the state's gradient back unchanged.
                d_h = tl.where(keep, d_state * z, d_state) + d_rh * r
            else:
                d_h = (d_state + d_y) * z + d_rh * r
            tl.store(d_before + h_rows[:, None] + cols[None, :], d_h, mask=tile_ok)
        tl.debug_barrier()
        for j in range(0, units, COLS):  # the gates' matmul
            cols = j + tl.arange(0, COLS)
            col_ok = cols < units
            tile_ok = row_ok[:, None] & col_ok[None, :]
            d_h = tl.load(d_before + h_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
            d_h = _accumulate(d_h, d_x, x_rows, row_ok, kernel_t, units, cols, col_ok, 2 * units, CHUNK, PRECISION)
            tl.store(d_before + h_rows[:, None] + cols[None, :], d_h, mask=tile_ok)
        tl.debug_barrier()


TUNED: dict = {}
"""Each kernel's autotuner (on a GPU): its `cache` holds the config picked for each shape."""


def _launcher(kernel: Any) -> Any:
    """`kernel` autotuned over `CONFIGS` on a GPU; under the interpreter, with the fixed launch."""
    if _INTERPRETED:
        return lambda grid: lambda *args, **kwargs: kernel[grid({"ROWS": ROWS})](
            *args, ROWS=ROWS, COLS=COLS, CHUNK=CHUNK, num_warps=WARPS, num_stages=STAGES, **kwargs)
    # Tuned once per width, masking and precision: a program's work does not depend on the batch.
    tuned = TUNED[kernel.__name__] = triton.autotune(CONFIGS, key=["units", "HAS_MASK", "PRECISION"])(kernel)
    return lambda grid: tuned[grid]


def _launch(kernel: Any, inputs: torch.Tensor, *args: Any, **constants: Any) -> None:
    """`kernel` over `inputs`' directions and blocks of rows."""
    directions, batch = inputs.shape[1], inputs.shape[2]
    precision = "ieee" if torch.get_float32_matmul_precision() == "highest" else "tf32"
    grid = lambda meta: (directions, triton.cdiv(batch, meta["ROWS"]))  # noqa: E731
    kernel(grid)(*args, PRECISION=precision, **constants)


_FORWARD, _BACKWARD = _launcher(_forward_kernel), _launcher(_backward_kernel)


def _flat_masks(masks: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """`(time, direction, batch)` bytes (a placeholder without masks)."""
    if masks is None:
        return like.new_zeros((1,), dtype=torch.uint8)
    return masks.reshape(masks.shape[:3]).to(torch.uint8).contiguous()


def _forward(inputs: torch.Tensor, masks: torch.Tensor | None, recurrent: torch.Tensor, keep: bool) -> tuple:
    """`(states, kept)`: every step's state `(time, direction, batch, units)`, and with `keep` what the
    backward kernel needs: `(states with zeros before the first step, gates, r * h, candidates)`."""
    steps, directions, batch, features = inputs.shape
    units = features // 3
    if inputs.numel() >= 2**31:
        raise ValueError(f"The fused loop indexes with 32 bits; these inputs have {inputs.numel()} elements.")
    inputs, recurrent = inputs.contiguous(), recurrent.contiguous()
    states = inputs.new_empty((steps + 1, directions, batch, units))
    states[0] = 0
    rh = inputs.new_empty((steps if keep else 1, directions, batch, units))
    gates = inputs.new_empty((steps if keep else 1, directions, batch, 2 * units))
    candidates = inputs.new_empty((steps, directions, batch, units)) if keep else rh
    _launch(_FORWARD, inputs, inputs, recurrent, _flat_masks(masks, inputs), states, gates, rh, candidates, steps,
            batch, units, HAS_MASK=masks is not None, KEEP=keep, EXACT_TANH=not _INTERPRETED)
    return states[1:], (states, gates, rh, candidates) if keep else None


class _FusedGRU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, inputs: torch.Tensor, masks: torch.Tensor | None, recurrent: torch.Tensor) -> torch.Tensor:
        outputs, kept = _forward(inputs, masks, recurrent, keep=True)
        ctx.save_for_backward(masks, recurrent, *kept)
        return outputs if masks is None else outputs * masks

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, d_outputs: torch.Tensor) -> tuple:
        masks, recurrent, states, gates, rh, candidates = ctx.saved_tensors
        steps, directions, batch, units = rh.shape
        d_inputs = d_outputs.new_empty((steps, directions, batch, 3 * units))
        d_states = d_outputs.new_zeros((2, directions, batch, units))
        _launch(_BACKWARD, d_inputs, d_outputs.contiguous(), recurrent.transpose(1, 2).contiguous(),
                _flat_masks(masks, d_outputs), states, gates, candidates, d_inputs, d_states, steps, batch, units,
                HAS_MASK=masks is not None)
        # The kernels' gradients over all steps at once; the state before the first step is zero.
        d_recurrent_zr = torch.einsum("tdbi,tdbj->dij", states[:-1], d_inputs[..., : 2 * units])
        d_recurrent_h = torch.einsum("tdbi,tdbj->dij", rh, d_inputs[..., 2 * units :])
        return d_inputs, None, torch.cat([d_recurrent_zr, d_recurrent_h], dim=-1)

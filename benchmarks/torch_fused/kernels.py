"""The Triton kernels of `benchmarks.torch_fused`: the GRU's recurrence over all steps, forward and backward.

Each program takes one direction and `ROWS` rows of the batch through every step, `COLS` of the
state's columns at a time, each matmul `CHUNK` rows of the kernel deep: the tiles stay small, and
150 units pad to 160 only (a whole row of 150 would take a tile of 256). Where one turn's results
feed the next turn's matmul (the state, `r * h` and `z`, the gradients), they go through global
memory, the program's own rows in the GPU's cache, with a barrier between: a program's registers
cannot be sliced by column.
"""

import triton
import triton.language as tl
from triton.language.extra import libdevice


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


@triton.jit
def _gate_sums(x_t, x_rows, h_t, h_rows, row_ok, kernel, units, cols, col_ok, CHUNK: tl.constexpr,
               PRECISION: tl.constexpr):
    """z's and r's inputs at a step plus the state's matmul with their kernels, for `cols` (before the sigmoid)."""
    tile_ok = row_ok[:, None] & col_ok[None, :]
    z = tl.load(x_t + x_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
    r = tl.load(x_t + x_rows[:, None] + units + cols[None, :], mask=tile_ok, other=0.0)
    z = _accumulate(z, h_t, h_rows, row_ok, kernel, 3 * units, cols, col_ok, units, CHUNK, PRECISION)
    r = _accumulate(r, h_t, h_rows, row_ok, kernel + units, 3 * units, cols, col_ok, units, CHUNK, PRECISION)
    return z, r


@triton.jit
def _store_new_state(h_t, h_next, tile, tile_ok, c, z, keep):
    """Stores the state after a step, `c + z * (h - c)` from the state `h` before it (`h` itself at a masked step)."""
    h = tl.load(h_t + tile, mask=tile_ok, other=0.0)
    tl.store(h_next + tile, tl.where(keep, c + z * (h - c), h), mask=tile_ok)


@triton.jit
def _state_gradients(d_after, d_outputs, tile, tile_ok, keep, later):
    """The gradient that reaches the state after a step, its own and its output's (zero at a masked
    step), and the part of it that the step's new state takes (none at a masked step).

    The last step's state has no gradient of its own (`later` is false there): it is not read from
    `d_after`, which then holds whatever a launch before this one left (Triton's autotuner launches
    the kernel once per config on the same buffers)."""
    d_state = tl.load(d_after + tile, mask=tile_ok & later, other=0.0)
    d_state += tl.where(keep, tl.load(d_outputs + tile, mask=tile_ok, other=0.0), 0.0)
    return d_state, tl.where(keep, d_state, 0.0)


# One compiled kernel for every batch, length and width (Triton would compile again for each
# divisibility by 16 of these, which the address arithmetic here does not use).
@triton.jit(do_not_specialize=["steps", "batch", "units"])
def forward_kernel(inputs, recurrent, recurrent_bias, masks, states, gates, rh, candidates, steps, batch, units,
                    HAS_MASK: tl.constexpr, KEEP: tl.constexpr, RESET_AFTER: tl.constexpr, HAS_BIAS: tl.constexpr,
                    ROWS: tl.constexpr, COLS: tl.constexpr, CHUNK: tl.constexpr, PRECISION: tl.constexpr,
                    EXACT_TANH: tl.constexpr):
    direction = tl.program_id(0)
    directions = tl.num_programs(0)
    rows = tl.program_id(1) * ROWS + tl.arange(0, ROWS)
    row_ok = rows < batch
    slab = directions * batch * units  # one step's (direction, batch, units)
    x_rows = (direction * batch + rows) * 3 * units
    h_rows = (direction * batch + rows) * units
    g_rows = (direction * batch + rows) * 2 * units
    kernel = recurrent + direction * units * 3 * units  # (units, 3 units): [z, r, h]
    bias = recurrent_bias + direction * 3 * units
    for t in range(steps):
        x_t = inputs + t * 3 * slab
        h_t = states + t * slab  # the state before step t (states[0] is zeros)
        if KEEP:
            rh_t = rh + t * slab
            g_t = gates + t * 2 * slab
        else:  # one step's buffers
            rh_t = rh
            g_t = gates
        keep = row_ok[:, None]  # every step kept, without a mask
        if HAS_MASK:
            keep = (tl.load(masks + (t * directions + direction) * batch + rows, mask=row_ok, other=0) != 0)[:, None]
        if RESET_AFTER:
            # All three matmuls take the state: one turn, COLS columns at a time. rh keeps h @ U_h + b_h.
            for j in range(0, units, COLS):
                cols = j + tl.arange(0, COLS)
                col_ok = cols < units
                tile_ok = row_ok[:, None] & col_ok[None, :]
                z, r = _gate_sums(x_t, x_rows, h_t, h_rows, row_ok, kernel, units, cols, col_ok, CHUNK, PRECISION)
                hh = tl.zeros([ROWS, COLS], dtype=z.dtype)
                if HAS_BIAS:
                    z += tl.load(bias + cols, mask=col_ok, other=0.0)[None, :]
                    r += tl.load(bias + units + cols, mask=col_ok, other=0.0)[None, :]
                    hh += tl.load(bias + 2 * units + cols, mask=col_ok, other=0.0)[None, :]
                z, r = tl.sigmoid(z), tl.sigmoid(r)
                hh = _accumulate(hh, h_t, h_rows, row_ok, kernel + 2 * units, 3 * units, cols, col_ok, units,
                                 CHUNK, PRECISION)
                c = _tanh(tl.load(x_t + x_rows[:, None] + 2 * units + cols[None, :], mask=tile_ok, other=0.0) + r * hh,
                          EXACT_TANH)
                _store_new_state(h_t, states + (t + 1) * slab, h_rows[:, None] + cols[None, :], tile_ok, c, z, keep)
                if KEEP:
                    tl.store(g_t + g_rows[:, None] + cols[None, :], z, mask=tile_ok)
                    tl.store(g_t + g_rows[:, None] + units + cols[None, :], r, mask=tile_ok)
                    tl.store(rh_t + h_rows[:, None] + cols[None, :], hh, mask=tile_ok)
                    tl.store(candidates + t * slab + h_rows[:, None] + cols[None, :], c, mask=tile_ok)
            tl.debug_barrier()
        else:
            # The gates, COLS columns at a time; r * h and z go through memory to the candidate's turn.
            for j in range(0, units, COLS):
                cols = j + tl.arange(0, COLS)
                col_ok = cols < units
                tile_ok = row_ok[:, None] & col_ok[None, :]
                z, r = _gate_sums(x_t, x_rows, h_t, h_rows, row_ok, kernel, units, cols, col_ok, CHUNK, PRECISION)
                z, r = tl.sigmoid(z), tl.sigmoid(r)
                h = tl.load(h_t + h_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
                tl.store(rh_t + h_rows[:, None] + cols[None, :], r * h, mask=tile_ok)
                tl.store(g_t + g_rows[:, None] + cols[None, :], z, mask=tile_ok)
                if KEEP:
                    tl.store(g_t + g_rows[:, None] + units + cols[None, :], r, mask=tile_ok)
            tl.debug_barrier()
            for j in range(0, units, COLS):
                cols = j + tl.arange(0, COLS)
                col_ok = cols < units
                tile_ok = row_ok[:, None] & col_ok[None, :]
                c = tl.load(x_t + x_rows[:, None] + 2 * units + cols[None, :], mask=tile_ok, other=0.0)
                c = _tanh(_accumulate(c, rh_t, h_rows, row_ok, kernel + 2 * units, 3 * units, cols, col_ok, units,
                                      CHUNK, PRECISION), EXACT_TANH)
                z = tl.load(g_t + g_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
                _store_new_state(h_t, states + (t + 1) * slab, h_rows[:, None] + cols[None, :], tile_ok, c, z, keep)
                if KEEP:
                    tl.store(candidates + t * slab + h_rows[:, None] + cols[None, :], c, mask=tile_ok)
            tl.debug_barrier()


@triton.jit(do_not_specialize=["steps", "batch", "units"])
def backward_kernel(d_outputs, transposed, masks, states, gates, rh, candidates, d_inputs, d_hidden, d_states,
                     steps, batch, units, HAS_MASK: tl.constexpr, RESET_AFTER: tl.constexpr, ROWS: tl.constexpr,
                     COLS: tl.constexpr, CHUNK: tl.constexpr, PRECISION: tl.constexpr):
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
        # The gradient for the state after step t is in one half of d_states (none at the last
        # step); the one for the state before it goes to the other half.
        d_after = d_states + (i % 2) * slab
        d_before = d_states + ((i + 1) % 2) * slab
        d_x = d_inputs + t * 3 * slab
        h_t = states + t * slab
        g_t = gates + t * 2 * slab
        keep = row_ok[:, None]  # every step kept, without a mask
        if HAS_MASK:
            keep = (tl.load(masks + (t * directions + direction) * batch + rows, mask=row_ok, other=0) != 0)[:, None]
        if RESET_AFTER:
            for j in range(0, units, COLS):  # every pre-activation's gradient, and the state's but for the matmul
                cols = j + tl.arange(0, COLS)
                tile_ok = row_ok[:, None] & (cols < units)[None, :]
                d_state, d_new = _state_gradients(d_after, d_outputs + t * slab, h_rows[:, None] + cols[None, :],
                                                  tile_ok, keep, i > 0)
                z = tl.load(g_t + g_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
                r = tl.load(g_t + g_rows[:, None] + units + cols[None, :], mask=tile_ok, other=0.0)
                hh = tl.load(rh + t * slab + h_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
                c = tl.load(candidates + t * slab + h_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
                h = tl.load(h_t + h_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
                d_c = d_new * (1.0 - z) * (1.0 - c * c)
                tl.store(d_x + x_rows[:, None] + cols[None, :], d_new * (h - c) * z * (1.0 - z), mask=tile_ok)
                tl.store(d_x + x_rows[:, None] + units + cols[None, :], d_c * hh * r * (1.0 - r), mask=tile_ok)
                tl.store(d_x + x_rows[:, None] + 2 * units + cols[None, :], d_c, mask=tile_ok)
                tl.store(d_hidden + t * slab + h_rows[:, None] + cols[None, :], d_c * r, mask=tile_ok)
                # A masked step passes the state's gradient back unchanged.
                tl.store(d_before + h_rows[:, None] + cols[None, :], tl.where(keep, d_state * z, d_state),
                         mask=tile_ok)
            tl.debug_barrier()
            for j in range(0, units, COLS):  # the matmul, the gates' part and the candidate's
                cols = j + tl.arange(0, COLS)
                col_ok = cols < units
                tile_ok = row_ok[:, None] & col_ok[None, :]
                d_h = tl.load(d_before + h_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
                d_h = _accumulate(d_h, d_x, x_rows, row_ok, kernel_t, units, cols, col_ok, 2 * units, CHUNK, PRECISION)
                d_h = _accumulate(d_h, d_hidden + t * slab, h_rows, row_ok, kernel_t + 2 * units * units, units, cols,
                                  col_ok, units, CHUNK, PRECISION)
                tl.store(d_before + h_rows[:, None] + cols[None, :], d_h, mask=tile_ok)
            tl.debug_barrier()
        else:
            for j in range(0, units, COLS):  # the gradients of z's and the candidate's pre-activations
                cols = j + tl.arange(0, COLS)
                tile_ok = row_ok[:, None] & (cols < units)[None, :]
                _, d_new = _state_gradients(d_after, d_outputs + t * slab, h_rows[:, None] + cols[None, :], tile_ok,
                                            keep, i > 0)
                z = tl.load(g_t + g_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
                c = tl.load(candidates + t * slab + h_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
                h = tl.load(h_t + h_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
                tl.store(d_x + x_rows[:, None] + cols[None, :], d_new * (h - c) * z * (1.0 - z), mask=tile_ok)
                tl.store(d_x + x_rows[:, None] + 2 * units + cols[None, :], d_new * (1.0 - z) * (1.0 - c * c),
                         mask=tile_ok)
            tl.debug_barrier()
            for j in range(0, units, COLS):  # r's, and the state's gradient but for the gates' matmul
                cols = j + tl.arange(0, COLS)
                col_ok = cols < units
                tile_ok = row_ok[:, None] & col_ok[None, :]
                d_rh = tl.zeros([ROWS, COLS], dtype=d_outputs.dtype.element_ty)
                d_rh = _accumulate(d_rh, d_x + 2 * units, x_rows, row_ok, kernel_t + 2 * units * units, units, cols,
                                   col_ok, units, CHUNK, PRECISION)
                r = tl.load(g_t + g_rows[:, None] + units + cols[None, :], mask=tile_ok, other=0.0)
                h = tl.load(h_t + h_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
                tl.store(d_x + x_rows[:, None] + units + cols[None, :], d_rh * h * r * (1.0 - r), mask=tile_ok)
                d_state, _ = _state_gradients(d_after, d_outputs + t * slab, h_rows[:, None] + cols[None, :],
                                              tile_ok, keep, i > 0)
                z = tl.load(g_t + g_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
                # A masked step passes the state's gradient back unchanged.
                tl.store(d_before + h_rows[:, None] + cols[None, :], tl.where(keep, d_state * z, d_state) + d_rh * r,
                         mask=tile_ok)
            tl.debug_barrier()
            for j in range(0, units, COLS):  # the gates' matmul
                cols = j + tl.arange(0, COLS)
                col_ok = cols < units
                tile_ok = row_ok[:, None] & col_ok[None, :]
                d_h = tl.load(d_before + h_rows[:, None] + cols[None, :], mask=tile_ok, other=0.0)
                d_h = _accumulate(d_h, d_x, x_rows, row_ok, kernel_t, units, cols, col_ok, 2 * units, CHUNK, PRECISION)
                tl.store(d_before + h_rows[:, None] + cols[None, :], d_h, mask=tile_ok)
            tl.debug_barrier()

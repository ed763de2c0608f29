"""A bidirectional `ConcatGRU` that can step both directions in one loop."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from attention.gru import ConcatGRU, concat_step, scan, split_at

LOOPS = ("auto", "per_direction", "stacked", "stacked_hoisted", "graphed", "cudnn")
JAX_GPU_UNROLL = 8
"""On a JAX GPU the stacked loop's scan runs this many steps per iteration (H200: BENCHMARKS.md)."""


@keras.saving.register_keras_serializable(package="attention")
class BidirectionalGRU(keras.layers.Bidirectional):
    """`keras.layers.Bidirectional` over a `ConcatGRU`, with both directions in one loop where that is faster.

    Keras runs a bidirectional RNN as two loops, one per direction. Stacking the
    two directions' weights on a leading axis lets one loop step both: each step
    is one batched matmul instead of two chains of small ones, which halves the
    steps a GPU (or PyTorch's per-op dispatch) waits on. On PyTorch, with TF1's
    math and the default activations, `"stacked_hoisted"` is one autograd
    function whose gradient is written out by hand (`attention.torch_loop`);
    on a GPU `"graphed"` replays that loop as CUDA graphs, and JAX runs the
    stacked scan unrolled (`JAX_GPU_UNROLL` steps per iteration).
    The math, the masking and the outputs are those of `Bidirectional`, and so
    are the weights and their order: a `Bidirectional(ConcatGRU(...))`'s
    weights load into this layer and back.

    Args:
        layer: A `ConcatGRU` (or any RNN, which then runs Keras's way).
        merge_mode: As `Bidirectional`: `"concat"`, `"sum"`, `"ave"`, `"mul"`
            or `None` (the two sequences as a list).
        weights: As `Bidirectional`.
        backward_layer: As `Bidirectional`.
        loop: How the directions run.
            `"per_direction"`: one loop per direction, as `Bidirectional`
            (on TensorFlow and JAX, with `ConcatGRU`'s hand-written step gradient).
            `"stacked"`: both directions in one loop.
            `"stacked_hoisted"`: the same, with the inputs' half of every
            step's matmuls done for all steps at once before the loop.
            `"graphed"`: on PyTorch with a CUDA device, `"stacked_hoisted"`
            captured as CUDA graphs, forward and backward, one per batch
            shape (`attention.torch_graphs`); elsewhere `"stacked_hoisted"`.
            `"cudnn"`: with `reset_after=True` on PyTorch, PyTorch's own
            GRU kernel for each direction (cuDNN on a GPU), the mask turned
            into lengths; rows must be post-padded (real steps first), else
            the call runs `"stacked_hoisted"`.
            `"auto"` (default): the fastest for the backend and device:
            `"per_direction"` on TensorFlow and on JAX's CPU, `"stacked"` on
            PyTorch's CPU, `"stacked_hoisted"` on JAX's GPU, `"graphed"` on
            PyTorch's GPU, and `"cudnn"` for `reset_after=True` on PyTorch.
            The stacked loops need two `ConcatGRU`s alike but for
            `go_backwards`, without dropout, returning sequences only, and
            no initial state; otherwise the layer runs per direction. With
            `reset_after=True`, `"stacked"` is `"stacked_hoisted"` (the
            input's matmul is apart from the state's in that math).
        **kwargs: Layer arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, timesteps, features)`, with an optional boolean mask
        `(batch, timesteps)`.

    Output shape:
        As `Bidirectional`: with `merge_mode=None`, two tensors
        `(batch, timesteps, units)` (the backward one in the input's time
        order); with `"concat"`, one `(batch, timesteps, 2 * units)`.

    Example:

    >>> gru = BidirectionalGRU(ConcatGRU(4, return_sequences=True, reset_after=False), merge_mode=None)
    >>> forward, backward = gru(np.ones((2, 5, 3), "float32"))
    >>> tuple(forward.shape), tuple(backward.shape)
    ((2, 5, 4), (2, 5, 4))
    """

    def __init__(
        self,
        layer: keras.layers.Layer,
        merge_mode: str | None = "concat",
        weights: list | None = None,
        backward_layer: keras.layers.Layer | None = None,
        loop: str = "auto",
        **kwargs: Any,
    ) -> None:
        if loop not in LOOPS:
            raise ValueError(f"`loop` must be one of {', '.join(map(repr, LOOPS))}; got {loop!r}.")
        super().__init__(layer, merge_mode=merge_mode, weights=weights, backward_layer=backward_layer, **kwargs)
        self.loop = loop
        self._graphed = None  # attention.torch_graphs.cuda_graphed(stacked_gru), made on first use

    def get_config(self) -> dict:
        return {**super().get_config(), "loop": self.loop}

    def loop_in_force(self, sequences: Any = None, initial_state: Any = None) -> str:
        """The loop a call on `sequences` runs: `loop`, or what `"auto"` picks, or `"per_direction"` where stacking can't run."""
        if not self._can_stack(initial_state):
            return "per_direction"
        backend = keras.backend.backend()
        reset_after = self.forward_layer.cell.reset_after
        on_gpu = backend != "tensorflow" and _on_gpu(sequences)
        loop = self.loop
        if loop == "auto":
            if backend == "torch":
                loop = "cudnn" if reset_after else "graphed" if on_gpu else "stacked"
            else:
                loop = "stacked_hoisted" if on_gpu else "per_direction"
        if loop == "cudnn" and not (backend == "torch" and self._torch_kernel_fits(sequences)):
            loop = "stacked_hoisted"
        if loop == "graphed" and not (backend == "torch" and on_gpu):
            loop = "stacked_hoisted"
        return "stacked_hoisted" if loop == "stacked" and reset_after else loop

    def _torch_kernel_fits(self, sequences: Any) -> bool:
        from attention import torch_gru

        return all(torch_gru.supports(layer.cell, sequences) for layer in (self.forward_layer, self.backward_layer))

    def _can_stack(self, initial_state: Any) -> bool:
        forward, backward = self.forward_layer, self.backward_layer
        if type(forward) is not ConcatGRU or type(backward) is not ConcatGRU:
            return False  # subclasses may step differently
        if any(c.dropout or c.recurrent_dropout for c in (forward.cell, backward.cell)):
            return False
        return (
            initial_state is None
            and self.return_sequences
            and not self.return_state
            and not self.stateful
            and forward.cell.units == backward.cell.units
            and forward.cell.use_bias == backward.cell.use_bias
            and forward.cell.reset_after == backward.cell.reset_after
            and forward.cell.activation is backward.cell.activation
            and forward.cell.recurrent_activation is backward.cell.recurrent_activation
        )

    def call(self, sequences: Any, initial_state: Any = None, mask: Any = None, training: Any = None) -> Any:
        loop = self.loop_in_force(sequences, initial_state)
        if loop == "per_direction":
            return super().call(sequences, initial_state=initial_state, mask=mask, training=training)
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        outputs = None
        if loop == "cudnn":
            from attention import torch_gru

            outputs = torch_gru.bidirectional_gru(sequences, mask, self.forward_layer, self.backward_layer)
        elif loop == "graphed":
            if self._graphed is None:
                from attention import torch_graphs

                self._graphed = torch_graphs.cuda_graphed(stacked_gru)
            outputs = self._graphed(sequences, mask, self.forward_layer, self.backward_layer, True)
        if outputs is None:  # not "cudnn", or rows not post-padded
            unroll = JAX_GPU_UNROLL if keras.backend.backend() == "jax" and _on_gpu(sequences) else 1
            outputs = stacked_gru(sequences, mask, self.forward_layer, self.backward_layer,
                                  hoisted=loop != "stacked", unroll=unroll)
        y, y_rev = outputs
        y, y_rev = ops.cast(y, self.compute_dtype), ops.cast(y_rev, self.compute_dtype)
        if self.merge_mode == "concat":
            return ops.concatenate([y, y_rev], axis=-1)
        if self.merge_mode == "sum":
            return y + y_rev
        if self.merge_mode == "ave":
            return (y + y_rev) / 2
        if self.merge_mode == "mul":
            return y * y_rev
        return (y, y_rev)


def stacked_gru(x: Any, mask: Any, forward: ConcatGRU, backward: ConcatGRU, hoisted: bool = False,
                unroll: int = 1) -> tuple:
    """Runs `forward` over `x` and `backward` over `x` reversed in one loop.

    Args:
        x: `(batch, timesteps, features)`.
        mask: `(batch, timesteps)` booleans, or `None`. At a masked step the
            state carries over and the output is zero, as in `Bidirectional`.
        forward, backward: Built `ConcatGRU`s (the second with `go_backwards`).
        hoisted: Compute `x`'s part of every step's matmuls before the loop,
            in one matmul, so that each step multiplies only the state. With
            `reset_after` the loop is always hoisted, as Keras's own GRU.
        unroll: Steps per iteration of the scan (TensorFlow and JAX).

    Returns:
        The two output sequences `(batch, timesteps, units)`, both in `x`'s
        time order.
    """
    xs = ops.transpose(x, (1, 0, 2))  # (time, batch, features)
    masks = _step_masks(mask)
    if hoisted or forward.cell.reset_after:
        inputs, recurrent, recurrent_bias = _projected_inputs(xs, forward, backward)
        if _recurrence_by_hand(forward.cell):
            from attention import torch_loop

            return _in_time_order(torch_loop.recurrence(inputs, recurrent, masks))
        step = _projected_step(forward.cell, recurrent, recurrent_bias)
    else:
        inputs, step = _concat_loop(xs, forward, backward)
    h0 = ops.zeros((2, ops.shape(x)[0], forward.cell.units), dtype=inputs.dtype)
    if masks is None:
        _, outputs = scan(lambda h, inputs_t: (step(h, inputs_t),) * 2, h0, inputs, unroll)
    else:

        def body(h: Any, step_inputs: tuple) -> tuple:
            inputs_t, mask_t = step_inputs
            h = ops.where(mask_t, step(h, inputs_t), h)
            return h, ops.where(mask_t, h, ops.zeros_like(h))

        _, outputs = scan(body, h0, (inputs, masks), unroll)
    return _in_time_order(outputs)


def _step_masks(mask: Any) -> Any:
    """`(batch, time)` masks as the loop reads them, `(time, direction, batch, 1)` booleans (`None` stays `None`)."""
    if mask is None:
        return None
    masks = ops.expand_dims(ops.transpose(ops.cast(mask, "bool"), (1, 0)), -1)
    return _both(masks, masks)


def _in_time_order(outputs: Any) -> tuple:
    """`(time, direction, batch, units)` as the two directions' `(batch, time, units)`, the backward one re-reversed."""
    return ops.transpose(outputs[:, 0], (1, 0, 2)), ops.transpose(ops.flip(outputs[:, 1], 0), (1, 0, 2))


def _recurrence_by_hand(cell: Any) -> bool:
    """Whether the hoisted loop runs as `torch_loop.recurrence`: on PyTorch, TF1's math with tanh and sigmoid."""
    return (
        keras.backend.backend() == "torch"
        and not cell.reset_after
        and cell.activation is keras.activations.tanh
        and cell.recurrent_activation is keras.activations.sigmoid
    )


def _both(sequence: Any, reversed_sequence: Any) -> Any:
    """`(time, direction, ...)`: the forward direction reads `sequence`, the backward one `reversed_sequence` reversed."""
    return ops.stack([sequence, ops.flip(reversed_sequence, 0)], axis=1)


def _concat_loop(xs: Any, forward: ConcatGRU, backward: ConcatGRU) -> tuple:
    """The loop's inputs and step in TF1's form: two matmuls of `[x_t, h]` a step (the original math)."""
    # (direction, ...): forward's weights, then backward's.
    gates_kernel, gates_bias, candidate_kernel, candidate_bias = (
        ops.stack(pair) for pair in zip(forward._stacked_weights(), backward._stacked_weights())
    )
    gates_bias, candidate_bias = ops.expand_dims(gates_bias, 1), ops.expand_dims(candidate_bias, 1)
    gru = concat_step(forward.cell, gates_kernel, gates_bias, candidate_kernel, candidate_bias)
    return _both(xs, xs), lambda h, x_t: gru(x_t, h)


def _projected_inputs(xs: Any, forward: ConcatGRU, backward: ConcatGRU) -> tuple:
    """`x`'s matmuls for every step, done before the loop (Keras's weight layout, `[z, r, h]`).

    Returns `(inputs, recurrent, recurrent_bias)`: the projected inputs with the
    input bias `(time, direction, batch, 3 units)`, the recurrent kernels
    `(direction, units, 3 units)`, and with `reset_after` the recurrent bias
    `(direction, 1, 3 units)` (else `None`).
    """
    cells = forward.cell, backward.cell
    cell = cells[0]
    # One (time * batch, features) x (features, 6 units) matmul, then each direction its half.
    projected = ops.matmul(xs, ops.concatenate([c.kernel for c in cells], axis=-1))
    inputs = _both(*ops.split(projected, 2, axis=-1))  # (time, direction, batch, 3 units)
    recurrent = _stacked(cells, "recurrent_kernel")  # (direction, units, 3 units)
    recurrent_bias = None
    if cell.use_bias:
        bias = _stacked(cells, "bias")  # (direction, 3 units), or (direction, 2, 3 units) with reset_after
        if cell.reset_after:
            bias, recurrent_bias = bias[:, 0], ops.expand_dims(bias[:, 1], 1)
        inputs = inputs + ops.expand_dims(bias, 1)
    return inputs, recurrent, recurrent_bias


def _stacked(cells: tuple, name: str) -> Any:
    """The two cells' weight `name` stacked on a leading direction axis."""
    # `ops.stack` of variables fails on TensorFlow.
    return ops.concatenate([ops.expand_dims(getattr(c, name), 0) for c in cells], axis=0)


def _projected_step(cell: Any, recurrent: Any, recurrent_bias: Any) -> Any:
    """The hoisted loop's step `h = step(h, inputs_t)`, for `_projected_inputs`'s inputs."""
    units = cell.units
    if cell.reset_after:
        def step(h: Any, x_t: Any) -> Any:
            h_part = ops.matmul(h, recurrent)
            if recurrent_bias is not None:
                h_part = h_part + recurrent_bias
            x_zr, x_h = split_at(x_t, 2 * units)
            h_zr, h_h = split_at(h_part, 2 * units)
            z, r = ops.split(cell.recurrent_activation(x_zr + h_zr), 2, axis=-1)
            c = cell.activation(x_h + r * h_h)
            return c + z * (h - c)
    else:
        recurrent_zr, recurrent_h = split_at(recurrent, 2 * units)

        def step(h: Any, x_t: Any) -> Any:
            x_zr, x_h = split_at(x_t, 2 * units)
            z, r = ops.split(cell.recurrent_activation(x_zr + ops.matmul(h, recurrent_zr)), 2, axis=-1)
            c = cell.activation(x_h + ops.matmul(r * h, recurrent_h))
            return c + z * (h - c)

    return step


def _on_gpu(sequences: Any) -> bool:
    """Whether this call runs on a GPU: JAX's default device, or where PyTorch holds the inputs."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.default_backend() != "cpu"
    device = getattr(sequences, "device", None) or ops.zeros(()).device  # Keras's default device
    return getattr(device, "type", None) == "cuda"

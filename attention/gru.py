"""A GRU layer with Keras's weights and math, stepped as TF1's `GRUCell` steps."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops, tree


@keras.saving.register_keras_serializable(package="attention")
class ConcatGRU(keras.layers.GRU):
    """`keras.layers.GRU(reset_after=False)`, computed with two matmuls a step instead of three.

    The original TF1 `GRUCell` multiplies the concatenation `[x_t, h]` by one
    stacked kernel for both gates, and `[x_t, r * h]` by another for the
    candidate; Keras's cell computes `x_t @ W`, `h @ U_zr` and `(r * h) @ U_h`
    and slices its kernels at every step. The sums are the same, but fewer,
    larger matmuls with kernels stacked once per call, outside the loop, run
    faster on a CPU (see BENCHMARKS.md).

    On the TensorFlow and JAX backends, with the default activations, each step
    also carries its gradient written out by hand, so that the loop keeps only
    `x_t`, `h`, `z`, `r` and the candidate for the backward pass, not every
    intermediate of the step: less memory, and fewer ops to run backwards.

    The weights, their layout and the configuration are those of `GRU`, so a
    `GRU`'s weights load into a `ConcatGRU` and back. With `reset_after=True`
    or dropout, the layer runs Keras's own loop (and cuDNN where Keras uses it).
    One difference, Keras's own: with a mask and an `initial_state`, a row's masked
    steps before its first word output zeros here on every backend, as `GRU` does
    on TensorFlow and PyTorch; `GRU` on JAX outputs the initial state there.
    """

    def _stacked_weights(self) -> tuple:
        """TF1's layout of Keras's weights: `(gates_kernel, gates_bias, candidate_kernel, candidate_bias)`."""
        cell = self.cell
        units = cell.units
        kernel_zr, kernel_h = split_at(cell.kernel, 2 * units)
        recurrent_zr, recurrent_h = split_at(cell.recurrent_kernel, 2 * units)
        gates_kernel = ops.concatenate([kernel_zr, recurrent_zr], axis=0)  # (D + H, 2H): [z, r]
        candidate_kernel = ops.concatenate([kernel_h, recurrent_h], axis=0)  # (D + H, H)
        if cell.use_bias:
            gates_bias, candidate_bias = split_at(cell.bias, 2 * units)
        else:
            gates_bias = ops.zeros((2 * units,), dtype=gates_kernel.dtype)
            candidate_bias = ops.zeros((units,), dtype=gates_kernel.dtype)
        return gates_kernel, gates_bias, candidate_kernel, candidate_bias

    def _concat_step(self) -> Any:
        gru = concat_step(self.cell, *self._stacked_weights())

        def step(x: Any, states: list) -> tuple:
            h = gru(x, states[0])
            return h, [h]

        return step

    def _step(self, training: bool) -> Any:
        """The loop's step function; subclasses may swap in another with the same math."""
        return self._fused_step() if self._hand_written_gradient() else self._concat_step()

    def _hand_written_gradient(self) -> bool:
        """Whether the step carries its gradient written out by hand: on TensorFlow and JAX, with tanh and sigmoid."""
        cell = self.cell
        return (
            keras.backend.backend() in ("tensorflow", "jax")
            and cell.activation is keras.activations.tanh
            and cell.recurrent_activation is keras.activations.sigmoid
        )

    def _fused_step(self) -> Any:
        """`_concat_step` with the hand-written gradient (TensorFlow's `custom_gradient`, JAX's `custom_vjp`)."""
        weights = self._stacked_weights()
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            @tf.custom_gradient
            def gru(x, h_tm1, gates_kernel, gates_bias, candidate_kernel, candidate_bias):
                h, saved = _tf1_forward(x, h_tm1, gates_kernel, gates_bias, candidate_kernel, candidate_bias)
                return h, lambda d_h: _tf1_backward(saved, d_h)
        else:
            import jax

            @jax.custom_vjp
            def gru(x, h_tm1, gates_kernel, gates_bias, candidate_kernel, candidate_bias):
                return _tf1_forward(x, h_tm1, gates_kernel, gates_bias, candidate_kernel, candidate_bias)[0]

            gru.defvjp(_tf1_forward, _tf1_backward)

        def step(x: Any, states: list) -> tuple:
            h = gru(x, states[0], *weights)
            return h, [h]

        return step

    def _keras_loop(self) -> bool:
        """Whether this configuration runs Keras's own loop instead."""
        cell = self.cell
        return bool(cell.reset_after or cell.dropout or cell.recurrent_dropout)

    def inner_loop(self, sequences: Any, initial_state: Any, mask: Any, training: bool = False) -> Any:
        if self._keras_loop():
            return super().inner_loop(sequences, initial_state, mask, training=training)
        if tree.is_nested(initial_state):
            initial_state = initial_state[0]
        if tree.is_nested(mask):
            mask = mask[0]
        return self._run_loop(self._step(training), sequences, initial_state, mask)

    def _run_loop(self, step: Any, sequences: Any, initial_state: Any, mask: Any) -> Any:
        """The RNN loop over `sequences` with `step`, as Keras's RNN layers run it.

        Returns `(last_output, outputs, [last_state])` as Keras's RNN loop does:
        at a masked step the state is carried over, and the output is zero
        (`zero_output_for_mask`) or the previous output.
        """
        loop = _tensorflow_loop if keras.backend.backend() == "tensorflow" else _scan_loop
        last_output, outputs, state = loop(
            step, sequences, initial_state, mask, self.go_backwards, self.return_sequences, self.zero_output_for_mask
        )
        return last_output, outputs, [state]


def concat_step(cell: Any, gates_kernel: Any, gates_bias: Any, candidate_kernel: Any, candidate_bias: Any) -> Any:
    """TF1's GRU step `h = step(x_t, h_tm1)`: two matmuls of `[x_t, h_tm1]` with `cell`'s activations.

    The weights are `ConcatGRU._stacked_weights()`'s, or the same stacked on a
    leading axis (with the biases broadcastable), for a batched step.
    """

    def step(x: Any, h_tm1: Any) -> Any:
        return _tf1_forward(x, h_tm1, gates_kernel, gates_bias, candidate_kernel, candidate_bias,
                            cell.activation, cell.recurrent_activation)[0]

    return step


def _tf1_forward(x: Any, h_tm1: Any, gates_kernel: Any, gates_bias: Any, candidate_kernel: Any, candidate_bias: Any,
                 activation: Any = ops.tanh, recurrent_activation: Any = ops.sigmoid) -> tuple:
    """TF1's step: `(h, saved)`, `saved` being all that `_tf1_backward` needs (with tanh and sigmoid)."""
    gates = ops.matmul(ops.concatenate([x, h_tm1], axis=-1), gates_kernel) + gates_bias
    zr = recurrent_activation(gates)
    z, r = ops.split(zr, 2, axis=-1)
    c = activation(ops.matmul(ops.concatenate([x, r * h_tm1], axis=-1), candidate_kernel) + candidate_bias)
    h = c + z * (h_tm1 - c)  # z * h_tm1 + (1 - z) * c, one op less
    return h, (x, h_tm1, zr, c, gates_kernel, candidate_kernel)


def _tf1_backward(saved: tuple, d_h: Any) -> tuple:
    """The gradients of `_tf1_forward`'s `h` with respect to its six inputs.

    Backpropagation through h = c + z * (h_tm1 - c), with c = tanh([x, r * h_tm1] @ Wc + bc)
    and [z, r] = sigmoid([x, h_tm1] @ Wg + bg). Only x, h_tm1, [z, r] and c are kept per step,
    the rest is recomputed: less memory, and fewer ops to run backwards than the step's
    automatic gradient. (TensorFlow's graph optimizer and XLA fold the transposes into the matmuls.)
    """
    x, h_tm1, zr, c, gates_kernel, candidate_kernel = saved
    features = x.shape[1]
    z, r = ops.split(zr, 2, axis=1)
    d_candidate = d_h * (1 - z) * (1 - c * c)
    d_x, d_rh = split_at(ops.matmul(d_candidate, ops.transpose(candidate_kernel)), features)
    d_gates = ops.concatenate([d_h * (h_tm1 - c), d_rh * h_tm1], axis=1) * zr * (1 - zr)
    d_x_gates, d_h_gates = split_at(ops.matmul(d_gates, ops.transpose(gates_kernel)), features)
    return (
        d_x + d_x_gates,
        d_h * z + d_rh * r + d_h_gates,
        ops.matmul(ops.transpose(ops.concatenate([x, h_tm1], axis=1)), d_gates),
        ops.sum(d_gates, axis=0),
        ops.matmul(ops.transpose(ops.concatenate([x, r * h_tm1], axis=1)), d_candidate),
        ops.sum(d_candidate, axis=0),
    )


def _scan_loop(step: Any, x: Any, h0: Any, mask: Any, go_backwards: bool, return_sequences: bool,
               zero_output_for_mask: bool) -> tuple:
    """The loop with `scan`: `jax.lax.scan` on JAX, a Python loop on PyTorch.

    Every step's output is kept (`return_sequences` only matters to the TensorFlow loop).
    """
    xs = ops.transpose(x, (1, 0, 2))
    masks = None if mask is None else ops.expand_dims(ops.transpose(ops.cast(mask, "bool"), (1, 0)), -1)
    if go_backwards:
        xs = ops.flip(xs, 0)
        masks = None if masks is None else ops.flip(masks, 0)

    def body(carry: tuple, inputs: Any) -> tuple:
        h, previous = carry
        x_t, mask_t = inputs if masks is not None else (inputs, None)
        output, (h_new,) = step(x_t, [h])
        if mask_t is not None:
            h_new = ops.where(mask_t, h_new, h)
            output = ops.where(mask_t, output, ops.zeros_like(output) if zero_output_for_mask else previous)
        return (h_new, output), output

    (h, last_output), outputs = scan(body, (h0, ops.zeros_like(h0)), xs if masks is None else (xs, masks))
    return last_output, ops.transpose(outputs, (1, 0, 2)), h


def split_at(x: Any, index: int) -> tuple:
    """`x` cut in two along its last axis, before `index`.

    A slice, not `ops.split(x, [index])`: on PyTorch, Keras puts a list of split
    points on the device and reads it back, a device-to-host wait at each call
    (each step, in a loop) that also keeps the loop out of a CUDA graph.
    """
    return x[..., :index], x[..., index:]


def scan(body: Any, carry: Any, xs: Any, unroll: int = 1) -> tuple:
    """`keras.ops.scan(body, carry, xs, unroll=unroll)` over the leading axis of `xs` (an array or a tuple of arrays).

    On PyTorch, a Python loop over `unstack`ed steps (`unroll` has no meaning
    there): Keras's `scan` there takes `xs[i]` at each step, and the gradient
    of each such slice is a zero-filled copy of the whole sequence (the
    Bi-GRU's gradient took 4 times as long in a trial; BENCHMARKS.md).
    """
    if keras.backend.backend() == "tensorflow":
        return _tensorflow_scan(body, carry, xs, unroll)
    if keras.backend.backend() != "torch":
        return ops.scan(body, carry, xs, unroll=unroll)
    steps = zip(*(ops.unstack(part, axis=0) for part in xs)) if isinstance(xs, tuple) else ops.unstack(xs, axis=0)
    outputs = []
    for inputs in steps:
        carry, output = body(carry, inputs)
        outputs.append(output)
    return carry, ops.stack(outputs)


def _tensorflow_scan(body: Any, carry: Any, xs: Any, unroll: int) -> tuple:
    """`scan` on TensorFlow: a `tf.while_loop` bounded by the number of steps.

    Keras's `scan` there leaves the loop unbounded, and XLA cannot take the
    gradient of such a loop (`jit_compile=True`: "XLA compilation requires a
    fixed tensor list size"). The carry travels as the loop's own variables,
    and each step's output (of the first carry's dtype) into a TensorArray.
    """
    import tensorflow as tf

    parts = xs if isinstance(xs, tuple) else (xs,)
    steps = tf.shape(parts[0])[0]
    arrays = [tf.TensorArray(part.dtype, size=steps).unstack(part) for part in parts]
    outputs = tf.TensorArray(tf.nest.flatten(carry)[0].dtype, size=steps)

    def step(time: Any, carry: Any, outputs: Any) -> tuple:
        inputs = tuple(array.read(time) for array in arrays)
        carry, output = body(carry, inputs if isinstance(xs, tuple) else inputs[0])
        return time + 1, carry, outputs.write(time, output)

    _, carry, outputs = tf.while_loop(lambda time, *_: time < steps, step, (tf.constant(0), carry, outputs),
                                      maximum_iterations=steps, parallel_iterations=unroll)
    outputs = outputs.stack()
    outputs.set_shape(parts[0].shape[:1].concatenate(outputs.shape[1:]))  # the number of steps, where known
    return carry, outputs


def _tensorflow_loop(step: Any, x: Any, h0: Any, mask: Any, go_backwards: bool, return_sequences: bool,
                     zero_output_for_mask: bool) -> tuple:
    """The same loop as a `tf.while_loop` over TensorArrays, as Keras's own RNN loop on TensorFlow.

    `keras.ops.scan` on TensorFlow carries its state through a TensorArray,
    which costs time at every step; this is the loop Keras's RNN layers run.
    """
    import tensorflow as tf

    xs = tf.transpose(x, (1, 0, 2))
    masks = None if mask is None else tf.expand_dims(tf.transpose(tf.cast(mask, tf.bool)), -1)
    if go_backwards:
        xs = tf.reverse(xs, [0])
        masks = None if masks is None else tf.reverse(masks, [0])
    steps = tf.shape(xs)[0]
    inputs = tf.TensorArray(xs.dtype, size=steps).unstack(xs)
    mask_array = None if masks is None else tf.TensorArray(tf.bool, size=steps).unstack(masks)
    outputs = tf.TensorArray(h0.dtype, size=steps if return_sequences else 1, element_shape=h0.shape)

    def body(time: Any, outputs: Any, previous: Any, h: Any) -> tuple:
        output, (h_new,) = step(inputs.read(time), [h])
        if mask_array is not None:
            mask_t = mask_array.read(time)
            h_new = tf.where(mask_t, h_new, h)
            output = tf.where(mask_t, output, tf.zeros_like(output) if zero_output_for_mask else previous)
        outputs = outputs.write(time if return_sequences else 0, output)
        return time + 1, outputs, output, h_new

    _, outputs, last_output, h = tf.while_loop(
        lambda time, *_: time < steps,
        body,
        (tf.constant(0), outputs, tf.zeros_like(h0), h0),
        maximum_iterations=steps,
        parallel_iterations=32,
        swap_memory=True,
    )
    outputs = outputs.stack()
    return last_output, tf.transpose(outputs, (1, 0, 2)), h

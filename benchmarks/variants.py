"""Prototypes of faster ways to run the port's model, with the same math (see BENCHMARKS.md)."""

from __future__ import annotations


import keras
from keras import ops, tree

from attention.gru import ConcatGRU, _tensorflow_loop


@keras.saving.register_keras_serializable(package="benchmarks")
class ProjectedGRU(ConcatGRU):
    """`keras.layers.GRU` with the input projection taken out of the recurrent loop.

    Keras's GRU computes `x_t @ kernel + bias` inside the loop, one small
    `(batch, D) x (D, 3H)` matmul per step, and its gradient one step at a
    time. Here `x @ kernel + bias` is one `(batch * time, D) x (D, 3H)` matmul
    before the loop, which then only does the recurrent matmuls (whose kernel
    slices are also cut once, outside the loop). Same weights, same layout,
    same math (both `reset_after` variants); dropout falls back to Keras's loop.
    """

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        if cell.dropout or cell.recurrent_dropout:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        if tree.is_nested(initial_state):
            initial_state = initial_state[0]
        if tree.is_nested(mask):
            mask = mask[0]
        units = cell.units
        projected = ops.matmul(sequences, cell.kernel)
        recurrent_bias = None
        if cell.use_bias:
            if cell.reset_after:
                projected = projected + cell.bias[0]
                recurrent_bias = cell.bias[1]
            else:
                projected = projected + cell.bias
        kernel = cell.recurrent_kernel
        kernel_zr, kernel_h = kernel[:, : 2 * units], kernel[:, 2 * units :]

        def step(x, states):
            h_tm1 = states[0]
            x_z, x_r, x_h = x[:, :units], x[:, units : 2 * units], x[:, 2 * units :]
            if cell.reset_after:
                inner = ops.matmul(h_tm1, kernel)
                if recurrent_bias is not None:
                    inner = inner + recurrent_bias
                z = cell.recurrent_activation(x_z + inner[:, :units])
                r = cell.recurrent_activation(x_r + inner[:, units : 2 * units])
                hh = cell.activation(x_h + r * inner[:, 2 * units :])
            else:
                inner = ops.matmul(h_tm1, kernel_zr)
                z = cell.recurrent_activation(x_z + inner[:, :units])
                r = cell.recurrent_activation(x_r + inner[:, units:])
                hh = cell.activation(x_h + ops.matmul(r * h_tm1, kernel_h))
            h = z * h_tm1 + (1 - z) * hh
            return h, [h]

        return self._run_loop(step, projected, initial_state, mask)


@keras.saving.register_keras_serializable(package="benchmarks")
class FastGRU(ConcatGRU):
    """`ConcatGRU` whose loop skips the per-step masking when padding is at the end.

    Keras masks inside the loop: two `where`s per step (output and state), and their
    gradients. When every row's mask is a prefix (post-padding, as `zero_pad` makes it),
    this layer instead runs the loop without a mask over the real steps followed by the
    padding, then zeroes the outputs at the padded steps in one `where` over the whole
    sequence. The backward direction first reverses each row within its real length
    (`tf.reverse_sequence`, as TF1's `bidirectional_dynamic_rnn`), so padding comes last
    there too. The padded steps' states never reach a real step, so outputs and
    gradients are those of the masked loop. Other masks (TensorFlow only: `tf.cond` picks
    at run time) and other settings fall back to `ConcatGRU`'s masked loop.
    """

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if tree.is_nested(mask):
            mask = mask[0]
        if (mask is None or self._keras_loop() or self.unroll or not self.return_sequences
                or not self.zero_output_for_mask or keras.backend.backend() != "tensorflow"):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        import tensorflow as tf

        if tree.is_nested(initial_state):
            initial_state = initial_state[0]
        mask = tf.cast(mask, tf.bool)
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        prefix = tf.reduce_all(tf.equal(mask, tf.sequence_mask(lengths, tf.shape(mask)[1])))
        step = self._concat_step()

        def unmasked():
            x = sequences
            if self.go_backwards:
                x = tf.reverse_sequence(x, lengths, seq_axis=1, batch_axis=0)
            _, outputs, _ = _tensorflow_loop(step, x, initial_state, None, False, True, True)
            last = tf.gather(outputs, tf.maximum(lengths - 1, 0), axis=1, batch_dims=1)
            last = tf.where(lengths[:, None] > 0, last, initial_state)
            if self.go_backwards:
                # Back to time order, then reversed as Keras returns a backward RNN's outputs.
                outputs = tf.reverse(tf.reverse_sequence(outputs, lengths, seq_axis=1, batch_axis=0), [1])
                return last, tf.where(tf.reverse(mask, [1])[..., None], outputs, 0.0), [last]
            return last, tf.where(mask[..., None], outputs, 0.0), [last]

        def masked():
            last, outputs, state = _tensorflow_loop(step, sequences, initial_state, mask, self.go_backwards, True, True)
            return last, outputs, [state]

        return tf.cond(prefix, unmasked, masked)


def _gru_block(x, h_prev, w_ru, w_c, b_ru, b_c):
    """One step of TensorFlow's fused `GRUBlockCell` kernel, with its fused gradient kernel.

    TF 2 still ships the ops (`tf.raw_ops.GRUBlockCell`, `GRUBlockCellGrad`) but no longer
    registers their gradient (it lived in `tf.contrib.rnn`), so it is given here.
    """
    import tensorflow as tf

    @tf.custom_gradient
    def step(x, h_prev, w_ru, w_c, b_ru, b_c):
        r, u, c, h = tf.raw_ops.GRUBlockCell(x=x, h_prev=h_prev, w_ru=w_ru, w_c=w_c, b_ru=b_ru, b_c=b_c)

        def grad(d_h):
            d_x, d_h_prev, d_c_bar, d_ru_bar = tf.raw_ops.GRUBlockCellGrad(
                x=x, h_prev=h_prev, w_ru=w_ru, w_c=w_c, b_ru=b_ru, b_c=b_c, r=r, u=u, c=c, d_h=d_h
            )
            d_w_ru = tf.matmul(tf.concat([x, h_prev], 1), d_ru_bar, transpose_a=True)
            d_w_c = tf.matmul(tf.concat([x, r * h_prev], 1), d_c_bar, transpose_a=True)
            return d_x, d_h_prev, d_w_ru, d_w_c, tf.reduce_sum(d_ru_bar, 0), tf.reduce_sum(d_c_bar, 0)

        return h, grad

    return step(x, h_prev, w_ru, w_c, b_ru, b_c)


@keras.saving.register_keras_serializable(package="benchmarks")
class BlockGRU(ConcatGRU):
    """`ConcatGRU` that trains with TensorFlow's fused `GRUBlockCell` kernels.

    `GRUBlockCell` (TF1 contrib's GRUBlockCell) computes TF1's `GRUCell` exactly
    (`[x, h] @ w_ru`, gates in `[r, u]` order, `[x, r * h] @ w_c`) in one op per step, and
    `GRUBlockCellGrad` its gradient in one op (plus the two weight-gradient matmuls), where
    the unfused step has a dozen ops and their gradients, whose intermediates the loop
    also keeps for the backward pass. Keras's `[z, r, h]` weights are rearranged into the
    kernel's layout once per call. In training only: for inference `ConcatGRU`'s step (on
    oneDNN matmuls) is as fast or faster. TensorFlow backend only; elsewhere, and for other
    activations than tanh and sigmoid, it is `ConcatGRU`.
    """

    def _block_step(self):
        cell = self.cell
        w_z, w_r, w_h = ops.split(cell.kernel, 3, axis=1)
        u_z, u_r, u_h = ops.split(cell.recurrent_kernel, 3, axis=1)
        w_ru = ops.concatenate([ops.concatenate([w_r, w_z], 1), ops.concatenate([u_r, u_z], 1)], 0)
        w_c = ops.concatenate([w_h, u_h], 0)
        if cell.use_bias:
            b_z, b_r, b_h = ops.split(cell.bias, 3)
            b_ru, b_c = ops.concatenate([b_r, b_z]), b_h
        else:
            b_ru, b_c = ops.zeros((2 * cell.units,)), ops.zeros((cell.units,))

        def step(x, states):
            h = _gru_block(x, states[0], w_ru, w_c, b_ru, b_c)
            return h, [h]

        return step

    def _step(self, training):
        cell = self.cell
        if (training and keras.backend.backend() == "tensorflow" and cell.activation is keras.activations.tanh
                and cell.recurrent_activation is keras.activations.sigmoid):
            return self._block_step()
        return self._concat_step()


@keras.saving.register_keras_serializable(package="benchmarks")
class TF1GRUCell(keras.layers.Layer):
    """The TF1 `GRUCell` as a Keras 3 RNN cell, public API only: `keras.layers.RNN(TF1GRUCell(150))`.

    Its weights are TF1's, in TF1's layout and with TF1's initialisation: `gates/kernel`
    `(D + H, 2H)` with the gates in `[r, u]` order (Glorot uniform over that shape),
    `gates/bias` ones, `candidate/kernel` `(D + H, H)` and `candidate/bias` zeros. Each
    step is TF1's two matmuls on concatenated inputs (what `ConcatGRU` does with Keras's
    layout, without reaching into `keras.src`). A TF1 checkpoint's arrays load as they are.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        depth, units = input_shape[-1] + self.units, self.units
        self.gates_kernel = self.add_weight(name="gates_kernel", shape=(depth, 2 * units), initializer="glorot_uniform")
        self.gates_bias = self.add_weight(name="gates_bias", shape=(2 * units,), initializer="ones")
        self.candidate_kernel = self.add_weight(name="candidate_kernel", shape=(depth, units), initializer="glorot_uniform")
        self.candidate_bias = self.add_weight(name="candidate_bias", shape=(units,), initializer="zeros")

    def call(self, inputs, states):
        h = states[0] if tree.is_nested(states) else states
        gates = ops.sigmoid(ops.matmul(ops.concatenate([inputs, h], axis=-1), self.gates_kernel) + self.gates_bias)
        r, u = ops.split(gates, 2, axis=-1)
        c = ops.tanh(ops.matmul(ops.concatenate([inputs, r * h], axis=-1), self.candidate_kernel) + self.candidate_bias)
        new_h = u * h + (1 - u) * c
        return new_h, [new_h] if tree.is_nested(states) else new_h

    def get_config(self):
        return {**super().get_config(), "units": self.units}


GRU_VARIANTS = {"keras": keras.layers.GRU, "projected": ProjectedGRU, "concat": ConcatGRU, "fast": FastGRU, "block": BlockGRU, "tf1cell": TF1GRUCell}


def with_gru(model: keras.Model, variant: str) -> keras.Model:
    """A compiled copy of `attention.build_model()`'s model whose GRUs are of another class.

    The copy's weights are freshly initialised; all variants but `tf1cell` share the
    layout of Keras's GRU, so `copy.set_weights(model.get_weights())` carries them over.
    """
    cls = GRU_VARIANTS[variant]

    def clone(layer):
        if isinstance(layer, keras.layers.Bidirectional) and cls is TF1GRUCell:
            rnn = keras.layers.RNN(TF1GRUCell(layer.forward_layer.units), return_sequences=True, name="tf1_gru")
            return keras.layers.Bidirectional(rnn, merge_mode=layer.merge_mode, name=layer.name)
        if isinstance(layer, keras.layers.Bidirectional):
            config = layer.forward_layer.get_config()
            config["name"] = f"{variant}_gru"
            return keras.layers.Bidirectional(cls.from_config(config), merge_mode=layer.merge_mode, name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.compile_from_config(model.get_compile_config())
    return copy


def with_projected_gru(model: keras.Model) -> keras.Model:
    return with_gru(model, "projected")


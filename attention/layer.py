"""Attention pooling over RNN outputs (Yang et al., 2016), as a Keras 3 layer."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


def _default_initializer() -> keras.initializers.Initializer:
    # The original draws all three attention variables from N(0, 0.1).
    return keras.initializers.RandomNormal(stddev=0.1)


@keras.saving.register_keras_serializable(package="attention")
class AttentionLayer(keras.layers.Layer):
    """Attention pooling of RNN outputs into one vector per sequence.

    The layer of "Hierarchical Attention Networks for Document Classification"
    (Yang et al., 2016), as in the classic TF1 `attention()` function:

    ```
    v      = tanh(x . w_omega + b_omega)     # (batch, time, attention_size)
    vu     = v . u_omega                     # (batch, time)
    alphas = softmax(vu) over time           # (batch, time)
    output = sum_t alphas[:, t] * x[:, t]    # (batch, depth)
    ```

    Unlike the original, the layer honours the Keras mask (for example from
    `Embedding(mask_zero=True)` through a `Bidirectional` RNN): masked steps
    get exactly zero weight, whatever they hold (even NaN or inf) reaches
    neither the output nor any gradient, and a fully masked sequence gives
    zeros rather than NaN. Without a mask the numbers are the original's.

    Args:
        attention_size: Positive integer, the size `A` of the attention
            projection (`w_omega` is `depth x A`).
        time_major: If `True`, inputs (and a mask) are `(time, batch, ...)`
            as in the original's `time_major` argument.
        return_alphas: If `True`, the layer returns `(output, alphas)`;
            `alphas` are the attention weights, useful for visualisation.
        kernel_initializer: Initializer for `w_omega`.
            Defaults to `RandomNormal(stddev=0.1)`, as the original.
        bias_initializer: Initializer for `b_omega`. Same default.
        context_initializer: Initializer for `u_omega`. Same default.
        kernel_regularizer: Regularizer for `w_omega`. Defaults to none, as
            the original.
        bias_regularizer: Regularizer for `b_omega`. Same default.
        context_regularizer: Regularizer for `u_omega`. Same default.
        kernel_constraint: Constraint on `w_omega`, applied by the
            optimizer after each update. Defaults to none, as the original.
        bias_constraint: Constraint on `b_omega`. Same default.
        context_constraint: Constraint on `u_omega`. Same default.
        use_bias: Whether the projection adds `b_omega`, as the original
            does. Without it (`use_bias=False`), `v = tanh(x . w_omega)`
            and the layer has no `b_omega`; the `bias_*` arguments are then
            unused.
        **kwargs: Base layer keyword arguments, such as `name`, `dtype` and
            `activity_regularizer`.

    Input shape:
        A 3-D tensor `(batch, time, depth)`, or a tuple/list of two such
        tensors (the forward and backward outputs of a bidirectional RNN,
        e.g. `Bidirectional(..., merge_mode=None)`), taken as their
        concatenation on the last axis. The pair is the faster input: each
        part is projected and pooled on its own, so on a CPU the work of one
        direction runs beside the other's. With `time_major=True`,
        `(time, batch, depth)`.

    Output shape:
        `(batch, depth)`; with `return_alphas=True`, also the weights
        `(batch, time)`.

    Example:

    >>> inputs = keras.Input(shape=(None,), dtype="int32")
    >>> x = keras.layers.Embedding(10000, 100, mask_zero=True)(inputs)
    >>> x = keras.layers.Bidirectional(
    ...     keras.layers.GRU(150, return_sequences=True))(x)
    >>> x = AttentionLayer(50)(x)
    >>> outputs = keras.layers.Dense(1)(x)
    >>> model = keras.Model(inputs, outputs)
    """

    def __init__(
        self,
        attention_size: int,
        time_major: bool = False,
        return_alphas: bool = False,
        kernel_initializer: Any = None,
        bias_initializer: Any = None,
        context_initializer: Any = None,
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        context_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        context_constraint: Any = None,
        use_bias: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(attention_size, bool) or not isinstance(attention_size, int) or attention_size <= 0:
            raise ValueError(
                f"`attention_size` must be a positive integer, got {attention_size!r}."
            )
        self.attention_size = attention_size
        self.time_major = bool(time_major)
        self.return_alphas = bool(return_alphas)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer or _default_initializer())
        self.bias_initializer = keras.initializers.get(bias_initializer or _default_initializer())
        self.context_initializer = keras.initializers.get(context_initializer or _default_initializer())
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.context_regularizer = keras.regularizers.get(context_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.context_constraint = keras.constraints.get(context_constraint)
        self.supports_masking = True

    def _merged_shape(self, input_shape: Any) -> tuple:
        """Validates the input shape and returns the shape after concatenation."""
        if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(
            input_shape[0], (list, tuple)
        ):
            if len(input_shape) != 2:
                raise ValueError(
                    "AttentionLayer expects one 3-D tensor or a tuple of two 3-D tensors "
                    f"(forward and backward RNN outputs), got a tuple of {len(input_shape)} tensors."
                )
            first, second = (self._check_3d(tuple(s)) for s in input_shape)
            names = ("time", "batch") if self.time_major else ("batch", "time")
            for axis, name in enumerate(names):
                if None not in (first[axis], second[axis]) and first[axis] != second[axis]:
                    raise ValueError(
                        f"The forward and backward tensors must have the same {name} dimension, "
                        f"got shapes {first} and {second}."
                    )
            return first[:2] + (first[2] + second[2],)
        return self._check_3d(tuple(input_shape))

    @staticmethod
    def _check_3d(shape: tuple) -> tuple:
        if len(shape) != 3:
            raise ValueError(
                "AttentionLayer expects a 3-D tensor (batch, time, depth), or (time, batch, depth) "
                f"with time_major=True; got a {len(shape)}-D tensor of shape {shape}."
            )
        if shape[-1] is None:
            raise ValueError(
                f"AttentionLayer needs a known last (depth) dimension, got shape {shape}."
            )
        return shape

    def build(self, input_shape: Any) -> None:
        depth = self._merged_shape(input_shape)[-1]
        self.w_omega = self.add_weight(
            name="w_omega", shape=(depth, self.attention_size), initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
        )
        self.b_omega = self.add_weight(
            name="b_omega", shape=(self.attention_size,), initializer=self.bias_initializer,
            regularizer=self.bias_regularizer, constraint=self.bias_constraint,
        ) if self.use_bias else None
        self.u_omega = self.add_weight(
            name="u_omega", shape=(self.attention_size,), initializer=self.context_initializer,
            regularizer=self.context_regularizer, constraint=self.context_constraint,
        )

    def call(self, inputs: Any, mask: Any = None) -> Any:
        # A pair (forward, backward) stays two tensors: `concat(parts) . w_omega` is the
        # sum of each part times its rows of `w_omega`, and so is the pooled output's
        # concatenation. Each part's matmuls can then start as soon as its RNN
        # direction ends, and run beside the other's.
        parts = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        # Both directions of a Bidirectional RNN carry the same mask.
        masks = list(mask) if isinstance(mask, (list, tuple)) else [mask]
        masks = [self._check_mask(m, parts[0].shape) for m in masks if m is not None]
        mask = masks[0] if masks else None
        if self.time_major:
            parts = [ops.transpose(part, (1, 0, 2)) for part in parts]
            mask = None if mask is None else ops.transpose(mask, (1, 0))
        if mask is not None:
            # Masked steps are zeroed before they are used at all: whatever they hold
            # (NaN, inf) then reaches neither the scores, the pooled output (where
            # 0 * NaN would be NaN) nor any gradient.
            parts = [ops.where(ops.expand_dims(mask, -1), part, 0) for part in parts]

        scores, start = [], 0
        for part in parts:
            depth = part.shape[-1]
            scores.append(ops.tensordot(part, self.w_omega[start : start + depth], axes=1))
            start += depth
        projected = sum(scores[1:], scores[0])
        v = ops.tanh(projected + self.b_omega if self.use_bias else projected)
        # The softmax runs in at least float32, so that float16 scores cannot overflow
        # and float64 ones keep their precision.
        vu = ops.tensordot(v, self.u_omega, axes=1)
        vu = ops.cast(vu, keras.backend.result_type(vu.dtype, "float32"))
        if mask is not None:
            # -inf at masked steps: exp() makes them exactly 0, with a zero gradient.
            vu = ops.where(mask, vu, float("-inf"))
        exp = ops.exp(vu - self._row_max(vu))
        # An all-masked row has a zero sum: its weights stay 0 instead of NaN.
        total = ops.maximum(ops.sum(exp, axis=1, keepdims=True), keras.config.epsilon())
        alphas = ops.cast(exp / total, parts[0].dtype)

        # sum_t alphas[:, t] * x[:, t] as a batched (1, time) x (time, depth) matmul: one
        # pass over x, and no (batch, time, depth) product to keep for the gradient.
        weights = ops.expand_dims(alphas, 1)
        pooled = [ops.squeeze(ops.matmul(weights, part), 1) for part in parts]
        output = pooled[0] if len(pooled) == 1 else ops.concatenate(pooled, axis=-1)
        return (output, alphas) if self.return_alphas else output

    @staticmethod
    def _row_max(vu: Any) -> Any:
        """The softmax shift: each row's max score, over its unmasked steps.

        A constant for the gradient (the softmax does not depend on it), and 0 where a
        row has no finite score (all masked) or no step at all.
        """
        if 0 in vu.shape:
            # Some backends refuse the max of an empty axis; the shift is unused there.
            return ops.sum(ops.zeros_like(vu), axis=1, keepdims=True)
        shift = ops.stop_gradient(ops.max(vu, axis=1, keepdims=True))
        return ops.where(ops.isfinite(shift), shift, 0.0)

    def _check_mask(self, mask: Any, input_shape: Any) -> Any:
        """Returns `mask` as booleans, after checking it against the inputs' shape."""
        mask = ops.cast(mask, "bool")
        self._check_mask_shape(mask.shape, input_shape)
        return mask

    def _check_mask_shape(self, mask_shape: Any, input_shape: Any) -> None:
        """Raises a `ValueError` unless the mask's known dimensions are the inputs'."""
        mask_shape, expected = tuple(mask_shape), tuple(input_shape)[:2]
        names = "(time, batch)" if self.time_major else "(batch, time)"
        if len(mask_shape) != 2 or any(
            None not in (got, want) and got != want for got, want in zip(mask_shape, expected)
        ):
            raise ValueError(
                f"The mask must have the {names} shape {expected} of the inputs, "
                f"got a mask of shape {mask_shape}."
            )

    def compute_output_spec(self, inputs: Any, mask: Any = None, **kwargs: Any) -> Any:
        # Symbolic calls (the functional API) use compute_output_shape(), not call():
        # check a mask there too, so that a wrong one fails when the model is built.
        first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        for m in mask if isinstance(mask, (list, tuple)) else [mask]:
            if m is not None and getattr(m, "shape", None) is not None:
                self._check_mask_shape(m.shape, first.shape)
        return super().compute_output_spec(inputs, mask=mask, **kwargs)

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        # The time axis is pooled away, so there is nothing left to mask.
        return None

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = self._merged_shape(input_shape)
        batch, time = (shape[1], shape[0]) if self.time_major else shape[:2]
        output_shape = (batch, shape[2])
        return (output_shape, (batch, time)) if self.return_alphas else output_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "attention_size": self.attention_size,
                "time_major": self.time_major,
                "return_alphas": self.return_alphas,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "context_initializer": keras.initializers.serialize(self.context_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "context_regularizer": keras.regularizers.serialize(self.context_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
                "context_constraint": keras.constraints.serialize(self.context_constraint),
                "use_bias": self.use_bias,
            }
        )
        return config


def attention(
    inputs: Any,
    attention_size: int,
    time_major: bool = False,
    return_alphas: bool = False,
) -> Any:
    """Applies a new `AttentionLayer`: the original TF1 `attention()` signature.

    Code written against the original function drops in unchanged: each call
    creates its own weights, as each call of the original created variables.

    Args:
        inputs: RNN outputs, a 3-D tensor or a tuple `(outputs_fw, outputs_bw)`.
        attention_size: Size of the attention projection.
        time_major: Whether `inputs` are `(time, batch, depth)`.
        return_alphas: Whether to also return the attention weights.

    Returns:
        The pooled `(batch, depth)` tensor, or `(output, alphas)`.
    """
    layer = AttentionLayer(attention_size, time_major=time_major, return_alphas=return_alphas)
    return layer(inputs)

"""Gradients of a layer's outputs on whichever Keras backend the tests run on."""

from __future__ import annotations

from typing import Any, Callable

import keras
import numpy as np


def layer_gradients(layer: keras.layers.Layer, loss: Callable[[Any], Any], inputs: list, as_list: bool = False,
                    **kwargs: Any) -> list[np.ndarray]:
    """Gradients of `loss(layer(*inputs, **kwargs))` w.r.t. `inputs` and then the layer's trainable weights.

    `inputs` are NumPy arrays (float); `kwargs` (a mask, say) are passed as they are.
    With `as_list`, the layer is called with the list of inputs as one argument.
    """
    backend = keras.backend.backend()
    if not layer.built:
        layer(list(inputs) if as_list else inputs[0], **kwargs) if as_list or len(inputs) == 1 else layer(*inputs, **kwargs)
    if as_list:
        call_layer = layer

        def layer(*xs: Any, **kw: Any) -> Any:  # noqa: F811
            return call_layer(list(xs), **kw)

        layer.trainable_variables = call_layer.trainable_variables
        layer.non_trainable_variables = call_layer.non_trainable_variables
        layer.stateless_call = lambda tv, ntv, *xs, **kw: call_layer.stateless_call(tv, ntv, list(xs), **kw)
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(x) for x in inputs]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            value = loss(layer(*tensors, **kwargs))
        grads = tape.gradient(value, [*tensors, *layer.trainable_variables])
    elif backend == "torch":
        import torch

        tensors = [torch.tensor(x, requires_grad=True) for x in inputs]
        value = loss(layer(*tensors, **kwargs))
        grads = torch.autograd.grad(value, [*tensors, *(v.value for v in layer.trainable_variables)], allow_unused=True)
    elif backend == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        fixed = [v.value for v in layer.non_trainable_variables]

        def of(xs: list, weights: list) -> Any:
            outputs, _ = layer.stateless_call(weights, fixed, *xs, **kwargs)
            return loss(outputs)

        grad_xs, grad_weights = jax.grad(of, argnums=(0, 1))([jax.numpy.asarray(x) for x in inputs], trainable)
        grads = [*grad_xs, *grad_weights]
    else:
        raise NotImplementedError(backend)
    return [np.zeros(np.shape(t), "float32") if g is None else keras.ops.convert_to_numpy(g) for g, t in
            zip(grads, [*inputs, *layer.trainable_variables])]

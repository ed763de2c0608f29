"""The original network: Embedding -> Bi-GRU -> attention -> dropout -> Dense(1), or Dense(n) for n classes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
from keras import ops

from attention import defaults
from attention.bidirectional import BidirectionalGRU
from attention.gru import ConcatGRU
from attention.layer import AttentionLayer
from attention.metrics import MacroF1


@keras.saving.register_keras_serializable(package="attention")
class PortableSequential(keras.Sequential):
    """A `keras.Sequential` whose saved file leaves compiling its steps to the backend that loads it.

    Keras saves the `jit_compile` that `compile` resolved on the backend that
    saved the model, and `keras.models.load_model` compiles the model with it:
    a plain `Sequential` saved on JAX says `True`, and PyTorch then runs it
    under `torch.compile`; one saved on TensorFlow or PyTorch says `False`,
    and JAX then runs it op by op, without `jax.jit`. This model's file says
    `"auto"`: each backend compiles the loaded model as it compiles a new one.
    (To choose otherwise after loading, set `model.jit_compile`.)

    Likewise the optimizer: on PyTorch, Keras's `Adam` is a PyTorch-only class,
    and a file that names it loads elsewhere with an optimizer that cannot
    train there. This file names the optimizer as `keras.optimizers` has it,
    which each backend makes its own.

    `keras.models.clone_model` makes a plain `keras.Sequential` of it, whose
    file says the saving backend's choices again: for another model of this
    class, call `build_model` again.
    """

    def get_compile_config(self) -> dict:
        config = super().get_compile_config()
        if config:
            config["jit_compile"] = "auto"
            optimizer = config.get("optimizer")
            if isinstance(optimizer, dict) and str(optimizer.get("module")).startswith("keras.src.backend."):
                config["optimizer"] = {**optimizer, "module": "keras.optimizers"}
        return config


def build_model(
    vocabulary_size: int = defaults.NUM_WORDS,
    embedding_dim: int = defaults.EMBEDDING_DIM,
    hidden_size: int = defaults.HIDDEN_SIZE,
    attention_size: int = defaults.ATTENTION_SIZE,
    keep_prob: float = defaults.KEEP_PROB,
    learning_rate: float = defaults.LEARNING_RATE,
    reset_after: bool = False,
    mask_zero: bool = True,
    num_classes: int = 2,
    trainable_embeddings: bool = True,
) -> PortableSequential:
    """Builds and compiles the original Bi-GRU with attention, on logits.

    Args:
        vocabulary_size: Number of word indices, padding 0 included.
        embedding_dim: Size of the word embeddings, initialised uniform(-1, 1).
        hidden_size: Units of each GRU direction.
        attention_size: Size of the attention projection.
        keep_prob: Probability of keeping a unit in dropout (the original's
            `keep_prob`; Keras's `Dropout` takes `1 - keep_prob`).
        learning_rate: Adam's learning rate.
        reset_after: `False` is the original TF1 `GRUCell` (the reset gate
            applied before the recurrent matmul); `True` is the cuDNN-style GRU.
        mask_zero: Mask the padding index 0, which plays the part of the
            original's `sequence_length`; the attention then ignores padding.
        num_classes: 2 keeps the original's head, one logit and sigmoid
            cross-entropy on 0/1 labels; 3 or more give one logit per class
            and softmax (sparse categorical) cross-entropy on labels
            `0..num_classes - 1`.
        trainable_embeddings: `False` keeps the word embeddings as they start
            (Keras's `trainable=False` on the `Embedding`): set pre-trained
            vectors into them (`attention.embeddings.set_embeddings`) and
            train only the rest of the network.

    Returns:
        A compiled `keras.Sequential` (`PortableSequential`, whose `.keras`
        file loads on any backend with that backend's own compilation) whose
        output is one logit per review (two classes) or `num_classes` logits.
    """
    for name, value in (
        ("vocabulary_size", vocabulary_size),
        ("embedding_dim", embedding_dim),
        ("hidden_size", hidden_size),
        ("attention_size", attention_size),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"`num_classes` must be an integer of at least 2, got {num_classes!r}.")
    binary = num_classes == 2
    if not isinstance(keep_prob, (int, float, np.number)) or not 0.0 < keep_prob <= 1.0:
        raise ValueError(f"`keep_prob` must be in (0, 1], got {keep_prob!r}.")
    if not isinstance(learning_rate, (int, float, np.number)) or not 0.0 < learning_rate < float("inf"):
        raise ValueError(f"`learning_rate` must be a positive number, got {learning_rate!r}.")
    # Keras's layers take Python's numbers only (a GRU's state size of NumPy's int64 is refused).
    vocabulary_size, embedding_dim, hidden_size, attention_size, num_classes = (
        int(v) for v in (vocabulary_size, embedding_dim, hidden_size, attention_size, num_classes))
    keep_prob, learning_rate = float(keep_prob), float(learning_rate)

    model = PortableSequential(
        [
            keras.Input(shape=(None,), dtype="int32", name="word_ids"),
            keras.layers.Embedding(
                vocabulary_size,
                embedding_dim,
                embeddings_initializer=keras.initializers.RandomUniform(-1.0, 1.0),
                mask_zero=mask_zero,
                trainable=trainable_embeddings,
                name="embedding",
            ),
            # Bidirectional, with both directions in one loop where that is faster (GPU, PyTorch).
            BidirectionalGRU(
                # Keras's GRU, computed with TF1's two matmuls a step: faster on CPU.
                ConcatGRU(hidden_size, return_sequences=True, reset_after=reset_after),
                # The attention takes the two directions apart, as the original's tuple.
                merge_mode=None,
                name="bi_gru",
            ),
            AttentionLayer(attention_size, name="attention"),
            keras.layers.Dropout(1.0 - keep_prob, name="dropout"),
            keras.layers.Dense(
                1 if binary else num_classes,
                kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.1),
                bias_initializer="zeros",
                # Logits in float32 under a mixed-precision policy too, as Keras's guide advises:
                # the loss and the probabilities then lose nothing to float16's range and digits.
                dtype="float32",
                name="output",
            ),
        ],
        name="bi_gru_attention",
    )
    if binary:
        loss = keras.losses.BinaryCrossentropy(from_logits=True)
        accuracy = keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    # Weighted, so that rows of weight 0 (a batch filled up to its size, `pipeline.fill_batch`)
    # count as little in the metrics as in the loss; without weights they are the plain ones.
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss,
                  weighted_metrics=[accuracy, MacroF1(num_classes)])
    return model


def class_probabilities(logits: np.ndarray) -> np.ndarray:
    """Each class's probability from the model's logits: `(n, 1)` (two classes) or `(n, classes)`.

    Returns:
        A float64 array `(n, classes)` whose rows sum to 1; two classes give
        `[1 - p, p]` with `p` the sigmoid of the logit.
    """
    logits = np.asarray(logits, dtype="float64")
    if logits.ndim != 2:
        raise ValueError(f"expected logits of shape (n, classes), got {logits.shape}")
    if logits.shape[1] == 1:
        positive = 0.5 * (1.0 + np.tanh(0.5 * logits[:, 0]))  # the sigmoid, without overflow
        return np.stack([1.0 - positive, positive], axis=1)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def inspection_model(model: keras.Model) -> keras.Model:
    """A functional twin of `model` that also returns the RNN outputs and alphas.

    The twin shares every layer of `model` except its first attention layer,
    which is copied with `return_alphas=True` and the current weights; after
    more training, `update_inspection_model` brings them up to date.

    Args:
        model: A `keras.Sequential` or functional model with an `AttentionLayer`,
            or with a Sequential or functional model holding one among its layers
            (a subclassed model has no graph of layers to follow).

    Returns:
        A model mapping `model`'s inputs to `(outputs, rnn_outputs, alphas)`:
        for `build_model`'s, word ids to the logits, the attention's input
        (the two directions concatenated) and its weights.

    Raises:
        ValueError: `model` has no `AttentionLayer`, or is subclassed.
    """
    seen: dict = {}

    def call(layer: keras.Layer, *args: Any, **kwargs: Any) -> Any:
        if seen:
            return layer(*args, **kwargs)
        if isinstance(layer, keras.Model) and next(attention_layers(layer), None) is not None:
            # A sub-model holding the attention (an encoder inside a classifier): its own twin.
            x, seen["rnn_outputs"], seen["alphas"] = inspection_model(layer)(*args, **kwargs)
            return x
        if not isinstance(layer, AttentionLayer):
            return layer(*args, **kwargs)
        twin = AttentionLayer.from_config({**layer.get_config(), "return_alphas": True, "name": None})
        x, seen["alphas"] = twin(*args, **kwargs)
        twin.set_weights(layer.get_weights())
        sequences = args[0] if args else kwargs["inputs"]
        seen["rnn_outputs"] = ops.concatenate(sequences, axis=-1) if isinstance(sequences, (list, tuple)) else sequences
        return (x, seen["alphas"]) if layer.return_alphas else x  # what the layer gave the layers after it

    if isinstance(model, keras.Sequential):
        known = model.inputs[0] if model.built and model.inputs else None
        inputs = keras.Input(shape=(None,), dtype="int32") if known is None else \
            keras.Input(shape=known.shape[1:], dtype=known.dtype)
        outputs = inputs
        for layer in model.layers:
            outputs = call(layer, outputs)
    elif isinstance(getattr(model, "inputs", None), list) and getattr(model, "outputs", None):
        twin = keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=call)
        inputs, outputs = twin.input, twin.output  # in the structures `model` takes and gives
    else:
        raise ValueError(f"Model {model.name!r} is subclassed: only a Sequential or functional model's layers "
                         "can be followed to its attention layer.")
    if not seen:
        raise ValueError(f"Model {model.name!r} has no AttentionLayer.")
    return keras.Model(inputs, [outputs, seen["rnn_outputs"], seen["alphas"]])


def update_inspection_model(inspector: keras.Model, model: keras.Model) -> None:
    """Gives the twin attention layer of `inspector`, `inspection_model(model)`, the current
    weights of `model`'s; every other layer is `model`'s own.

    Cheaper than a new twin: a new model is traced and, on JAX, compiled anew.
    """
    for twin, layer in zip(attention_layers(inspector), attention_layers(model)):
        twin.set_weights(layer.get_weights())


def attention_layers(model: keras.Model) -> Iterator[AttentionLayer]:
    """The attention layers of a model, in the order of its layers, those of the models inside it too."""
    for layer in model.layers:
        if isinstance(layer, AttentionLayer):
            yield layer
        elif isinstance(layer, keras.Model):
            yield from attention_layers(layer)

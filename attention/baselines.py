"""What the attention model is measured against: the majority class, and bag-of-words logistic regression.

Both read the same encoded texts as the model (the same vocabulary of ``num_words``
indices, the same training and validation texts), so the comparison is of models only.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from attention.data.ragged import Ragged
from attention.evaluation import classification_report
from attention.interrupts import KeepInterrupts
from attention.model import class_probabilities


def majority_report(y_train: np.ndarray, y_validation: np.ndarray, classes: list[str]) -> dict:
    """The scores of always predicting the training data's most frequent class."""
    majority = int(np.bincount(np.asarray(y_train, dtype=np.int64), minlength=len(classes)).argmax())
    return classification_report(y_validation, np.full(len(y_validation), majority), classes)


def multi_hot(x: Ragged | Sequence[Sequence[int]], num_words: int) -> np.ndarray:
    """Which of the ``num_words`` indices each text holds, as a ``uint8`` matrix (padding 0, start 1 left out)."""
    rows = x if isinstance(x, Ragged) else Ragged.from_rows(x, dtype=np.int64)
    out = np.zeros((len(rows), num_words), dtype=np.uint8)
    ids = rows.values
    row_of = np.repeat(np.arange(len(rows)), rows.lengths)
    keep = (ids > 1) & (ids < num_words)
    out[row_of[keep], ids[keep]] = 1
    return out


def bag_of_words_report(
    x_train: np.ndarray, y_train: np.ndarray, x_validation: np.ndarray, y_validation: np.ndarray,
    classes: list[str], num_words: int, epochs: int = 5, batch_size: int = 256, learning_rate: float = 1e-3,
    seed: int = 0,
) -> dict:
    """Trains logistic regression on which words each text holds, and scores it on the validation texts.

    One dense layer on the multi-hot vector of the vocabulary's words: a sigmoid
    for two classes, a softmax (multinomial regression) for more; Adam, as the
    attention model trains. ``x_*`` are word index rows, as ``load_labelled`` returns them.
    """
    keras.utils.set_random_seed(seed)
    binary = len(classes) == 2
    model = keras.Sequential([keras.Input((num_words,)), keras.layers.Dense(1 if binary else len(classes))])
    loss = keras.losses.BinaryCrossentropy(from_logits=True) if binary else \
        keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    features = multi_hot(x_train, num_words).astype("float32")
    with KeepInterrupts() as keep:
        model.fit(features, np.asarray(y_train, dtype="float32"), batch_size=batch_size, epochs=epochs, verbose=0,
                  callbacks=[keep])
        del features
        logits = model.predict(multi_hot(x_validation, num_words).astype("float32"), batch_size=1024, verbose=0,
                               callbacks=[keep])
    return classification_report(y_validation, class_probabilities(logits).argmax(axis=1), classes)

"""Macro-averaged F1 as a Keras metric, so that every epoch logs it (`macro_f1`, `val_macro_f1`)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="attention")
class MacroF1(keras.metrics.Metric):
    """The mean over classes of each class's F1, from the model's logits.

    The class predicted is the one of the highest logit, or with one logit
    (two classes) the positive class where the logit is above 0: the classes
    `attention.evaluation` reports. A class never predicted has precision 0,
    one never present recall 0 (F1 0 either way), as scikit-learn's
    `f1_score(average="macro", labels=range(num_classes), zero_division=0)`: a class
    that is neither present nor predicted counts with F1 0 (without `labels`,
    scikit-learn leaves it out of the mean). Each text counts with its
    sample weight, so texts of weight 0 (a batch filled up to its size) count
    not at all. Unlike accuracy, macro-F1 weighs a rare class as much as a
    common one.

    Args:
        num_classes: Number of classes (2 for a model with one logit).
        name: Name of the metric.
        dtype: Dtype of its counts and result.

    Example:

    >>> metric = MacroF1(num_classes=3)
    >>> metric.update_state([0, 1, 2, 2], [[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0]])
    >>> round(float(metric.result()), 4)  # F1 1, 2/3 and 2/3
    0.7778
    """

    def __init__(self, num_classes: int, name: str = "macro_f1", dtype: str | None = None) -> None:
        super().__init__(name=name, dtype=dtype)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"`num_classes` must be an integer of at least 2, got {num_classes!r}.")
        self.num_classes = num_classes
        # confusion[i, j]: the weight of texts of class i predicted as class j.
        self.confusion = self.add_variable(shape=(num_classes, num_classes), initializer="zeros", name="confusion",
                                           dtype=self.dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = ops.convert_to_tensor(y_pred)
        if y_pred.shape[-1] == 1:
            predicted = ops.cast(ops.reshape(y_pred, (-1,)) > 0, "int32")
        else:
            predicted = ops.argmax(ops.reshape(y_pred, (-1, y_pred.shape[-1])), axis=-1)
        true = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        weights = ops.ones_like(true, dtype=self.dtype) if sample_weight is None \
            else ops.reshape(ops.cast(sample_weight, self.dtype), (-1,))
        rows = ops.one_hot(true, self.num_classes, dtype=self.dtype) * weights[:, None]
        self.confusion.assign_add(ops.matmul(ops.transpose(rows), ops.one_hot(predicted, self.num_classes,
                                                                              dtype=self.dtype)))

    def result(self):
        confusion = ops.convert_to_tensor(self.confusion)
        hits = ops.diagonal(confusion)
        precision = ops.divide_no_nan(hits, ops.sum(confusion, axis=0))
        recall = ops.divide_no_nan(hits, ops.sum(confusion, axis=1))
        return ops.mean(ops.divide_no_nan(2.0 * precision * recall, precision + recall))

    def reset_state(self) -> None:
        self.confusion.assign(ops.zeros(self.confusion.shape, dtype=self.dtype))

    def get_config(self) -> dict:
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype}

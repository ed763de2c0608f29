"""How well a trained classifier does on held-out texts: per-class scores and a confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from attention.model import class_probabilities
from attention.pipeline import batch_indices, make_dataset, sequence_lengths


def predict_probabilities(
    model: keras.Model, x: np.ndarray, batch_size: int, callbacks: Sequence[keras.callbacks.Callback] = ()
) -> np.ndarray:
    """Each class's probability for padded word ids, `(samples, classes)`, in the order of `x`.

    Batched by similar length with the padding trimmed, through the training
    pipeline (one traced function for every width): the same results as
    full-width batches, in less time. `callbacks` go to `model.predict`.
    """
    x = np.asarray(x, dtype="int32")
    logits = model.predict(make_dataset(x, np.zeros(len(x)), batch_size, shuffle=False, bucketing=True), verbose=0,
                           callbacks=list(callbacks))[: len(x)]  # a filled last batch's copies come last
    # Without shuffling the batches' order is fixed: put each prediction back in its row.
    order = np.concatenate(batch_indices(sequence_lengths(x), batch_size, False, True, np.random.default_rng(0)))
    in_order = np.empty_like(logits)
    in_order[order] = logits
    return class_probabilities(in_order)


def classification_report(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str]) -> dict:
    """Accuracy, each class's precision, recall, F1 and support, macro-F1 and the confusion matrix.

    A class never predicted has precision 0, one never present recall 0 (and F1 0), as
    scikit-learn reports them with ``zero_division=0``.

    Returns:
        A JSON-ready dict; ``confusion_matrix[i][j]`` counts texts of class ``i``
        predicted as class ``j``.
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    n = len(classes)
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    hits, support, predicted = np.diag(confusion), confusion.sum(axis=1), confusion.sum(axis=0)
    precision = np.divide(hits, predicted, out=np.zeros(n), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros(n), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(n), where=total > 0)
    return {
        "accuracy": float(hits.sum() / max(len(y_true), 1)),
        "macro_f1": float(f1.mean()),
        "classes": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(classes, precision, recall, f1, support)
        },
        "confusion_matrix": confusion.tolist(),
    }


def format_report(report: dict) -> str:
    """The report as a table for the console."""
    names = list(report["classes"])
    width = max(9, *(len(name) for name in names))
    lines = [f"{'class':<{width}}  precision  recall     f1  support"]
    for name, scores in report["classes"].items():
        lines.append(f"{name:<{width}}  {scores['precision']:9.3f}  {scores['recall']:6.3f}  {scores['f1']:5.3f}  "
                     f"{scores['support']:7d}")
    lines.append(f"accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}")
    lines.append("confusion matrix (rows: true class, columns: predicted, in the order above):")
    cell = max(len(str(v)) for row in report["confusion_matrix"] for v in row)
    lines += ["  " + " ".join(f"{v:>{cell}}" for v in row) for row in report["confusion_matrix"]]
    return "\n".join(lines)


def confusion_image(confusion: Sequence[Sequence[int]], cell: int = 24) -> np.ndarray:
    """The confusion matrix as an RGB image for TensorBoard: rows true, columns predicted.

    Each cell is blue in proportion to its share of its row (the class's texts),
    so the diagonal shows each class's recall whatever the class sizes.

    Returns:
        A uint8 array `(classes * cell, classes * cell, 3)`.
    """
    counts = np.asarray(confusion, dtype="float64")
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    white, blue = np.array([255.0, 255.0, 255.0]), np.array([31.0, 119.0, 180.0])
    image = white * (1.0 - share[..., None]) + blue * share[..., None]
    image = np.repeat(np.repeat(image, cell, axis=0), cell, axis=1)
    image[cell - 1 :: cell, :] = image[:, cell - 1 :: cell] = 200.0  # grid lines between cells
    return np.round(image).astype("uint8")

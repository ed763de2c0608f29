"""`attention.metrics.MacroF1`: each epoch's macro-F1, the same as the final report's."""

import keras
import numpy as np
import pytest

from attention.evaluation import classification_report
from attention.metrics import MacroF1
from attention.model import class_probabilities


@pytest.mark.parametrize("num_classes", [2, 4])
def test_macro_f1_over_batches_is_the_reports(num_classes):
    # Logits as the model gives them (one for two classes), fed in batches, some rows of weight 0
    # (a batch filled up to its size): the report of the weighted rows' predictions, whose class
    # is that of the highest probability. The last class is never predicted.
    rng = np.random.default_rng(num_classes)
    labels = rng.integers(0, num_classes, size=50)
    logits = rng.normal(size=(50, 1 if num_classes == 2 else num_classes)).astype("float32")
    if num_classes == 2:
        logits = -np.abs(logits)  # never the positive class
    else:
        logits[:, -1] = -10.0
    weights = (rng.random(50) > 0.2).astype("float32")
    metric = MacroF1(num_classes)
    for start in range(0, 50, 16):
        part = slice(start, start + 16)
        metric.update_state(labels[part], logits[part], sample_weight=weights[part])
    kept = weights > 0
    predicted = class_probabilities(logits[kept]).argmax(axis=1)
    expected = classification_report(labels[kept], predicted, [str(c) for c in range(num_classes)])
    assert expected["classes"][str(num_classes - 1)]["precision"] == 0  # the case scikit-learn calls zero division
    assert float(metric.result()) == pytest.approx(expected["macro_f1"], abs=1e-6)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_a_weight_counts_as_the_text_repeated():
    # Class weights (--class-weight) multiply the sample weights: a weight of 2 is the text twice.
    labels, logits = np.array([0, 1, 1, 2, 2, 0]), np.eye(3, dtype="float32")[[0, 1, 2, 2, 0, 1]]
    weighted = MacroF1(3)
    weighted.update_state(labels, logits, sample_weight=np.array([1.0, 2.0, 1.0, 1.0, 2.0, 1.0]))
    repeated = MacroF1(3)
    rows = [0, 1, 1, 2, 3, 4, 4, 5]
    repeated.update_state(labels[rows], logits[rows])
    assert float(weighted.result()) == pytest.approx(float(repeated.result()), abs=1e-6)
    assert 0.0 < float(weighted.result()) < 1.0


def test_compiled_models_log_it_and_it_survives_saving(tmp_path):
    from attention import build_model

    model = build_model(20, 4, 3, 2, num_classes=3)
    x = np.random.default_rng(0).integers(1, 20, size=(12, 5)).astype("int32")
    y = np.arange(12) % 3
    history = model.fit(x, y, validation_data=(x, y), epochs=1, batch_size=4, verbose=0).history
    assert 0.0 <= history["val_macro_f1"][0] <= 1.0 and "macro_f1" in history
    predicted = model.predict(x, verbose=0).argmax(axis=1)
    report = classification_report(y, predicted, ["a", "b", "c"])
    assert history["val_macro_f1"][0] == pytest.approx(report["macro_f1"], abs=1e-6)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.evaluate(x, y, verbose=0, return_dict=True)["macro_f1"] == pytest.approx(report["macro_f1"], abs=1e-6)


def test_bad_class_counts_are_refused():
    for bad in (1, True, 2.0):
        with pytest.raises(ValueError, match="num_classes"):
            MacroF1(bad)

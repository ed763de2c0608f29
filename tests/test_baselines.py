"""attention.baselines and scripts/baselines.py: the majority class and bag-of-words logistic regression."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from attention.baselines import bag_of_words_report, majority_report, multi_hot
from attention.data import load_labelled
from fake_data import write_csv
from script_runs import fails, load_script, swallowed_ctrl_c

pytestmark = pytest.mark.usefixtures("isolated_keras_home")


def test_multi_hot_leaves_out_padding_start_and_unknown_ids():
    hot = multi_hot([[1, 5, 5, 3], [0, 0, 1, 9, 4], []], num_words=6)
    assert hot.dtype == np.uint8
    np.testing.assert_array_equal(hot, [[0, 0, 0, 1, 0, 1], [0, 0, 0, 0, 1, 0], [0] * 6])


def test_majority_report_predicts_the_training_datas_most_frequent_class():
    report = majority_report(np.array([2, 0, 2, 1, 2]), np.array([2, 2, 0, 1]), ["a", "b", "c"])
    assert report["accuracy"] == 0.5
    assert report["classes"]["c"]["recall"] == 1.0 and report["classes"]["a"]["recall"] == 0.0


def test_bag_of_words_learns_words_that_give_the_class_away():
    rng = np.random.default_rng(0)
    # Words 4 and 5 give the class away, the others (6 to 11) are noise.
    x = [[1, 4 + y, *rng.integers(6, 12, 5)] for y in rng.integers(0, 2, 200)]
    y = np.array([row[1] - 4 for row in x])
    report = bag_of_words_report(x[:150], y[:150], x[150:], y[150:], ["a", "b"], num_words=12, epochs=2, batch_size=10,
                                 learning_rate=0.1, seed=1)
    assert report["accuracy"] == 1.0
    three = [[1, 4 + k, *rng.integers(7, 12, 3)] for k in rng.integers(0, 3, 300)]
    labels = np.array([row[1] - 4 for row in three])
    report = bag_of_words_report(three[:240], labels[:240], three[240:], labels[240:], ["a", "b", "c"],
                                 num_words=12, epochs=2, batch_size=10, learning_rate=0.1, seed=1)
    assert report["accuracy"] == 1.0 and sorted(report["classes"]) == ["a", "b", "c"]


def test_a_ctrl_c_keras_swallows_stops_the_bag_of_words(monkeypatch, python_sigint_handler):
    batches, fit = [], keras.Sequential.fit

    class CtrlCInTheFirstBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(batch)
            if len(batches) == 1:
                swallowed_ctrl_c()

    def fit_with_a_ctrl_c(self, *args, callbacks=None, **kwargs):
        return fit(self, *args, callbacks=[CtrlCInTheFirstBatch(), *(callbacks or [])], **kwargs)

    monkeypatch.setattr(keras.Sequential, "fit", fit_with_a_ctrl_c)
    x, y = [[1, 4, 5]] * 40, np.arange(40) % 2
    with pytest.raises(KeyboardInterrupt):
        bag_of_words_report(x, y, x, y, ["a", "b"], num_words=8, epochs=2, batch_size=10, learning_rate=0.1, seed=1)
    assert batches == [0]


@pytest.fixture
def texts(tmp_path):
    rows = [(f"{word} film number {i}", label) for i in range(30) for word, label in
            (("great", "pos"), ("awful", "neg"), ("awful", "neg"))]
    return write_csv(tmp_path / "texts.csv", rows)


def test_baselines_script_scores_both_on_the_validation_texts(texts, tmp_path, capsys):
    options = ["--data", str(texts), "--validation-split", "0.2", "--epochs", "3", "--seed", "5",
               "--cache-dir", str(tmp_path / "cache")]
    load_script("baselines").main([*options, "--json"])
    reports = json.loads(capsys.readouterr().out)
    data = load_labelled(texts, validation_split=0.2, cache_dir=tmp_path / "cache", verbose=False)
    assert reports == {
        "majority": majority_report(data.y_train, data.y_validation, data.classes),
        "bag_of_words_logistic_regression": bag_of_words_report(
            data.x_train, data.y_train, data.x_validation, data.y_validation, data.classes, data.num_words,
            epochs=3, seed=5),
    }
    assert reports["majority"]["accuracy"] == pytest.approx(2 / 3)  # 12 of the 18 held-out texts are neg
    load_script("baselines").main(options)
    out = capsys.readouterr().out
    assert out.startswith("majority:\n") and "\nbag_of_words_logistic_regression:\n" in out


def test_baselines_script_errors_and_ctrl_c_cost_one_line(texts, tmp_path, capsys, monkeypatch):
    script = load_script("baselines")
    fails(script.main, ["--data", texts, "--cache-dir", tmp_path / "cache"], capsys, "--validation-split")
    # As train_text.py: a vocabulary of no word (ids 0 to 3 are padding, start and unknown) is refused.
    fails(script.main, ["--data", texts, "--validation-split", "0.2", "--num-words", "4"], capsys,
          "--num-words 4 keeps no word: the first word's id is 4 (after padding, start and unknown), so --num-words must be at least 5")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as Ctrl-C would, while the logistic regression trains

    monkeypatch.setattr(script, "bag_of_words_report", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        script.main(["--data", str(texts), "--validation-split", "0.2", "--cache-dir", str(tmp_path / "cache")])
    assert exit_info.value.code == 130 and capsys.readouterr().err.endswith(": error: interrupted\n")

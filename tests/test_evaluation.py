"""python -m attention.evaluation: a trained model scored on labelled texts, the run's own or new ones.

`trained` is one tiny training run of train_imdb.py (conftest.py).
"""

import argparse
import json

import numpy as np
import pytest

from attention.arguments import recorded_arguments
from attention.data.labelled import held_out_texts
from attention.data.sources import open_source
from attention.evaluation import display_width, encode_labelled, format_errors, format_report, main as evaluate_main, \
    predict_probabilities
from attention.trained import load_test_reviews
from fake_data import as_lists, write_csv
from script_runs import SMALL, fails, load_script


def run_report(model_path) -> dict:
    return json.loads((model_path.parent / "run.json").read_text())["results"]["validation_report"]


def test_without_test_data_it_repeats_the_report_of_the_training(trained, tmp_path, capsys):
    output = tmp_path / "report.json"
    evaluate_main(["--model", str(trained[0]), "--output", str(output)])
    out = capsys.readouterr().out
    written = json.loads(output.read_text())
    assert written["report"] == run_report(trained[0]) and written["texts"] == 48
    assert format_report(written["report"]) in out and "on 48 texts of the run's validation texts" in out


def test_errors_are_the_misclassified_texts_the_model_was_surest_of(trained, loaded, tmp_path, capsys):
    model, vocabulary = loaded
    output = tmp_path / "report.json"
    evaluate_main(["--model", str(trained[0]), "--errors", "3", "--output", str(output)])
    errors = json.loads(output.read_text())["errors"]
    x, y = load_test_reviews(model, vocabulary, None, trained[1], trained[2])
    probabilities = predict_probabilities(model, x, 16)  # the run's batch size, as the command takes it
    predicted = probabilities.argmax(axis=1)
    wrong = sorted(np.flatnonzero(predicted != y), key=lambda i: -probabilities[i, predicted[i]])
    assert [int(e["where"].removeprefix("test review ")) for e in errors] == wrong[:3]
    classes = vocabulary.class_names
    for error, row in zip(errors, wrong):
        assert (error["true"], error["predicted"]) == (classes[y[row]], classes[predicted[row]])
        assert error["probability"] == pytest.approx(probabilities[row].max())
        assert error["text"] == " ".join(w for w in vocabulary.decode(x[row]) if w not in ("<pad>", "<start>"))
        assert 1 <= len(error["top_words"]) <= 5
    assert format_errors(errors) in capsys.readouterr().out


def test_new_texts_are_encoded_as_the_training_encoded_its_validation_texts(trained, loaded):
    model, vocabulary = loaded
    records = held_out_texts(open_source(trained[1]), verbose=False)  # its test/ split; labels neg and pos
    x, y = encode_labelled(model, vocabulary, records)
    x_validation, y_validation = load_test_reviews(model, vocabulary, None, trained[1], trained[2])
    # The same texts in another order (Keras's IMDB shuffle): the same rows with the same labels.
    pairs = sorted(zip(map(tuple, as_lists(x)), y.tolist()))
    assert pairs == sorted(zip(map(tuple, as_lists(x_validation)), np.asarray(y_validation).tolist()))
    assert sorted(set(y.tolist())) == [0, 1]


def test_scores_a_table_with_the_models_class_names(trained, tmp_path, capsys):
    rows = [("a great and wonderful film", "positive"), ("awful boring terrible", "negative"),
            ("superb acting", "1"), ("the plot was dull", "0"), ("loved it", "positive")]
    table = write_csv(tmp_path / "new.csv", rows, header="body,sentiment")
    output = tmp_path / "report.json"
    evaluate_main(["--model", str(trained[0]), "--test-data", str(table), "--text-column", "body",
                   "--label-column", "sentiment", "--errors", "5", "--output", str(output)])
    written = json.loads(output.read_text())
    report = written["report"]
    # A misclassified row is named by its line, with its text as written.
    texts = {f"{table}, line {n}": (text, label) for n, (text, label) in enumerate(rows, start=2)}
    for error in written["errors"]:
        assert texts[error["where"]][0] == error["text"] and error["true"] != error["predicted"]
    assert list(report["classes"]) == ["negative", "positive"]
    assert [c["support"] for c in report["classes"].values()] == [2, 3]
    confusion = np.array(report["confusion_matrix"])
    assert confusion.sum() == 5 and report["accuracy"] == pytest.approx(np.trace(confusion) / 5)
    assert len(written["errors"]) == 5 - np.trace(confusion)  # every misclassified row, at most 5
    assert f"on 5 texts of {table}" in capsys.readouterr().out


@pytest.mark.parametrize("rows, message", [
    ([("a great film", "positive"), ("dull", "neutral")], "new.csv, line 3: the label 'neutral' is not one of the "
                                                          "model's classes (negative, positive)"),
    ([("a great film", "positive"), ("  ", "negative")], "new.csv, line 3: the text is empty"),
])
def test_bad_test_data_costs_one_line(trained, tmp_path, capsys, rows, message):
    table = write_csv(tmp_path / "new.csv", rows)
    fails(evaluate_main, ["--model", trained[0], "--test-data", table], capsys, message)


def test_missing_test_data_or_column_costs_one_line(trained, tmp_path, capsys):
    fails(evaluate_main, ["--model", trained[0], "--test-data", tmp_path / "absent.csv"], capsys, "does not exist")
    table = write_csv(tmp_path / "new.csv", [("a great film", "positive")])
    fails(evaluate_main, ["--model", trained[0], "--test-data", table, "--label-column", "stars"], capsys, "stars")
    for option, value in (("--data", trained[1]), ("--cache-dir", trained[2])):  # not ignored beside it
        fails(evaluate_main, ["--model", trained[0], "--test-data", table, option, value], capsys, "pass one or the other")
    fails(evaluate_main, ["--model", trained[0], "--label-column", "stars"], capsys,
          "--text-column and --label-column name the columns of --test-data")  # not ignored without it
    fails(evaluate_main, ["--model", tmp_path / "absent.keras", "--output", tmp_path], capsys,
          f"--output: {str(tmp_path)!r} is a folder: name a file")  # before the model loads


def test_a_text_run_is_scored_on_the_texts_it_validated_on_or_not_at_all(tmp_path, capsys):
    # Named as IMDB's classes are: only the vocabulary file tells this model from an IMDB one.
    words = {"positive": "great fine superb lovely", "negative": "awful dull boring poor"}
    rows = [(" ".join([words[label].split()[n % 4], words[label].split()[(n + 1) % 4], "film"]), label)
            for n in range(12) for label in ("positive", "negative")]
    table = write_csv(tmp_path / "texts.csv", rows)
    logdir = tmp_path / "logdir"
    load_script("train_text").main([str(a) for a in ["--data", table, "--validation-split", "0.5", "--max-samples",
                                                     "5", "--logdir", logdir, "--cache-dir", tmp_path / "cache", *SMALL]])
    capsys.readouterr()
    (model,) = logdir.glob("*/model.keras")
    # --max-samples cut the validation texts too: the report of the training is over those 5.
    output = tmp_path / "report.json"
    evaluate_main(["--model", str(model), "--output", str(output)])
    written = json.loads(output.read_text())
    assert written["texts"] == 5 and written["report"] == run_report(model)
    # Its model without the run's record beside it (saved elsewhere): which texts it validated on is unknown.
    lonely = tmp_path / "elsewhere" / "model.keras"
    lonely.parent.mkdir()
    for name in ("model.keras", "model.vocabulary.json"):
        (lonely.parent / name).write_bytes((model.parent / name).read_bytes())
    message = f"{lonely} has no run.json of its run beside it, so its validation texts are unknown"
    fails(evaluate_main, ["--model", lonely], capsys, message)
    fails(load_script("visualize_attention").main, ["--model", lonely, "--index", "0"], capsys, message)
    # Texts added to the data since: its vocabulary is no longer the model's, and its ids would mean other words.
    write_csv(table, [("zebra quokka wombat", "positive")] * 30 + rows)
    message = f"{table} has changed since the model was trained"
    fails(evaluate_main, ["--model", model], capsys, message)
    fails(load_script("visualize_attention").main, ["--model", model, "--format", "text"], capsys, message)


def test_relative_paths_of_a_run_read_the_same_from_another_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "here").mkdir()
    (tmp_path / "elsewhere").mkdir()
    write_csv(tmp_path / "here" / "texts.csv", [("great fine film", "positive"), ("awful dull film", "negative")] * 4)
    monkeypatch.chdir(tmp_path / "here")
    args = argparse.Namespace(data="texts.csv", cache_dir="cache", model_path="saved/model.keras", embeddings=None,
                              resume=True, seed=1)
    assert recorded_arguments(args, script="train_text") == {
        "data": str(tmp_path / "here" / "texts.csv"), "cache_dir": str(tmp_path / "here" / "cache"),
        "model_path": str(tmp_path / "here" / "saved" / "model.keras"), "embeddings": None, "seed": 1,
        "script": "train_text"}
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # "--cache-dir=~/c": the shell leaves ~ after = as it is
    assert recorded_arguments(argparse.Namespace(cache_dir="~/c")) == {"cache_dir": str(tmp_path / "home" / "c")}
    load_script("train_text").main(["--data", "texts.csv", "--validation-split", "0.5", "--logdir", "logs",
                                    "--cache-dir", "cache", *map(str, SMALL)])
    (run,) = (tmp_path / "here" / "logs").iterdir()
    # The run's texts are read through the cache it made, not a new one in the current folder.
    monkeypatch.chdir(tmp_path / "elsewhere")
    capsys.readouterr()
    evaluate_main(["--model", str(run)])
    assert "accuracy" in capsys.readouterr().out
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_the_report_lines_up_wide_class_names():
    """Chinese and Japanese characters take two columns of a terminal, combining marks none."""
    scores = {"precision": 1.0, "recall": 0.5, "f1": 0.667, "support": 2}
    names = ["中立", "bad", "cafe\u0301", "very long class name"]
    report = {"classes": {name: scores for name in names}, "accuracy": 0.5, "macro_f1": 0.5,
              "confusion_matrix": [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 1]]}
    rows = format_report(report).splitlines()[: len(names) + 1]
    assert len({display_width(row) for row in rows}) == 1, rows  # and so every column ends where the header's does
    assert (display_width("中立"), display_width("cafe\u0301"), display_width("bad")) == (4, 4, 3)

"""scripts/train_text.py: the same training as train_imdb.py, on any labelled texts, two classes or many."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from attention.data import ranks
from attention.data.ratings import RATING_CLASSES, rating_task, write_task
from attention.evaluation import main as evaluate_main
from attention.predict import main as predict_main
from attention.vocabulary import Vocabulary, vocabulary_path
from fake_data import forbid, load, write_csv
from script_runs import SMALL, fails, load_script, only_run

TWO_EPOCHS = [*SMALL, "--num-epochs", "2"]


def script(name: str):
    main = load_script(name).main
    return lambda *args: main([str(a) for a in args])


def test_two_classes_give_the_numbers_of_train_imdb(tiny_imdb, tmp_path):
    """The IMDB folder through train_text.py: the same encoded data, weights and metrics as train_imdb.py."""
    script("train_imdb")("--data", tiny_imdb, "--logdir", tmp_path / "imdb", "--cache-dir", tmp_path / "c1", *TWO_EPOCHS)
    script("train_text")("--data", tiny_imdb, "--logdir", tmp_path / "text", "--cache-dir", tmp_path / "c2", *TWO_EPOCHS)
    imdb_run, text_run = only_run(tmp_path / "imdb"), only_run(tmp_path / "text")
    imdb_results = json.loads((imdb_run / "run.json").read_text())["results"]
    text_results = json.loads((text_run / "run.json").read_text())["results"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert text_results[key] == imdb_results[key], key
    # The same scores; the classes are named after the folders here, "negative" and "positive" there.
    text_report, imdb_report = text_results["validation_report"], imdb_results["validation_report"]
    assert list(text_report["classes"]) == ["neg", "pos"]
    assert list(text_report["classes"].values()) == list(imdb_report["classes"].values())
    for key in ("accuracy", "macro_f1", "confusion_matrix"):
        assert text_report[key] == imdb_report[key], key
    for a, b in zip(keras.models.load_model(imdb_run / "model.keras").get_weights(),
                    keras.models.load_model(text_run / "model.keras").get_weights()):
        np.testing.assert_array_equal(a, b)
    assert Vocabulary.load(vocabulary_path(text_run / "model.keras")).class_names == ["neg", "pos"]


def test_trains_on_a_table(tmp_path, monkeypatch, capsys):
    cues = {"awful": ["awful", "terrible"], "meh": ["meh", "okay"], "good": ["good", "nice"], "great": ["great", "superb"]}
    rows = []
    for i in range(32):  # 8 texts per class
        label = list(cues)[i % 4]
        rows.append((" ".join(["the", "film"] + [cues[label][i % 2]] * (1 + i % 3)), label))
    table = write_csv(tmp_path / "texts.csv", rows)
    logdir, cache_dir = tmp_path / "logs", tmp_path / "cache"
    args = ["--data", table, "--validation-split", "0.25", "--logdir", logdir, "--cache-dir", cache_dir,
            "--num-epochs", "1", "--embedding-dim", "4", "--hidden-size", "2", "--attention-size", "2",
            "--batch-size", "4", "--seed", "1"]
    fails(load_script("train_text").main, [*args, "--class-weight", "awful=2,bad=3"], capsys,
          "--class-weight: no class 'bad'; the classes are awful, good, great, meh")
    assert not logdir.exists()
    script("train_text")(*args, "--class-weight", "awful=2,great=0.5", "--max-samples", "20")
    out = capsys.readouterr().out
    assert "Class weights: awful 2, good 1, great 0.5, meh 1\n" in out
    assert "20 of 24 training and 8 validation texts, 4 classes: awful, good, great, meh\n" in out
    run = only_run(logdir)
    config = json.loads((run / "run.json").read_text())
    assert config["status"] == "finished" and config["config"]["script"] == "train_text"
    assert config["config"]["class_weight"] == "awful=2,great=0.5"
    assert config["config"]["data"] == str(table.resolve())
    # The script loads what the library loads with its defaults: the cache it wrote is found.
    forbid(monkeypatch, ranks, "rank_words")
    data = load(table, cache_dir, validation_split=0.25)
    vocabulary = json.loads((run / "model.vocabulary.json").read_text())
    assert vocabulary["classes"] == data.classes == ["awful", "good", "great", "meh"]
    assert vocabulary["word_index"] == data.word_index and vocabulary["num_words"] == data.num_words
    report = config["results"]["validation_report"]
    assert list(report["classes"]) == data.classes
    assert [c["support"] for c in report["classes"].values()] == np.bincount(data.y_validation).tolist() == [2, 2, 2, 2]


@pytest.fixture(scope="module")
def rating_run(tiny_imdb, tmp_path_factory):
    """A four-class run on the rating task of the tiny IMDB folder, from CSV files."""
    root = tmp_path_factory.mktemp("ratings")
    write_task(rating_task(tiny_imdb, verbose=False), root / "data", "csv")
    script("train_text")("--data", root / "data" / "train.csv", "--validation-data", root / "data" / "test.csv",
                         "--logdir", root / "logs", "--cache-dir", root / "cache", *TWO_EPOCHS)
    return only_run(root / "logs")


def test_many_classes_get_a_softmax_head_and_per_class_scores(rating_run):
    record = json.loads((rating_run / "run.json").read_text())
    report = record["results"]["validation_report"]
    assert list(report["classes"]) == list(RATING_CLASSES)
    confusion = np.array(report["confusion_matrix"])
    assert confusion.shape == (4, 4) and confusion.sum() == 48
    # The report and Keras's own validation accuracy count the same predictions.
    assert report["accuracy"] == pytest.approx(record["results"]["val_accuracy"], abs=1e-6)
    assert report["macro_f1"] == pytest.approx(np.mean([c["f1"] for c in report["classes"].values()]))
    model = keras.models.load_model(rating_run / "model.keras")
    assert model.output_shape == (None, 4)
    assert Vocabulary.load(vocabulary_path(rating_run / "model.keras")).class_names == list(RATING_CLASSES)


def test_confusion_matrix_and_macro_f1_in_tensorboard(rating_run):
    tags = set()
    for path in (rating_run / "validation").glob("events.out.tfevents.*"):
        for event in EventFileLoader(str(path)).Load():
            tags |= {(v.tag, v.metadata.plugin_data.plugin_name) for v in event.summary.value}
    assert {("confusion_matrix", "images"), ("macro_f1", "scalars")} <= tags


def test_predict_prints_every_class(rating_run, capsys):
    predict_main(["--model", str(rating_run), "great wonderful film", "awful boring"])
    lines = capsys.readouterr().out.splitlines()
    first = lines[0].split("\t")
    assert first[2] in RATING_CLASSES
    shares = dict(part.rsplit(" ", 1) for part in lines[1].split(": ", 1)[1].split(", "))
    assert list(shares) == list(RATING_CLASSES)
    assert sum(map(float, shares.values())) == pytest.approx(1.0, abs=1e-3)
    assert float(first[1]) == pytest.approx(max(map(float, shares.values())), abs=1e-4)


def test_evaluation_reads_the_runs_texts_or_new_ones_with_its_classes(rating_run, tmp_path, capsys):
    record = json.loads((rating_run / "run.json").read_text())
    evaluate_main(["--model", str(rating_run), "--output", str(tmp_path / "again.json")])
    assert json.loads((tmp_path / "again.json").read_text())["report"] == record["results"]["validation_report"]
    # The validation file itself, read as new texts labelled with the run's class names.
    test_csv = record["config"]["validation_data"]
    evaluate_main(["--model", str(rating_run), "--test-data", test_csv, "--output", str(tmp_path / "new.json")])
    report = json.loads((tmp_path / "new.json").read_text())["report"]
    assert list(report["classes"]) == list(RATING_CLASSES)
    supports = [c["support"] for c in report["classes"].values()]
    assert supports == [c["support"] for c in record["results"]["validation_report"]["classes"].values()]
    assert f"on 48 texts of {test_csv}" in capsys.readouterr().out


def test_data_without_the_runs_columns_is_refused_without_advising_an_option_the_command_lacks(rating_run, tmp_path,
                                                                                                 capsys):
    other = tmp_path / "other.csv"
    other.write_text("body,queue\ngreat film,positive\n")
    message = (f"{other} has no column 'text' (its columns: 'body', 'queue'); the model's run read its texts from "
               "'text' and its labels from 'label': give --data the data it was trained on")
    fails(load_script("visualize_attention").main, ["--model", rating_run, "--data", other, "--format", "text"],
          capsys, message)
    fails(evaluate_main, ["--model", str(rating_run), "--data", str(other)], capsys, message)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the export is a TensorFlow SavedModel")
def test_the_run_folder_holds_an_export_that_reads_text(rating_run):
    assert (rating_run / "model_serving" / "1" / "saved_model.pb").is_file()

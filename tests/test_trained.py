"""attention.trained: loading a trained model with its vocabulary, and refusing what cannot be used.

`trained` is one tiny training run (conftest.py).
"""

import json
import shutil
import zipfile

import keras
import numpy as np
import pytest

from attention.evaluation import main as evaluate_main
from attention.predict import main as predict_main
from attention.trained import ModelFileError, load_trained, run_config
from attention.vocabulary import vocabulary_path
from script_runs import fails, load_script

visualize_main = load_script("visualize_attention").main


@pytest.fixture(scope="module")
def broken_models(trained, tmp_path_factory):
    """Model files that cannot be used, each with the message it must give."""
    folder = tmp_path_factory.mktemp("broken")
    (folder / "text.keras").write_text("not a model")
    with zipfile.ZipFile(folder / "zip.keras", "w") as archive:
        archive.writestr("hello.txt", "a zip, but no model")
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    plain.save(folder / "plain.keras")
    (folder / "lonely").mkdir()
    (folder / "lonely" / "model.keras").write_bytes(trained[0].read_bytes())
    return {
        "missing": (folder / "nope.keras", "model file not found"),
        "not a zip": (folder / "text.keras", "is not a .keras model file"),
        "wrong suffix": (trained[0].with_name("run.json"), "is not a .keras model file"),
        "empty folder": (folder, "is a folder without model.keras"),
        "foreign zip": (folder / "zip.keras", "cannot load the model"),
        "no attention": (folder / "plain.keras", "without an AttentionLayer"),
        "no vocabulary": (folder / "lonely" / "model.keras", "vocabulary file not found"),
    }

@pytest.mark.parametrize("case", ["missing", "not a zip", "wrong suffix", "empty folder", "foreign zip", "no attention", "no vocabulary"])
def test_unusable_model_files(case, broken_models, capsys):
    path, message = broken_models[case]
    fails(visualize_main, ["--model", path], capsys, message)
    fails(predict_main, ["--model", path, "great"], capsys, message)
    with pytest.raises(ModelFileError, match=message) as error:
        load_trained(path)
    assert isinstance(error.value, ValueError)


def test_run_config_belongs_to_the_model(trained, tmp_path):
    model_path, data, cache = trained
    assert run_config(model_path)["data"] == str(data) and run_config(model_path.parent)["cache_dir"] == str(cache)
    (tmp_path / "run.json").write_text(json.dumps({"config": {"data": "x", "model_path": "/elsewhere/m.keras"}}))
    assert run_config(tmp_path / "model.keras") == {}  # that run saved its model elsewhere
    (tmp_path / "run.json").write_text("{broken")
    assert run_config(tmp_path / "model.keras") == {}


def test_run_folder_is_accepted_as_model(trained):
    model, vocabulary = load_trained(trained[0].parent)
    assert model.get_layer("attention") is not None and vocabulary.word_index

def test_a_diverged_model_is_refused(trained, tmp_path, capsys):
    model = keras.models.load_model(trained[0])
    model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    model.save(tmp_path / "model.keras")
    shutil.copy(vocabulary_path(trained[0]), tmp_path / "model.vocabulary.json")
    fails(predict_main, ["--model", tmp_path / "model.keras", "great"], capsys, "NaN or infinite weights")


@pytest.mark.parametrize("field, value", [("sequence_length", "250"), ("num_words", 1.5), ("word_index", ["a"])])
def test_a_broken_vocabulary_is_refused(trained, tmp_path, capsys, field, value):
    shutil.copy(trained[0], tmp_path / "model.keras")
    data = json.loads(vocabulary_path(trained[0]).read_text())
    (tmp_path / "model.vocabulary.json").write_text(json.dumps({**data, field: value}))
    fails(predict_main, ["--model", tmp_path / "model.keras", "great"], capsys, f"`{field}` must")



def test_a_vocabulary_of_other_classes_is_refused(trained, tmp_path, capsys):
    shutil.copy(trained[0], tmp_path / "model.keras")  # two classes: one logit
    data = json.loads(vocabulary_path(trained[0]).read_text())
    (tmp_path / "model.vocabulary.json").write_text(json.dumps({**data, "classes": ["a", "b", "c"]}))
    message = "names 3 classes, but the model has 1 output(s): they are not from the same run"
    fails(predict_main, ["--model", tmp_path / "model.keras", "great"], capsys, message)
    fails(evaluate_main, ["--model", tmp_path / "model.keras"], capsys, message)

"""attention.serving: the SavedModel that reads raw text, checked against the Keras model.

Tiny models with hand-made vocabularies; the export is loaded in a fresh process that can
import neither `attention` nor Keras, with `tf.saved_model.load` and as TF Serving loads it
(a TF1 session restoring the variables by name).
"""

import functools
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
if keras.backend.backend() != "tensorflow":
    pytest.skip("the export runs on the TensorFlow backend only", allow_module_level=True)

from attention import serving  # noqa: E402
from attention.atomic import PARTIAL, save_model  # noqa: E402
from attention.model import build_model, class_probabilities, inspection_model  # noqa: E402
from attention.serving import export_text_model, main, serving_dir  # noqa: E402
from attention.vocabulary import PAD, Vocabulary, vocabulary_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# Ranks 1.. in this order. The binary model keeps ranks below 42 (num_words 45, index_from 3)
# and has 40 embedding rows, so "rare".."uncommon" (ids 40-44) are dropped, not <oov>, and
# "toolate", "beyond" are <oov>; the four-class model keeps ranks below 26 only.
WORDS = ["the", "film", "great", "bad", "end", "don't", "rock'n'roll", "café", "οδος", "naïve", "br", "!", ",", ".",
         "'", "\ufffd", "\U0001f600", "i"]
WORDS += [f"filler{i}" for i in range(len(WORDS), 36)] + ["rare", "seldom", "scarce", "odd", "uncommon", "toolate", "beyond"]
WORD_INDEX = {word: rank for rank, word in enumerate(WORDS, start=1)}

TRICKY = {
    "uppercase": "GREAT Film, The END",
    "br tags": "great<br /><br />film<BR/>br<br\t/>end",
    "apostrophes": "don't DON\u2019T 'don't' rock'n'roll i' 'i",
    "non-ascii": "Café ΟΔΟΣ NAÏVE\u00a0café\u200b! \U0001f600great",
    "nul byte": "great\x00film\x00\x00bad",
    "soft hyphen": "gr\u00adeat fi\u00adlm",
    "longer than sequence_length": " ".join(["the great film"] * 9) + " bad",
    "unknown words": "zyzzyva great qwerty toolate",
    "dropped ids": "rare great seldom film uncommon",
    "empty": "",
    "only spaces": " \t\n\x0b\x00 ",
}
TEXTS = list(TRICKY.values())
NOT_UTF8 = [b"great \xff film", b"\xed\xa0\x80bad", b"end \xf0\x9f\x98", b"\xc0\xaf the"]

CONFIGS = {
    # name: build_model's vocabulary_size (the embedding rows), Vocabulary's fields
    "binary": (40, dict(num_words=45, index_from=3, sequence_length=12)),
    "four": (60, dict(num_words=30, index_from=4, start_char=3, oov_char=1, sequence_length=7,
                      classes=["awful", "meh", "good", "great"])),
}

# Runs in a fresh interpreter without site-packages, on a path without Keras (see
# `site_packages_without`); `attention` is refused outright, whatever the path holds.
CHILD = r"""
import importlib.abc, importlib.util, json, sys

class NoAttention(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "attention":
            raise ImportError("attention is not importable in this process")

sys.meta_path.insert(0, NoAttention())
try:
    import attention
    blocked = False
except ImportError:
    blocked = True
import tensorflow as tf

job = json.loads(open(sys.argv[1], encoding="utf-8").read())
report = {"attention_blocked": blocked, "keras_found": importlib.util.find_spec("keras") is not None, "exports": {}}
for name, path in job["exports"].items():
    serve = tf.saved_model.load(path).signatures["serving_default"]
    out = {key: value.numpy() for key, value in serve(texts=tf.constant(job["texts"])).items()}
    report["exports"][name] = {
        "inputs": {k: [s.dtype.name, s.shape.as_list()] for k, s in serve.structured_input_signature[1].items()},
        "outputs": {k: [s.dtype.name, s.shape.as_list()] for k, s in serve.structured_outputs.items()},
        "classes": [c.decode() for c in tf.saved_model.load(path).signatures["classes"]()["classes"].numpy()],
        "probabilities": out["probabilities"].tolist(),
        "attention": out["attention"].tolist(),
        "ids": out["ids"].tolist(),
        "predicted_class": [c.decode("utf-8") for c in out["predicted_class"]],
        "tokens": [[t.decode("utf-8") for t in row] for row in out["tokens"]],
    }
    # As TF Serving's C++ loader reads it: a TF1 session that restores the variables by name
    # and runs the tables' initialiser.
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        signature = tf.compat.v1.saved_model.loader.load(session, ["serve"], path).signature_def["serving_default"]
        fetches = {key: info.name for key, info in signature.outputs.items()}
        out = session.run(fetches, {signature.inputs["texts"].name: job["texts"]})
    report["exports"][name]["session"] = {key: out[key].tolist() for key in ("probabilities", "attention", "ids")}
open(sys.argv[2], "w", encoding="utf-8").write(json.dumps(report))
"""


def make_model(rows: int, num_classes: int, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = build_model(vocabulary_size=rows, embedding_dim=8, hidden_size=4, attention_size=3, num_classes=num_classes)
    # Larger logits than the initial ones (near 0): probabilities spread over (0, 1), so that a
    # wrong id or weight shows far beyond the tolerance.
    output = model.get_layer("output")
    output.set_weights([w * 30 for w in output.get_weights()])
    return model


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """name -> (model, vocabulary, embedding rows, export folder), exported once."""
    folder = tmp_path_factory.mktemp("exports")
    out = {}
    for seed, (name, (rows, fields)) in enumerate(CONFIGS.items()):
        vocabulary = Vocabulary(dict(WORD_INDEX), **fields)
        model = make_model(rows, len(vocabulary.class_names), seed)
        out[name] = (model, vocabulary, rows, export_text_model(model, vocabulary, folder / name / "1"))
    return out


def site_packages_without(folder: Path, hidden: tuple[str, ...]) -> Path:
    """A folder of links to every installed package but those named `hidden*`."""
    folder.mkdir()
    for site_packages in {Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()}:
        for entry in site_packages.iterdir():
            if not entry.name.lower().startswith(hidden) and not (folder / entry.name).exists():
                (folder / entry.name).symlink_to(entry)
    return folder


@pytest.fixture(scope="module")
def fresh(cases, tmp_path_factory):
    """What the exports return for TEXTS in a process without `attention` and Keras."""
    folder = tmp_path_factory.mktemp("fresh")
    # Keras and the editable install of this project are left off the path (-S: no .pth files).
    path = site_packages_without(folder / "site-packages", ("keras", "tf_keras", "__editable__"))
    job = {"texts": TEXTS, "exports": {name: str(case[3]) for name, case in cases.items()}}
    (folder / "job.json").write_text(json.dumps(job), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-S", "-c", CHILD, str(folder / "job.json"), str(folder / "out.json")],
                            cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((folder / "out.json").read_text(encoding="utf-8"))
    assert report["attention_blocked"] and not report["keras_found"]
    return report["exports"]


@functools.lru_cache(maxsize=None)
def loaded(folder: Path):
    """The serving signature of an export, loaded once (each load takes about 0.5 s)."""
    return tf.saved_model.load(str(folder)).signatures["serving_default"]


@pytest.mark.parametrize("name", CONFIGS)
def test_probabilities_in_a_fresh_process(name, cases, fresh):
    model, vocabulary, rows, _ = cases[name]
    got = fresh[name]
    expected = class_probabilities(model.predict(vocabulary.encode(TEXTS, rows), verbose=0))
    assert expected.shape == (len(TEXTS), len(vocabulary.class_names))
    np.testing.assert_allclose(got["probabilities"], expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(got["session"]["probabilities"], expected, rtol=0, atol=1e-5)
    assert got["predicted_class"] == [vocabulary.class_names[i] for i in expected.argmax(axis=1)]
    assert got["classes"] == vocabulary.class_names
    length = vocabulary.sequence_length
    assert got["inputs"] == {"texts": ["string", [None]]}
    assert got["outputs"] == {
        "probabilities": ["float32", [None, len(vocabulary.class_names)]],
        "predicted_class": ["string", [None]],
        "attention": ["float32", [None, length]],
        "tokens": ["string", [None, length]],
        "ids": ["int32", [None, length]],
    }


@pytest.mark.parametrize("name", CONFIGS)
def test_attention_and_tokens(name, cases, fresh):
    model, vocabulary, rows, _ = cases[name]
    ids = vocabulary.encode(TEXTS, rows)
    _, _, alphas = inspection_model(model).predict(ids, verbose=0)
    np.testing.assert_allclose(fresh[name]["attention"], alphas, rtol=0, atol=1e-5)
    np.testing.assert_allclose(fresh[name]["session"]["attention"], alphas, rtol=0, atol=1e-5)
    assert fresh[name]["ids"] == fresh[name]["session"]["ids"] == ids.tolist()
    words = [["" if word == PAD else word for word in vocabulary.decode(row)] for row in ids]
    assert fresh[name]["tokens"] == words
    assert {"<start>", "<oov>", "", "οδος", "don't"} <= {w for row in words for w in row}


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("case", TRICKY)
def test_tricky_texts_encode_as_the_vocabulary_does(name, case, cases):
    _, vocabulary, rows, folder = cases[name]
    ids = loaded(folder)(texts=tf.constant([TRICKY[case]]))["ids"].numpy()
    np.testing.assert_array_equal(ids, vocabulary.encode([TRICKY[case]], rows))


def test_the_tricky_texts_reach_every_rule(cases):
    """The cases above are worth their names: each rule of the encoding changes some ids."""
    _, vocabulary, rows, _ = cases["binary"]
    ids = dict(zip(TRICKY, vocabulary.encode(TEXTS, rows)))
    oov, great = vocabulary.oov_char, WORD_INDEX["great"] + vocabulary.index_from
    assert ids["longer than sequence_length"][-1] == 0 and 0 not in ids["longer than sequence_length"][:-1]
    assert list(ids["dropped ids"][:4]) == [1, great, WORD_INDEX["film"] + 3, 0]  # fit_in_vocabulary
    assert list(ids["unknown words"][:5]) == [1, oov, great, oov, oov]
    assert list(ids["nul byte"][:4]) == [1, great, WORD_INDEX["film"] + 3, WORD_INDEX["bad"] + 3]
    assert list(ids["empty"]) == list(ids["only spaces"]) == [1] + [0] * 11
    for case in "uppercase", "br tags", "apostrophes", "non-ascii", "soft hyphen":  # every word known
        assert oov not in ids[case], case




@pytest.mark.parametrize("name", CONFIGS)
def test_bytes_that_are_not_utf8_read_as_python_replaces_them(name, cases):
    _, vocabulary, rows, folder = cases[name]
    ids = loaded(folder)(texts=tf.constant(NOT_UTF8))["ids"].numpy()
    expected = vocabulary.encode([b.decode("utf-8", "replace") for b in NOT_UTF8], rows)
    np.testing.assert_array_equal(ids, expected)
    assert WORD_INDEX["\ufffd"] + vocabulary.index_from in expected  # the replacement character is a word here


def test_an_empty_batch(cases):
    out = loaded(cases["four"][3])(texts=tf.constant([], tf.string))
    assert out["probabilities"].shape == (0, 4) and out["tokens"].shape == (0, 7)


def test_serving_dir(tmp_path):
    assert serving_dir("logdir/RUN/model.keras") == Path("logdir/RUN/model_serving/1")
    assert serving_dir(tmp_path / "best.keras") == tmp_path / "best_serving" / "1"
    assert serving_dir(tmp_path) == tmp_path / "model_serving" / "1"  # a run folder


def test_export_refuses_what_it_cannot_serve(cases, tmp_path):
    model, vocabulary, rows, _ = cases["binary"]
    with pytest.raises(ValueError, match="names 4 classes but the model has 1 output"):
        export_text_model(model, Vocabulary(WORD_INDEX, classes=["a", "b", "c", "d"]), tmp_path / "x")
    with pytest.raises(ValueError, match="no word index"):
        export_text_model(model, Vocabulary(None), tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.fixture
def run_folder(cases, tmp_path):
    """A run folder as train_imdb.py leaves it: model.keras and its vocabulary."""
    model, vocabulary, _, _ = cases["four"]
    save_model(model, tmp_path / "run" / "model.keras")
    vocabulary.save(vocabulary_path(tmp_path / "run" / "model.keras"))
    return tmp_path / "run"


def assert_serves_model(folder: Path, model: keras.Model, vocabulary: Vocabulary, rows: int):
    expected = class_probabilities(model.predict(vocabulary.encode(TEXTS[:3], rows), verbose=0))
    np.testing.assert_allclose(loaded(folder)(texts=tf.constant(TEXTS[:3]))["probabilities"], expected, atol=1e-5)


def test_command_line_exports_a_run(run_folder, cases, capsys, tmp_path):
    model, vocabulary, rows, _ = cases["four"]
    main([str(run_folder)])
    target = run_folder / "model_serving" / "1"
    assert capsys.readouterr().out == f"exported {run_folder / 'model.keras'} to {target}\n"
    assert_serves_model(target, model, vocabulary, rows)

    # Again, over the first export: replaced whole, nothing left beside it.
    (target / "stale").write_text("from the first export")
    main([str(run_folder / "model.keras")])
    assert not (target / "stale").exists() and (target / "saved_model.pb").is_file()
    assert sorted(p.name for p in target.parent.iterdir()) == ["1"]

    main([str(run_folder), "--output", str(tmp_path / "elsewhere")])
    assert capsys.readouterr().out.endswith(f" to {tmp_path / 'elsewhere'}\n")
    assert_serves_model(tmp_path / "elsewhere", model, vocabulary, rows)


def test_a_failed_export_leaves_the_last_one(run_folder, monkeypatch):
    main([str(run_folder)])
    target = run_folder / "model_serving" / "1"
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}

    def broken_save(module, path, **kwargs):
        (Path(path) / "saved_model.pb").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tf.saved_model, "save", broken_save)
    with pytest.raises(SystemExit) as exit_info:
        main([str(run_folder)])
    assert exit_info.value.code == 2
    assert {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} == before
    assert not [p for p in target.parent.iterdir() if PARTIAL in p.name]


def fails(args: list, capsys, message: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m attention.serving: error: ") and message in err, err


def test_command_line_errors(run_folder, tmp_path, capsys, monkeypatch):
    fails([tmp_path / "nope.keras"], capsys, "model file not found")
    fails([tmp_path], capsys, "is a folder without model.keras")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    fails([run_folder, "--output", tmp_path / "notes"], capsys, "is not a SavedModel folder; not replacing it")
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    fails([run_folder], capsys, "export needs the TensorFlow backend: KERAS_BACKEND=tensorflow python -m attention.serving")
    assert not (run_folder / "model_serving").exists()


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "MODEL" in out and "--output DIR" in out and "model_serving/1" in out


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_importable_without_tensorflow(tmp_path):
    """On JAX, where TensorFlow may not be installed, the module imports and the export says what it needs."""
    path = site_packages_without(tmp_path / "site-packages", ("tensorflow", "tf_keras", "__editable__"))
    code = (
        "import importlib.util\n"
        "assert importlib.util.find_spec('tensorflow') is None\n"
        "from attention.model import build_model\n"
        "from attention.serving import export_text_model\n"
        "from attention.vocabulary import Vocabulary\n"
        "try:\n"
        "    export_text_model(build_model(10, 2, 2, 2), Vocabulary({'a': 1}), 'x')\n"
        "except RuntimeError as error:\n"
        "    print(error)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": os.pathsep.join([str(ROOT), str(path)])}
    result = subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == serving.BACKEND_ERROR
    assert not (tmp_path / "x").exists()

"""The attention views: scripts/visualize_attention.py, attention.visualize and attention.predict."""

import io
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import keras
import numpy as np
import pytest

from attention import imdb, pipeline
from attention.model import inspection_model
from attention.pipeline import default_width_step
from attention import predict
from attention.predict import main as predict_main
from attention.vocabulary import vocabulary_path
from attention.trained import ModelFileError, encode_texts, load_trained, run_config
from attention.visualize import Attention, attend, attention_scorer, render_html, render_text, top_words
from script_runs import SMALL, load_script

ROOT = Path(__file__).resolve().parents[1]
TEXT = 'A <b>great</b> film & "wonderful" music, not dull.'


visualize_main = load_script("visualize_attention").main


@pytest.fixture(scope="module")
def trained(tiny_imdb, tmp_path_factory):
    """One tiny training run of train_imdb.py; returns (model path, data folder, cache folder)."""
    logdir, cache = tmp_path_factory.mktemp("logdir"), tmp_path_factory.mktemp("cache")
    load_script("train_imdb").main([str(a) for a in ["--data", tiny_imdb, "--logdir", logdir, "--cache-dir", cache, *SMALL]])
    (model_path,) = Path(logdir).glob("*/model.keras")
    return model_path, tiny_imdb, cache


@pytest.fixture(scope="module")
def loaded(trained):
    return load_trained(trained[0])


class Page(HTMLParser):
    """Checks that tags balance and collects each review's caption, verdict and highlighted words."""

    VOID = {"meta", "link", "br", "hr", "img", "input"}

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.stack, self.reviews, self.title, self.doctype = [], [], None, None
        self.feed(text)
        self.close()
        assert not self.stack, f"unclosed tags: {self.stack}"

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in self.VOID:
            self.stack.append((tag, attrs))
        if tag == "section":
            self.reviews.append({"caption": "", "verdict": "", "words": [], "alphas": [], "weights": []})
        if tag == "span" and "style" in attrs:
            alpha = re.fullmatch(r"background: rgba\(255, 255, 0, ([0-9.]+)\)", attrs["style"]).group(1)
            self.reviews[-1]["alphas"].append(float(alpha))
            self.reviews[-1]["weights"].append(float(attrs["title"]))
            self.reviews[-1]["words"].append("")

    def handle_startendtag(self, tag, attrs):
        assert tag in self.VOID, f"<{tag}/> is not a void element"

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1][0] == tag, f"</{tag}> closes {self.stack[-1:] or 'nothing'}"
        self.stack.pop()

    def handle_data(self, data):
        tags = [t for t, _ in self.stack]
        if tags[-1:] == ["title"]:
            self.title = data
        elif "h2" in tags:
            self.reviews[-1]["caption"] += data
        elif any(t == "p" and a.get("class") == "verdict" for t, a in self.stack):
            self.reviews[-1]["verdict"] += data
        elif tags[-1:] == ["span"] and any(a.get("class") == "words" for _, a in self.stack):
            self.reviews[-1]["words"][-1] += data


def check_page(text):
    """Parses the page both as HTML and as XML (it is written to be both) and checks its frame."""
    page = Page(text)
    assert page.doctype.lower() == "doctype html"
    root = ET.fromstring(text)  # the XML parser is the strict one: no stray & or <, every tag closed
    assert root.tag == "html" and root.find("head/meta").get("charset") == "utf-8"
    assert root.find("head/title").text and root.find("head/style").text
    for review in page.reviews:
        assert review["words"] and len(review["words"]) == len(review["alphas"])
        assert all(0.0 <= a <= 1.0 for a in review["alphas"]) and max(review["alphas"]) == 1.0
        assert all(0.0 <= w <= 1.0 for w in review["weights"]) and sum(review["weights"]) <= 1.0 + 1e-3
        assert not {"<pad>", "<start>"} & set(review["words"])
    assert "&lt;pad&gt;" not in text and "&lt;start&gt;" not in text
    return page


def raw_test_reviews(data):
    """(tokens, label) of every raw test review of the tiny data set."""
    return [
        (imdb.tokenize(path.read_text(encoding="utf-8")), label)
        for label, name in enumerate(("neg", "pos"))
        for path in sorted((Path(data) / "test" / name).glob("*.txt"))
    ]


def test_html_of_test_reviews_matches_the_raw_reviews(trained, loaded, tmp_path, capsys):
    model_path, data, _ = trained
    _, vocabulary = loaded
    output = tmp_path / "page.html"
    # No --data: it comes from run.json beside the model, as does the cache folder.
    visualize_main(["--model", str(model_path), "--index", "0", "1", "2", "--output", str(output)])
    assert str(output) in capsys.readouterr().out
    text = output.read_text(encoding="utf-8")
    page = check_page(text)
    assert [r["caption"] for r in page.reviews] == ["Test review 0", "Test review 1", "Test review 2"]
    known = [([t for t in tokens if t in vocabulary.word_index], label) for tokens, label in raw_test_reviews(data)]
    for review in page.reviews:
        # The words shown are one raw review's tokens, in order; its folder gives the true label.
        shown = [w for w in review["words"] if w != "<oov>"]
        labels = {label for words, label in known if words == shown}
        assert len(labels) == 1
        assert f"true label: {('negative', 'positive')[labels.pop()]}" in review["verdict"]
        assert re.search(r"P\(positive\) = [01]\.\d{3}", review["verdict"])
        # The tiny reviews end with: The end & "quotes" <b>
        assert review["words"][-9:] == ["the", "end", "&", '"', "quotes", '"', "<", "b", ">"]
    assert "&amp;" in text and "&quot;" in text and "&lt;" in text
    assert ">&<" not in text and '>"<' not in text and "><<" not in text


def test_text_is_tokenised_as_the_training_data(trained, loaded, tmp_path):
    model_path, _, _ = trained
    model, vocabulary = loaded
    output = tmp_path / "text.html"
    visualize_main(["--model", str(model_path), "--text", TEXT, "--text", "dull", "--output", str(output)])
    text = output.read_text(encoding="utf-8")
    page = check_page(text)
    tokens = imdb.tokenize(TEXT)
    expected = [t for t in tokens if t in vocabulary.word_index]
    assert "<" in expected and "&" in expected and '"' in expected and "not" not in expected
    # Words the vocabulary lacks ("not", "/") are left out or shown as <oov>, as the data encodes them.
    shown = page.reviews[0]["words"]
    assert [w for w in shown if w != "<oov>"] == expected
    assert len(shown) - len(expected) in (0, len(tokens) - len(expected))
    assert page.reviews[1]["words"] == ["dull"] and page.reviews[1]["alphas"] == [1.0]
    assert [r["caption"] for r in page.reviews] == ["Text 1", "Text 2"] and "true label" not in text
    # The encoding is Vocabulary.encode's, and the probability the model's.
    ids = encode_texts(model, vocabulary, [TEXT, "dull"])
    np.testing.assert_array_equal(ids, vocabulary.encode([TEXT, "dull"]))
    probability = 1 / (1 + np.exp(-model.predict(ids, verbose=0)[0, 0]))
    shown_probability = float(re.search(r"P\(positive\) = ([01]\.\d{3})", page.reviews[0]["verdict"]).group(1))
    assert abs(shown_probability - probability) <= 6e-4


def test_attend_keeps_the_weights_of_the_words(loaded):
    model, vocabulary = loaded
    ids = encode_texts(model, vocabulary, [TEXT, "great film"])
    items = attend(model, vocabulary, ids)
    _, _, alphas = inspection_model(model).predict(ids, verbose=0)
    for item, row, weights in zip(items, ids, alphas):
        real = row != 0
        assert item.words == vocabulary.decode(row[real][1:])
        np.testing.assert_allclose(item.weights, weights[real][1:], rtol=1e-6)
        # Masking gives padding no weight, so the words and the start token share all of it.
        np.testing.assert_allclose(item.weights.sum() + weights[0], 1.0, rtol=1e-5)
        assert 0.0 < item.probability < 1.0
    assert top_words(items[1], 5) == sorted(
        [(i, w, float(x)) for i, (w, x) in enumerate(zip(items[1].words, items[1].weights))], key=lambda t: -t[2]
    )


def test_attend_cuts_each_batch_to_its_texts_and_keeps_no_rnn_outputs(loaded, monkeypatch):
    # Before, every text ran at the full width and its RNN outputs were kept with the rest:
    # 20,000 short lines through `attention.predict` took 19 GB and 64 s.
    model, vocabulary = loaded
    ids = encode_texts(model, vocabulary, ["great film " * n for n in (1, 30, 2, 12, 1, 5, 40)])
    calls = []
    for name in ("predict", "predict_on_batch"):
        def spy(self, x, *args, _original=getattr(keras.Model, name), **kwargs):
            outputs = _original(self, x, *args, **kwargs)
            calls.append((np.shape(x), [np.shape(o) for o in keras.tree.flatten(outputs)]))
            return outputs

        monkeypatch.setattr(keras.Model, name, spy)
    items = attend(model, vocabulary, ids, batch_size=3)
    monkeypatch.undo()

    assert calls and all(len(shape) <= 2 for _, outputs in calls for shape in outputs)
    step, lengths = default_width_step(ids), np.sort((ids != 0).sum(axis=1))
    longest = [lengths[i : i + 3].max() for i in range(0, len(lengths), 3)]
    assert [x[1] for x, _ in calls] == [min(-(-n // step) * step, ids.shape[1]) for n in longest]
    # The same numbers as the full-width batch, each in its text's place.
    logits, _, alphas = inspection_model(model).predict(ids, verbose=0)
    for item, row, weights, logit in zip(items, ids, alphas, logits):
        assert item.words == vocabulary.decode(row[row != 0][1:])
        np.testing.assert_allclose(item.weights, weights[row != 0][1:], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(item.probability, 1 / (1 + np.exp(-logit[0])), rtol=1e-5)


def test_attend_on_a_jax_gpu_fills_the_last_batch_and_leaves_its_copies_out(loaded, monkeypatch):
    # Each chunk of `attention.predict` ended in a batch of its own size: on JAX with a GPU,
    # one more program to compile for each.
    model, vocabulary = loaded
    ids = encode_texts(model, vocabulary, ["great film " * n for n in (1, 30, 2, 12, 1, 5, 40)])
    expected = attend(model, vocabulary, ids, batch_size=3)
    monkeypatch.setattr(pipeline, "default_fixed_batch", lambda: True)
    scorer, sizes = attention_scorer(model), []
    predict_on_batch = scorer.predict_on_batch
    monkeypatch.setattr(scorer, "predict_on_batch", lambda x: sizes.append(len(x)) or predict_on_batch(x))
    items = attend(model, vocabulary, ids, batch_size=3, scorer=scorer)
    assert sizes == [3, 3, 3]
    for item, want in zip(items, expected, strict=True):
        assert item.words == want.words
        np.testing.assert_allclose(item.weights, want.weights, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(item.probabilities, want.probabilities, rtol=1e-5)


def test_text_format(trained, capsys):
    model_path, _, _ = trained
    visualize_main(["--model", str(model_path), "--index", "5", "--format", "text", "--top-k", "3"])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert re.fullmatch(r"Test review 5: P\(positive\) = [01]\.\d{3}: predicted \w+; true label: \w+ \((right|wrong)\)", lines[0])
    top = lines.index("  top 3 words:")
    pairs = [re.fullmatch(r"(.+)\((\d\.\d{4})\)", chunk).groups() for line in lines[1:top] for chunk in line.split()]
    assert pairs and all(0.0 <= float(w) <= 1.0 for _, w in pairs)
    assert not {"<pad>", "<start>"} & {w for w, _ in pairs}
    ranked = [re.fullmatch(r"\s+(\d)\. (\d\.\d{4})  (.+)", line).groups() for line in lines[top + 1 :]]
    assert [int(r) for r, _, _ in ranked] == [1, 2, 3]
    assert [float(w) for _, w, _ in ranked] == sorted((float(w) for _, w in pairs), reverse=True)[:3]


def test_default_output_is_visualization_html(trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    visualize_main(["--model", str(trained[0])])
    page = check_page((tmp_path / "visualization.html").read_text(encoding="utf-8"))
    assert [r["caption"] for r in page.reviews] == ["Test review 0"]
    assert page.title == f"Attention of {trained[0].parent.name}/model.keras"


def test_render_escapes_everything():
    items = [
        Attention(["<script>", "&amp;", "\"it's\"", "ok"], np.array([0.1, 0.0, 0.3, 0.2]), np.array([0.75, 0.25])),
        Attention(["none"], np.array([0.0]), np.array([0.25, 0.75])),
    ]
    text = render_html(items, title="<Mine> & 'yours'", captions=["a<b", "c&d"], labels=[1, 1])
    page = Page(text)
    ET.fromstring(text)
    assert page.title == "<Mine> & 'yours'" and [r["caption"] for r in page.reviews] == ["a<b", "c&d"]
    assert page.reviews[0]["words"] == items[0].words and page.reviews[0]["alphas"] == [0.333, 0.0, 1.0, 0.667]
    assert page.reviews[1]["alphas"] == [0.0]  # no weight at all: no division by zero
    assert "wrong" in page.reviews[0]["verdict"] and "right" in page.reviews[1]["verdict"]
    assert "<script>" not in text
    assert render_text(items, top_k=1, labels=[1, 0]).count("top 1 words:") == 2


def test_predict_from_arguments(trained, capsys):
    predict_main(["--model", str(trained[0]), "--top-k", "2", "great wonderful film", 'awful "boring" <b>movie</b>'])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    for number, (head, words) in enumerate(zip(lines[::2], lines[1::2]), start=1):
        fields = head.split("\t")
        assert fields[0] == str(number) and 0.0 <= float(fields[1]) <= 1.0
        if fields[1] != "0.5000":  # too close to call from the printed digits
            assert fields[2] == ("positive" if float(fields[1]) > 0.5 else "negative")
        assert words.startswith("\ttop words: ") and words.count(",") == 1
    assert lines[2].endswith('awful "boring" <b>movie</b>')


def test_predict_from_stdin(trained):
    result = subprocess.run(
        [sys.executable, "-m", "attention.predict", "--model", str(trained[0]), "--top-k", "1"],
        input="great film\n\nawful plot\n", capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines[::2]] == ["1", "2"]  # the blank line is skipped
    assert lines[0].endswith("\tgreat film") and lines[2].endswith("\tawful plot")
    assert re.fullmatch(r"\ttop words: (great|film) \d\.\d{3}", lines[1])


def test_predict_shows_a_progress_bar_past_one_batch(trained, capsys):
    predict_main(["--model", str(trained[0]), "great film", "dull"])
    assert capsys.readouterr().err == ""
    predict_main(["--model", str(trained[0]), *(f"great film {n}" for n in range(70))])
    captured = capsys.readouterr()
    assert re.search(r"\b0/70 \[", captured.err) and len(captured.out.splitlines()) == 140


def test_predict_answers_standard_input_a_chunk_at_a_time(trained, capsys, monkeypatch):
    monkeypatch.setattr(predict, "CHUNK_TEXTS", 2)
    # One scoring model for all chunks: on TensorFlow each new one is traced anew (2.2x the time).
    built = []
    monkeypatch.setattr(predict, "attention_scorer", lambda model: built.append(attention_scorer(model)) or built[-1])
    texts = ["great film", "awful plot", "dull", "wonderful", "great acting"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("\n".join(texts).encode())))
    predict_main(["--model", str(trained[0])])
    chunked = capsys.readouterr().out.splitlines()
    assert len(built) == 1
    predict_main(["--model", str(trained[0]), *texts])
    whole = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in chunked[::2]] == ["1", "2", "3", "4", "5"]
    for a, b in zip(chunked[::2], whole[::2]):
        (n, p, _, text), (m, q, _, same) = a.split("\t"), b.split("\t")
        assert (n, text) == (m, same) and abs(float(p) - float(q)) <= 2e-4
    # An error in a later chunk comes after the answers to the chunks before it.
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"great film\nawful plot\ndull\nwonderful\n\xff\n")))
    with pytest.raises(SystemExit):
        predict_main(["--model", str(trained[0])])
    captured = capsys.readouterr()
    assert [line.split("\t")[0] for line in captured.out.splitlines()[::2]] == ["1", "2", "3", "4"]
    assert captured.err.endswith("error: line 5 of standard input is not UTF-8 text\n")
    # From a terminal, each line is answered as it comes.
    class Terminal(io.TextIOWrapper):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdin", Terminal(io.BytesIO(b"great film\n\xff\n")))
    with pytest.raises(SystemExit):
        predict_main(["--model", str(trained[0])])
    assert [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()[::2]] == ["1"]
    # Texts are numbered through the whole input (blank lines skipped).
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"great film\nawful plot\n\ndull\nzzzq\n")))
    fails(predict_main, ["--model", trained[0]], capsys, "text 4 has no word the model knows")


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


def fails(main, args, capsys, message):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    # One line: argparse's own errors (bad arguments) print the usage before it.
    assert [line for line in err.splitlines() if "error" in line] == [err.splitlines()[-1]]
    assert ": error: " in err.splitlines()[-1] and message in err.splitlines()[-1]
    return err


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


@pytest.mark.parametrize(
    "args, message",
    [
        (["--index", "48"], "valid indices are 0 to 47"),
        (["--index", "0", "-1"], "valid indices are 0 to 47"),
        (["--text", ""], "text 1 is empty"),
        (["--text", "great", "--text", "  "], "text 2 is empty"),
        (["--text", "zzzq qqqz !?"], "has no word the model knows"),
        (["--data", "/nonexistent/aclImdb"], "does not exist"),
        (["--index", "0", "--text", "great"], "not allowed with argument"),
        (["--output", "/nonexistent/folder/v.html"], "cannot write --output"),
    ],
)
def test_clear_errors(args, message, trained, capsys):
    fails(visualize_main, ["--model", trained[0], *args], capsys, message)


def test_predict_errors(trained, capsys, monkeypatch):
    fails(predict_main, ["--model", trained[0], "great", ""], capsys, "text 2 is empty")
    fails(predict_main, ["--model", trained[0], "zzzq"], capsys, "has no word the model knows")
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n  \n"))
    fails(predict_main, ["--model", trained[0]], capsys, "no text given")


def test_predict_refuses_text_that_is_not_utf8(trained, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"great film\n\xff\xfe awful\n")))
    fails(predict_main, ["--model", trained[0]], capsys, "line 2 of standard input is not UTF-8 text")
    # How Python passes an argument that is not UTF-8 (surrogate escapes).
    fails(predict_main, ["--model", trained[0], "great", b"awful \xff".decode("utf-8", "surrogateescape")], capsys,
          "text 2 is not valid UTF-8")


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


def test_help_lists_the_options():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "visualize_attention.py"), "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for option in ("--model", "--index", "--text", "--data", "--format", "--output", "--top-k"):
        assert option in result.stdout

"""The attention views: scripts/visualize_attention.py and attention.visualize.

`trained` and `loaded` (conftest.py) are one tiny training run, shared with test_predict.py and
test_trained.py.
"""

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import keras
import numpy as np
import pytest

from attention import imdb, pipeline
from attention.model import inspection_model
from attention.pipeline import default_width_step
from attention.trained import encode_texts
from attention.visualize import Attention, attend, attention_scorer, render_html, render_text, top_words
from script_runs import fails, load_script

ROOT = Path(__file__).resolve().parents[1]
TEXT = 'A <b>great</b> film & "wonderful" music, not dull.'


visualize_main = load_script("visualize_attention").main


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
    np.testing.assert_array_equal(encode_texts(model, vocabulary, iter([TEXT, "dull"])), ids)  # any iterable
    with pytest.raises(TypeError, match="pass \\[text\\]"):
        encode_texts(model, vocabulary, TEXT)  # not read as texts of one letter each
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


def test_attend_reads_pre_padded_ids_and_zeros_inside_rows_as_the_model_does(loaded):
    # Batches were cut to each row's count of word ids from the left: pre-padded rows lost their words.
    model, vocabulary = loaded
    post = encode_texts(model, vocabulary, ["great film " * 3, "awful boring plot", "a film"])[:, :12]
    pre = keras.utils.pad_sequences([row[row != 0] for row in post], maxlen=12)  # Keras's default: padding="pre"
    gapped = post.copy()
    gapped[0, 2] = 0  # masked as padding is, the words after it kept
    logits = inspection_model(model).predict(np.concatenate([post, pre, gapped]), verbose=0)[0][:, 0]
    items = attend(model, vocabulary, np.concatenate([post, pre, gapped]))
    for item, row, logit in zip(items, np.concatenate([post, pre, gapped]), logits):
        assert item.words == vocabulary.decode(row[row != 0][1:])
        np.testing.assert_allclose(item.probability, 1 / (1 + np.exp(-logit)), rtol=1e-5)
    for post_item, pre_item in zip(items[:3], items[3:6]):
        np.testing.assert_allclose(pre_item.weights, post_item.weights, rtol=1e-5, atol=1e-7)


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
    visualize_main(["--model", str(trained[0].parent)])  # the run folder: the same page
    assert check_page((tmp_path / "visualization.html").read_text(encoding="utf-8")).title == page.title


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

@pytest.mark.parametrize(
    "args, message",
    [
        (["--index", "48"], "valid indices are 0 to 47"),
        (["--text", ""], "text 1 is empty"),
        (["--text", "great", "--text", "  "], "text 2 is empty"),
        (["--text", "zzzq qqqz !?"], "has no word the model knows"),
        (["--data", "/nonexistent/aclImdb"], "does not exist"),
        (["--index", "0", "--text", "great"], "not allowed with argument"),
        (["--output", "{tmp}/file/v.html"], "--output: cannot write to"),
        (["--output", "{tmp}"], "is a folder: name a file"),
        (["--text", "great", "--data", "{tmp}"], "which --text replaces"),
        (["--text", "great", "--cache-dir", "{tmp}"], "which --text replaces"),
        (["--format", "text", "--output", "{tmp}/v.html"], "--output and --title are the HTML page's"),
        (["--format", "text", "--title", "Mine"], "--output and --title are the HTML page's"),
        (["--top-k", "3"], "--top-k is --format text's list"),  # the HTML page has no list to cut
    ],
)
def test_clear_errors(args, message, trained, capsys, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    fails(visualize_main, ["--model", trained[0], *[a.format(tmp=tmp_path) for a in args]], capsys, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing written


@pytest.mark.parametrize("args", [["--text", "great", "--data", "x"], ["--format", "text", "--title", "Mine"],
                                  ["--output", "{tmp}"]])
def test_options_that_cannot_be_used_are_refused_before_the_model_loads(args, capsys, tmp_path):
    err = fails(visualize_main, ["--model", tmp_path / "absent.keras", *[a.format(tmp=tmp_path) for a in args]],
                capsys, "error: ")
    assert "absent.keras" not in err  # the missing model would be the error had it been loaded first


@pytest.mark.parametrize("index, message", [("-1", "expected an integer of 0 or more, got -1"),
                                             ("x", "expected an integer, got 'x'")])
def test_bad_index_is_refused_before_loading_anything(index, message, capsys):
    # The model does not exist: the index is refused before the model, or any data, is read.
    fails(visualize_main, ["--model", "/nonexistent/model.keras", "--index", "0", index], capsys, message)


def test_help_lists_the_options():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "visualize_attention.py"), "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for option in ("--model", "--index", "--text", "--data", "--format", "--output", "--top-k"):
        assert option in result.stdout

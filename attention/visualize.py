"""What a trained model attends to: each word's attention weight, as HTML or text.

A port of the original project's ``visualize.py``, which restored the trained
model and wrote ``visualization.html`` with each word of the first test review
highlighted by its attention weight. Here the model is any ``.keras`` file
saved by ``scripts/train_imdb.py`` (with its vocabulary beside it), and the
reviews are test reviews or any text, encoded exactly as the training data was.

Models are loaded and texts encoded by :mod:`attention.trained`:

>>> model, vocabulary = load_trained("logdir/RUN/model.keras")  # doctest: +SKIP
>>> items = attend(model, vocabulary, encode_texts(model, vocabulary, ["A great film."]))  # doctest: +SKIP
>>> print(render_text(items, top_k=3))  # doctest: +SKIP
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Sequence
from typing import NamedTuple

import keras
import numpy as np
from tqdm.auto import tqdm

from attention import defaults
from attention.model import class_probabilities, inspection_model
from attention.pipeline import trimmed_batches
from attention.trained import ModelFileError
from attention.vocabulary import BINARY_CLASSES, Vocabulary

__all__ = [
    "Attention",
    "attention_image",
    "attend",
    "render_html",
    "render_text",
    "top_words",
    "top_words_json",
]

class Attention(NamedTuple):
    """What the model made of one text.

    Attributes:
        words: The text's words as the model saw them (no padding, no start token).
        weights: The attention weight of each word, as the model computed them:
            they sum to 1 with the start token's weight, which is not shown.
        probabilities: Each class's predicted probability, in label order.
        classes: The class names, in label order.
    """

    words: list[str]
    weights: np.ndarray
    probabilities: np.ndarray
    classes: tuple[str, ...] = BINARY_CLASSES

    @property
    def predicted(self) -> str:
        """The class of highest probability."""
        return self.classes[int(np.argmax(self.probabilities))]

    @property
    def probability(self) -> float:
        """Two classes: the second's probability (IMDB's P(positive)); more: the predicted class's."""
        if len(self.classes) == 2:
            return float(self.probabilities[1])
        return float(np.max(self.probabilities))


def attention_scorer(model: keras.Model) -> keras.Model:
    """`model`'s twin that maps word ids to `(logits, alphas)`, with its current weights.

    Not the RNN outputs: kept for every text they would take (time x 2 x hidden)
    floats each, 6 GB for 20,000 texts with the default model.
    """
    inspector = inspection_model(model)
    return keras.Model(inspector.input, [inspector.outputs[0], inspector.outputs[2]])


def attend(
    model: keras.Model, vocabulary: Vocabulary, ids: np.ndarray, batch_size: int = defaults.BATCH_SIZE,
    progress: bool = False, scorer: keras.Model | None = None,
) -> list[Attention]:
    """Runs the model on padded word ids and returns each review's words and weights.

    Padding (id 0) and the start token are left out: the start token gets a
    weight but is not a word. The weights of the words are kept as computed.
    Texts are batched by length with the padding trimmed (the masked model
    gives the same numbers), so short texts cost little. Batches are of the
    training's size: on a 2-core CPU, 2,048 test reviews ran 1.2x to 1.3x as
    fast as in batches of 64 on each backend (README.md). With `progress`,
    more than one batch of texts shows a tqdm bar (on stderr) while they run.
    `scorer`: `attention_scorer(model)`, built once by a caller that attends to
    texts a few at a time (a new one per call is a new graph to trace on
    TensorFlow); by default one is built for this call.
    """
    ids = np.asarray(ids, dtype="int32")
    scorer = attention_scorer(model) if scorer is None else scorer
    classes = tuple(vocabulary.class_names)
    items: list[Attention | None] = [None] * len(ids)
    with tqdm(total=len(ids), unit="text", leave=False, disable=not progress or len(ids) <= batch_size) as bar:
        for rows, word_ids in trimmed_batches(ids, batch_size) if len(ids) else ():
            # On JAX with a GPU the last batch comes filled up to the batch size (one program to
            # compile, not one per chunk's remainder); its copies come last.
            logits, alphas = (np.asarray(t)[: len(rows)] for t in scorer.predict_on_batch(word_ids))
            word_ids = word_ids[: len(rows)]
            probabilities = class_probabilities(logits)
            if probabilities.shape[1] != len(classes):
                raise ModelFileError(
                    f"the model has {probabilities.shape[1]} classes, its vocabulary file names {len(classes)}"
                )
            for i, row, p, weights in zip(rows, word_ids, probabilities, alphas):
                shown = (row != 0) & (row != vocabulary.start_char)
                items[i] = Attention(vocabulary.decode(row[shown]), weights[shown].astype("float64"), p, classes)
            bar.update(len(rows))
    return items


def top_words(item: Attention, k: int) -> list[tuple[int, str, float]]:
    """The ``k`` most attended words as ``(position, word, weight)``, strongest first.

    Ties keep the text's order; a word that occurs twice is listed twice.
    """
    order = sorted(range(len(item.words)), key=lambda i: (-item.weights[i], i))[: max(k, 0)]
    return [(i, item.words[i], float(item.weights[i])) for i in order]


def top_words_json(item: Attention, k: int) -> list[dict]:
    """`top_words` for JSON: a `{"word", "weight", "position"}` object each, strongest first."""
    return [{"word": word, "weight": weight, "position": i} for i, word, weight in top_words(item, k)]


# The original's highlight, `rgba(255, 255, 0, alpha)`: the one colouring of attention
# weights, for the HTML page and for TensorBoard's images alike.
HIGHLIGHT = (255, 255, 0)
PADDING_GREY = 160


def _strengths(weights: np.ndarray) -> np.ndarray:
    """Weights divided by the largest shown, so each review's top word is full yellow."""
    weights = np.asarray(weights, dtype="float64")
    peak = float(np.max(weights)) if len(weights) else 0.0
    return weights / peak if peak > 0 else np.zeros_like(weights)


def attention_image(alphas: np.ndarray, lengths: np.ndarray, row_height: int = 8, cell_width: int = 4) -> np.ndarray:
    """Draws attention weights as an RGB image, one band per review.

    Each word is a cell coloured as the HTML page colours it: the highlight
    with an opacity of its weight divided by the row's largest, on white;
    the padding past a review's end is grey.

    Returns:
        A uint8 array `(reviews * row_height, time * cell_width, 3)`.
    """
    alphas = np.asarray(alphas, dtype="float32")
    image = np.full(alphas.shape + (3,), float(PADDING_GREY), dtype="float32")
    for row, (weights, length) in enumerate(zip(alphas, np.asarray(lengths))):
        strength = _strengths(weights[:length])[:, None]
        image[row, :length] = 255.0 * (1.0 - strength) + np.asarray(HIGHLIGHT, dtype="float32") * strength
    image = np.repeat(np.repeat(image, row_height, axis=0), cell_width, axis=1)
    image[row_height - 1 :: row_height] = 255.0  # a white line between reviews
    return np.round(image).astype("uint8")


def _verdict(item: Attention, label: int | None) -> str:
    # Two classes: the second above 0.5, as the training accuracy counts a logit above 0.
    if len(item.classes) == 2:
        text = f"P({item.classes[1]}) = {item.probability:.3f}: predicted {item.predicted}"
    else:
        shares = ", ".join(f"{name} {p:.3f}" for name, p in zip(item.classes, item.probabilities))
        text = f"predicted {item.predicted} (P = {item.probability:.3f}; {shares})"
    if label is not None:
        truth = item.classes[int(label)]
        text += f"; true label: {truth} ({'right' if truth == item.predicted else 'wrong'})"
    return text


def _headings(items: Sequence[Attention], captions: Sequence[str] | None, labels: Sequence[int] | None) -> list[tuple[str, int | None]]:
    captions = list(captions) if captions is not None else [f"Text {n}" for n in range(1, len(items) + 1)]
    labels = list(labels) if labels is not None else [None] * len(items)
    if not len(captions) == len(labels) == len(items):
        raise ValueError(f"got {len(items)} items, {len(captions)} captions and {len(labels)} labels")
    return list(zip(captions, labels))


_CSS = """
body { max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; color: #1f2328; background: #fff;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
.legend, .verdict { color: #57606a; font-size: .9rem; margin: 0; }
section { border-top: 1px solid #d0d7de; margin-top: 1rem; padding-top: .6rem; }
h2 { font-size: 1.05rem; margin: 0; }
.right { color: #1a7f37; } .wrong { color: #cf222e; }
.words { font-family: Georgia, "DejaVu Serif", serif; font-size: 1rem; line-height: 1.85; margin: .4rem 0 0; }
.words span { padding: .15em .05em; border-radius: 3px; }
""".strip()


def render_html(
    items: Sequence[Attention],
    title: str = "Attention weights",
    captions: Sequence[str] | None = None,
    labels: Sequence[int] | None = None,
) -> str:
    """A standalone HTML5 page with each word highlighted by its attention weight.

    As the original, a word's background is ``rgba(255, 255, 0, alpha)`` with
    ``alpha`` its weight divided by the review's largest; the weight itself is
    the word's tooltip. Every text is escaped, and the markup is also
    well-formed XML, so that any parser can read it.

    Args:
        items: From :func:`attend`.
        title: The page's title and heading.
        captions: One heading per item (default ``Text 1``, ``Text 2``...).
        labels: The true label of each item (its class's index), if known.
    """
    esc = html.escape
    red, green, blue = HIGHLIGHT
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8"/>',
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
        f"<title>{esc(title)}</title>",
        f"<style>\n{_CSS}\n</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(title)}</h1>",
        '<p class="legend">Each word is highlighted by its attention weight divided by the largest in its text; '
        "hover over a word to see its weight.</p>",
    ]
    for item, (caption, label) in zip(items, _headings(items, captions, labels)):
        verdict = _verdict(item, label)
        if label is not None:
            mark = "right" if verdict.endswith("(right)") else "wrong"
            verdict = f'<span class="{mark}">{esc(verdict)}</span>'
        else:
            verdict = esc(verdict)
        spans = [
            f'<span style="background: rgba({red}, {green}, {blue}, {alpha:.3f})" title="{weight:.4f}">{esc(word)}</span>'
            for word, weight, alpha in zip(item.words, item.weights, _strengths(item.weights))
        ]
        parts += [
            "<section>",
            f"<h2>{esc(caption)}</h2>",
            f'<p class="verdict">{verdict}</p>',
            '<p class="words">' + "\n".join(spans) + "</p>",
            "</section>",
        ]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def render_text(
    items: Sequence[Attention],
    top_k: int = 10,
    captions: Sequence[str] | None = None,
    labels: Sequence[int] | None = None,
    width: int = 100,
) -> str:
    """The same as :func:`render_html` for a terminal: each word with its weight, then the top ``k``.

    Args:
        items, captions, labels: As for :func:`render_html`.
        top_k: How many of the most attended words to list.
        width: Line width of the word list.
    """
    blocks = []
    for item, (caption, label) in zip(items, _headings(items, captions, labels)):
        words = " ".join(f"{word}({weight:.4f})" for word, weight in zip(item.words, item.weights))
        lines = [f"{caption}: {_verdict(item, label)}"]
        lines += textwrap.wrap(words, width=width, initial_indent="  ", subsequent_indent="  ",
                               break_long_words=False, break_on_hyphens=False)
        lines.append(f"  top {min(top_k, len(item.words))} words:")
        lines += [f"  {rank:>4}. {weight:.4f}  {word}" for rank, (_, word, weight) in enumerate(top_words(item, top_k), 1)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)

"""A trained model and what it reads: the model with its vocabulary, its run's record, its inputs.

What ``train_imdb.py`` and ``train_text.py`` leave in a run folder is loaded here, for the
views (:mod:`attention.visualize`), ``attention.predict`` and the export
(:mod:`attention.serving`); texts and validation texts are encoded exactly as training
encoded them.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import keras
import numpy as np

from attention import imdb
from attention.data.errors import DatasetError, MissingColumn
from attention.data.labelled import load_labelled
from attention.model import attention_layers, inspection_model
from attention.preprocessing import fit_in_vocabulary, zero_pad
from attention.vocabulary import Vocabulary, vocabulary_path

__all__ = [
    "MODEL_FILE", "RUN_FILE", "ModelFileError", "TextError", "embedding_layer", "embedding_rows",
    "encode_texts", "load_test_reviews", "load_trained", "run_config", "shorten",
]

MODEL_FILE = "model.keras"  # what the training scripts save in a run's folder
RUN_FILE = "run.json"  # the training arguments they record there
_SCRIPTS = "train_imdb.py or train_text.py"


class TextError(ValueError):
    """A text that cannot be encoded (`encode_texts`); `index` is its place in the texts given."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


class ModelFileError(ValueError):
    """The model or its vocabulary cannot be used; the message says why, in one line."""


def load_trained(model_path: str | os.PathLike) -> tuple[keras.Model, Vocabulary]:
    """Loads a model saved by ``train_imdb.py`` or ``train_text.py`` and the vocabulary saved beside it.

    Args:
        model_path: The ``.keras`` file, or a run folder holding ``model.keras``.

    Raises:
        ModelFileError: The file is missing, is not a ``.keras`` model of this
            project (one with an ``AttentionLayer``), or has no vocabulary beside it
            (or one of another number of classes).
    """
    path = Path(model_path).expanduser()
    if path.is_dir() and (path / MODEL_FILE).is_file():
        path = path / MODEL_FILE
    if not path.exists():
        raise ModelFileError(f"model file not found: {str(path)!r}")
    if path.is_dir():
        raise ModelFileError(f"{str(path)!r} is a folder without {MODEL_FILE}; expected a .keras file saved by {_SCRIPTS}")
    # Keras's own errors for these files say nothing of what was expected.
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise ModelFileError(f"{str(path)!r} is not a .keras model file (a zip archive saved by {_SCRIPTS})")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a foreign or broken archive.
        detail = " ".join(str(error).split())[:200] or type(error).__name__
        raise ModelFileError(f"cannot load the model {str(path)!r}: {detail}") from error
    if not all(np.isfinite(w).all() for w in model.get_weights()):
        raise ModelFileError(f"{str(path)!r} has NaN or infinite weights (its training diverged); it cannot predict")
    if next(attention_layers(model), None) is None:
        raise ModelFileError(f"{str(path)!r} is a Keras model without an AttentionLayer, not one trained by {_SCRIPTS}")
    try:
        embedding_rows(model)
        inspection_model(model)  # fails now, with a clear message, rather than mid-run
    except (ValueError, TypeError) as error:
        raise ModelFileError(f"{str(path)!r} is not a model trained by {_SCRIPTS}: {error}") from error
    vocab_file = vocabulary_path(path)
    if not vocab_file.is_file():
        raise ModelFileError(
            f"vocabulary file not found: {str(vocab_file)!r} ({_SCRIPTS} save it beside the model; "
            "without it the word ids cannot be read)"
        )
    try:
        vocabulary = Vocabulary.load(vocab_file)
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise ModelFileError(f"cannot read the vocabulary {str(vocab_file)!r}: {error}") from error
    outputs = int(model.output_shape[-1])  # one logit for two classes
    if len(vocabulary.class_names) != max(outputs, 2):
        raise ModelFileError(
            f"{str(vocab_file)!r} names {len(vocabulary.class_names)} classes, but the model has {outputs} output(s): "
            f"they are not from the same run"
        )
    return model, vocabulary


def model_file(model_path: str | os.PathLike) -> Path:
    """The ``.keras`` file a ``--model`` names: itself, or a run folder's ``model.keras``."""
    path = Path(model_path).expanduser()
    return path / MODEL_FILE if path.is_dir() else path


def run_config(model_path: str | os.PathLike) -> dict:
    """The arguments the training script recorded in ``run.json`` beside the model, or ``{}``.

    Only a model saved in its run's folder has one; a model saved elsewhere
    with ``--model-path`` has none.
    """
    path = model_file(model_path)
    try:
        record = json.loads((path.parent / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    config = record.get("config") if isinstance(record, dict) else None
    if not isinstance(config, dict):
        return {}
    # A run started with --model-path saved its model elsewhere: this record is not this model's.
    saved_to = config.get("model_path")
    if saved_to and Path(saved_to).expanduser().resolve() != path.resolve():
        return {}
    return config


def embedding_layer(model: keras.Model) -> keras.layers.Embedding:
    """The model's word embedding."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Embedding):
            return layer
    raise ModelFileError(f"model {model.name!r} has no Embedding layer")


def embedding_rows(model: keras.Model) -> int:
    """The number of word ids the model's embedding has rows for."""
    return int(embedding_layer(model).input_dim)


def encode_texts(model: keras.Model, vocabulary: Vocabulary, texts: Iterable[str], first: int = 1,
                 where: Callable[[int], str] | None = None) -> np.ndarray:
    """Encodes texts as ``train_imdb.py`` encodes the test reviews.

    That is ``Vocabulary.encode`` (the raw reviews' tokeniser and word ranks)
    with the original's ``fit_in_vocabulary`` before ``zero_pad``: a model
    trained on part of the data (``--max-samples``) has no embedding for ids
    it never saw, and the test reviews lose those words too.

    Args:
        first: The number errors give the first text (texts that continue a
            longer input).
        where: Where text `i` of `texts` came from, which errors add to its
            number (a file's line, say).

    Raises:
        TypeError: `texts` is one string, not a sequence of them.
        ValueError: The vocabulary has no word index.
        TextError: A text is empty, is not Unicode (a lone surrogate) or has
            none of the model's words (a `ValueError`; its `index` says which).
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"expected a list of texts, got one {type(texts).__name__}: pass [text]")
    texts = list(texts)  # read twice below: an iterator would be spent by the first reading
    if vocabulary.word_index is None:
        raise ValueError("the model's vocabulary has no word index (the data had none), so text cannot be encoded")

    def name(i: int) -> str:
        return f"text {first + i}" + (f" ({where(i)})" if where else "")

    # The error is the first text's that fails, whichever check it fails: a caller answers the texts before it.
    unreadable = None  # the first text that cannot be encoded at all, and why
    for i, text in enumerate(texts):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            unreadable = TextError(f"{name(i)} is not valid UTF-8 text", i)
            break
        if not text.strip():
            unreadable = TextError(f"{name(i)} is empty", i)
            break
    readable = texts if unreadable is None else texts[: unreadable.index]
    sequences = vocabulary.sequences(readable, embedding_rows(model))
    ids = zero_pad(sequences, vocabulary.sequence_length)
    unknown = (0, vocabulary.start_char, vocabulary.oov_char)
    for i, (text, row) in enumerate(zip(readable, ids)):
        # Unknown words are kept as <oov>, but a text of nothing else says nothing.
        if not np.isin(row, unknown, invert=True).any():
            beyond = np.isin(sequences[i], unknown, invert=True).any()  # past zero_pad's cut
            read = f" in the first {vocabulary.sequence_length - 2} words, all that it reads" if beyond else ""
            raise TextError(f"{name(i)} has no word the model knows{read}: {shorten(text)!r}", i)
    if unreadable is not None:
        raise unreadable
    return ids


def load_test_reviews(
    model: keras.Model,
    vocabulary: Vocabulary,
    indices: Sequence[int] | None = None,
    data: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    config: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Validation texts prepared exactly as the training script prepared them.

    Args:
        indices: Positions in the validation (IMDB: test) set, in its encoded order
            (default: every text, in that order).
        data, cache_dir: As given to the training script.
        config: The run's recorded arguments (``run_config``): a model of
            ``train_text.py`` reads its validation texts as that run did.

    Returns:
        ``(ids, labels)``: the padded word ids and the true labels (class indices).

    Raises:
        DatasetError: The data cannot be found or read, or (``train_text.py``)
            its training texts are no longer the model's: they give another
            vocabulary or other classes, so their ids would mean other words.
        IndexError: An index is outside the set; the message gives the range.
    """
    config = config or {}
    if config.get("script") == "train_text":
        columns = config.get("text_column", "text"), config.get("label_column", "label")
        try:
            loaded = load_labelled(
                data, validation_data=config.get("validation_data"), validation_split=config.get("validation_split"),
                split_seed=config.get("split_seed", 113), text_column=columns[0], label_column=columns[1],
                classes=config.get("classes"), num_words=config.get("num_words", vocabulary.num_words),
                index_from=vocabulary.index_from, cache_dir=cache_dir, verbose=False,
            )
        except MissingColumn as error:
            # The columns are the run's, not an option of this command: the data is not the run's.
            raise DatasetError(f"{error.problem}; the model's run read its texts from {columns[0]!r} and its labels "
                               f"from {columns[1]!r}: give --data the data it was trained on") from None
        # The words the model's vocabulary would keep of these texts' ranks.
        words = Vocabulary(loaded.word_index, vocabulary.num_words, vocabulary.index_from).word_index
        if words != vocabulary.word_index or loaded.classes != vocabulary.class_names:
            raise DatasetError(
                f"{data} has changed since the model was trained: its training texts give another vocabulary "
                f"or other classes than the model's, so its validation texts cannot be read as the training read them"
            )
        x_test, y_test = loaded.x_validation, loaded.y_validation
    else:
        _, (x_test, y_test) = imdb.load_data(
            data, num_words=vocabulary.num_words, index_from=vocabulary.index_from, cache_dir=cache_dir
        )
    if config.get("max_samples"):  # the training validated on the first ones only
        x_test, y_test = x_test[: config["max_samples"]], y_test[: config["max_samples"]]
    indices = range(len(x_test)) if indices is None else indices
    outside = [i for i in indices if not 0 <= i < len(x_test)]
    if outside:
        raise IndexError(
            f"text {outside[0]} does not exist: the validation set has {len(x_test)} texts, "
            f"valid indices are 0 to {len(x_test) - 1}"
        )
    # fit_in_vocabulary works text by text, so the chosen ones are enough.
    chosen = fit_in_vocabulary([x_test[i] for i in indices], embedding_rows(model))
    return zero_pad(chosen, vocabulary.sequence_length), np.asarray(y_test)[list(indices)]


def shorten(text: str, width: int = 60) -> str:
    """A text on one line, cut to ``width`` characters with ``...``: at a space when one is near
    the end, else inside a word (``textwrap.shorten`` drops a word longer than the width whole,
    and so a text without spaces, Chinese or Japanese, became ``...``)."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    cut = text[: max(width - 3, 1)]
    space = cut.rfind(" ")
    return (cut[:space] if space >= width // 2 else cut).rstrip() + "..."

"""Exports a trained model as a TensorFlow SavedModel that reads raw text, for TF Serving.

The SavedModel holds the model and its vocabulary; its default signature takes
``texts`` (a 1-D ``tf.string`` tensor of UTF-8 texts) and returns for each text
``probabilities`` (float32, one per class), ``predicted_class`` (the class name),
``attention`` (the weight of each position, float32), ``tokens`` (the word each
position holds as the model saw it: ``<start>``, a word, ``<oov>``, ``""`` for
padding) and ``ids`` (the word ids). Its ``classes`` signature returns the class
names. The text is tokenised and encoded inside the graph exactly as
``Vocabulary.encode`` does it (bytes that are not UTF-8 as Python's
``decode("utf-8", "replace")`` reads them), so the export needs only TensorFlow: no
Keras, no ``attention``. A model trained on any backend exports here (on TensorFlow):

    KERAS_BACKEND=tensorflow python -m attention.serving logdir/RUN   # writes logdir/RUN/model_serving/1
    KERAS_BACKEND=tensorflow python -m attention.serving logdir/RUN/model.keras --output /srv/imdb/1
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras

from attention.arguments import clean_exit, nonempty_path
from attention.atomic import atomic_folder
from attention.model import inspection_model
from attention.trained import MODEL_FILE, ModelFileError, embedding_rows, load_trained
from attention.vocabulary import Vocabulary

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["TOKEN_RULES", "export_text_model", "main", "serving_dir", "tokenize_tensor"]

VERSION = "1"  # TF Serving loads the highest numbered sub-folder of a model's base path.
BACKEND_ERROR = "export needs the TensorFlow backend: KERAS_BACKEND=tensorflow python -m attention.serving MODEL"

# The TensorFlow tokeniser the raw reviews were first read with, and the reference that the
# pure-Python `attention.data.tokenizer` is proven equal to (tests/test_tokenizer.py).
# Applied in order with tf.strings.regex_replace (RE2 syntax) after ICU's lower-casing, then
# tf.strings.split. A word is a run of letters, digits and combining marks, with apostrophes
# kept only between two such characters; every other non-space character becomes a token of
# its own.
_WORD = r"[\pL\pN\pM]"
TOKEN_RULES = (
    (r"<br\s*/?>", " "),  # IMDB reviews use <br /> for line breaks
    ("[\u2018\u2019]", "'"),  # typographic apostrophes count as the ASCII one
    (r"\p{Cf}", ""),  # invisible format characters (soft hyphen, zero-width joiner)
    # Control characters and non-ASCII spaces; tf.strings.split only knows ASCII spaces.
    (r"[\x00-\x1f\x7f-\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]", " "),
    (r"[^\pL\pN\pM\s']", r" \0 "),
    ("'", " ' "),
    # RE2 has no look-around: apostrophes are split off, then joined back between word
    # characters; a second pass joins those the first skipped ("a'b'c").
    (rf"({_WORD}) ' ({_WORD})", r"\1'\2"),
    (rf"({_WORD}) ' ({_WORD})", r"\1'\2"),
)


# ICU lower-cases by the locale of the process (LC_ALL, LC_MESSAGES or LANG): under a Turkish or
# Azeri one 'I' becomes dotless 'ı', under a Lithuanian one I, J and Į before accents and Ì, Í, Ĩ
# gain a dot. These are the only letters its locales lower-case otherwise: mapped first to what the
# root locale (and Python) makes of them, they leave ICU nothing that depends on the locale, so a
# SavedModel reads text the same under any locale TF Serving runs in.
_LOCALE_FREE_LOWER = (("I", "i"), ("J", "j"), ("\u0130", "i\u0307"), ("\u012e", "\u012f"), ("\u00cc", "\u00ec"),
                      ("\u00cd", "\u00ed"), ("\u0128", "\u0129"))


def tokenize_tensor(texts: tf.Tensor) -> tf.RaggedTensor:
    """The tokens of each text of a ``tf.string`` tensor, by :data:`TOKEN_RULES` (graph ops only).

    Bytes that are not UTF-8 come out as ``bytes.decode("utf-8", "replace")`` reads them
    (``tf.strings.lower`` puts U+FFFD in their place). The tokens do not depend on the
    process's locale.
    """
    import tensorflow as tf

    # tf.strings.lower ends a string at its first NUL byte: NULs become spaces first.
    t = tf.strings.regex_replace(texts, r"\x00", " ")
    for capital, lower in _LOCALE_FREE_LOWER:
        t = tf.strings.regex_replace(t, capital, lower)
    t = tf.strings.lower(t, encoding="utf-8")
    for pattern, rewrite in TOKEN_RULES:
        t = tf.strings.regex_replace(t, pattern, rewrite)
    return tf.strings.split(t)


def serving_dir(model_path: str | os.PathLike) -> Path:
    """Where the export of a model lies: ``NAME_serving/1`` beside ``NAME.keras``.

    ``model_path`` may also be a run folder (its ``model.keras``). The versioned folder
    is what TF Serving expects under ``--model_base_path=.../NAME_serving``.
    """
    path = Path(model_path)
    if path.is_dir():
        path = path / MODEL_FILE
    return path.with_name(f"{path.stem}_serving") / VERSION


def _require_tensorflow() -> None:
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(BACKEND_ERROR)


def export_text_model(model: keras.Model, vocabulary: Vocabulary, directory: str | os.PathLike) -> Path:
    """Writes ``model`` and ``vocabulary`` as a SavedModel that reads raw text; returns the folder.

    The folder is written whole beside its destination and renamed into place, so it is
    either the complete new export or (if writing fails) left as it was. An existing
    destination is replaced only if it is an earlier SavedModel or an empty folder.

    Raises:
        RuntimeError: Keras runs on another backend than TensorFlow.
        ValueError: The vocabulary cannot encode text, or its classes do not fit the model.
        FileExistsError: ``directory`` exists and is not a SavedModel folder.
    """
    _require_tensorflow()
    import tensorflow as tf

    if vocabulary.word_index is None:
        raise ValueError("the model's vocabulary has no word index, so text cannot be encoded")
    classes = vocabulary.class_names
    outputs = int(model.output_shape[-1])
    if len(classes) != max(outputs, 2):
        raise ValueError(f"the vocabulary names {len(classes)} classes but the model has {outputs} output(s)")
    rows, length = embedding_rows(model), vocabulary.sequence_length
    inspector = inspection_model(model)  # its twin attention layer returns the alphas

    # texts_to_sequences' rules, settled per word beforehand: ids outside [0, num_words)
    # become oov_char (skip_top is 0 in Vocabulary.encode), as do unknown words and,
    # by the same test, start_char.
    inside = lambda i: i if 0 <= i < vocabulary.num_words else vocabulary.oov_char  # noqa: E731
    word_ids = {w: inside(rank + vocabulary.index_from) for w, rank in vocabulary.word_index.items()}
    start_id = inside(vocabulary.start_char)
    # The words of the ids the model can see (0 shows as "", not "<pad>").
    seen = {i for i in [*word_ids.values(), start_id, vocabulary.oov_char] if i < rows}
    words_by_id = {i: vocabulary.word(i) for i in seen}
    words_by_id[0] = ""

    def table(keys: list, values: list, key_dtype: Any, value_dtype: Any, default: Any) -> tf.lookup.StaticHashTable:
        init = tf.lookup.KeyValueTensorInitializer(
            tf.constant(keys, key_dtype), tf.constant(values, value_dtype), key_dtype, value_dtype
        )
        return tf.lookup.StaticHashTable(init, default)

    module = tf.Module()
    module.word_ids = table(list(word_ids), list(word_ids.values()), tf.string, tf.int64, vocabulary.oov_char)
    module.words = table(list(words_by_id), list(words_by_id.values()), tf.int64, tf.string, "")
    class_names = tf.constant(classes, tf.string)

    def encode(texts: tf.Tensor) -> tf.Tensor:
        """Vocabulary.encode(texts, rows) in graph ops."""
        ids = tf.ragged.map_flat_values(module.word_ids.lookup, tokenize_tensor(texts))
        start = tf.fill([tf.shape(texts)[0], 1], tf.constant(start_id, tf.int64))
        ids = tf.concat([tf.RaggedTensor.from_tensor(start), ids], axis=1)
        ids = tf.ragged.boolean_mask(ids, ids < rows)  # fit_in_vocabulary
        return tf.cast(ids[:, : length - 1].to_tensor(0, shape=[None, length]), tf.int32)  # zero_pad

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")], autograph=False)
    def serve(texts: tf.Tensor) -> dict[str, tf.Tensor]:
        ids = encode(texts)
        logits, _, alphas = inspector(ids, training=False)
        logits = tf.cast(logits, tf.float32)
        if outputs == 1:  # one logit: [1 - p, p]; the class by the logit's sign, as predict.py
            positive = tf.sigmoid(logits[:, 0])
            probabilities = tf.stack([1.0 - positive, positive], axis=1)
            label = tf.cast(logits[:, 0] > 0, tf.int32)
        else:
            probabilities = tf.nn.softmax(logits, axis=-1)
            label = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return {
            "probabilities": probabilities,
            "predicted_class": tf.gather(class_names, label),
            "attention": tf.cast(alphas, tf.float32),
            "tokens": module.words.lookup(tf.cast(ids, tf.int64)),
            "ids": ids,
        }

    @tf.function(input_signature=[], autograph=False)
    def class_list() -> dict[str, tf.Tensor]:
        return {"classes": class_names}

    module.serve, module.classes = serve, class_list
    signatures = {"serving_default": serve.get_concrete_function(), "classes": class_list.get_concrete_function()}
    # The TensorFlow variables the graph reads, tracked as themselves: through Keras's
    # variable wrappers tf.saved_model.load finds them, but TF Serving's loader (a TF1
    # session that restores variables by name) does not.
    module.weights = list(signatures["serving_default"].variables)
    directory = Path(directory)
    _check_replaceable(directory)
    with atomic_folder(directory) as tmp:
        tf.saved_model.save(module, str(tmp), signatures=signatures)
    return directory


def _check_replaceable(directory: Path) -> None:
    if directory.exists() and not (
        (directory / "saved_model.pb").is_file() or (directory.is_dir() and not any(directory.iterdir()))
    ):
        raise FileExistsError(f"{str(directory)!r} exists and is not a SavedModel folder; not replacing it")


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m attention.serving``."""
    parser = argparse.ArgumentParser(
        prog="python -m attention.serving", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", metavar="MODEL", type=nonempty_path, help="a .keras file saved by train_imdb.py, or its run folder")
    parser.add_argument(
        "--output", metavar="DIR", type=nonempty_path, help="the SavedModel folder to write (default: NAME_serving/1 beside NAME.keras)"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Runs the command line; errors end the process with status 2 and one line on stderr."""
    parser = build_parser()
    args = parser.parse_args(argv)
    fail = lambda error: parser.exit(2, f"{parser.prog}: error: {error}\n")  # noqa: E731
    with clean_exit(parser):
        model_path = Path(args.model).expanduser()
        directory = Path(args.output).expanduser() if args.output else serving_dir(model_path)
        try:
            _require_tensorflow()  # before loading: the model may be large
            model, vocabulary = load_trained(model_path)
            export_text_model(model, vocabulary, directory)
        except (RuntimeError, ModelFileError, ValueError, FileExistsError) as error:
            fail(error)
        except OSError as error:
            fail(f"cannot write the SavedModel {str(directory)!r}: {error.strerror or error}")
        source = model_path / MODEL_FILE if model_path.is_dir() else model_path
        print(f"exported {source} to {directory}")


if __name__ == "__main__":
    main()

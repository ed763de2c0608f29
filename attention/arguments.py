"""Argument types and checks shared by every command line of the project.

Each type turns a bad value into `argparse.ArgumentTypeError`, so argparse
reports it as one line on stderr with exit status 2, before any work starts.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # loading a model needs Keras; the argument types do not
    import keras
    import numpy as np

    from attention.vocabulary import Vocabulary

MAX_SEED = 2**32 - 1  # NumPy's and TensorFlow's seeds are unsigned 32-bit integers


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _int_in(text: str, least: int, most: int | None, expected: str) -> int:
    value = _int(text)
    if value < least or (most is not None and value > most):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
    return value


def positive_int(text: str) -> int:
    return _int_in(text, 1, None, "a positive integer")


def non_negative_int(text: str) -> int:
    return _int_in(text, 0, None, "an integer of 0 or more")


def index_from(text: str) -> int:
    """`--index-from`: ids 0, 1 and 2 are the padding, a text's start and an unknown word, so the
    first word's id, `index_from + 1`, must come after them."""
    return _int_in(text, 2, None, "an integer of 2 or more (ids 0 to 2 pad, start a text and stand for unknown words)")


def seed(text: str) -> int:
    return _int_in(text, 0, MAX_SEED, f"a seed from 0 to {MAX_SEED}")


def sequence_length(text: str) -> int:
    # zero_pad keeps `length - 1` ids and one 0, and the first id starts each text: below 3, no word is left.
    return _int_in(text, 3, None, "a length of 3 or more (each text starts with the start id and ends with a 0)")


def positive_float(text: str) -> float:
    value = _float(text)
    if not value > 0.0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def keep_probability(text: str) -> float:
    value = _float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a probability in (0, 1], got {text}")
    return value


def nonempty_path(text: str) -> str:
    """A file or folder's path. An empty one (``--data "$UNSET"``) would be the current folder: refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a path, got {text!r}")
    return text


def keras_file(text: str) -> str:
    """A path to write a `.keras` model to: the suffix Keras 3 needs, and not a folder."""
    if not text.endswith(".keras"):
        raise argparse.ArgumentTypeError(
            f"expected a file name ending in .keras (Keras 3 saves models as .keras archives), got {text!r}"
        )
    if Path(text).expanduser().is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; expected a .keras file name")
    return text


def check_writable(path: str | os.PathLike) -> str | None:
    """Why a file cannot be written at `path` (its folder is created), or `None` if it can.

    Tried by writing a file beside it, so that a read-only folder is found
    before a long run rather than after it.
    """
    if Path(path).expanduser().is_dir():
        return f"{str(path)!r} is a folder: name a file"
    folder = Path(path).expanduser().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        return f"cannot write to {str(folder)!r}: {error.strerror or error}"
    return None


@contextlib.contextmanager
def clean_exit(parser: argparse.ArgumentParser) -> Iterator[None]:
    """Ends a command's work without a traceback: Ctrl-C with status 130 and one line on stderr,
    a reader that stops reading (``| head``) with status 1 and nothing more.

    What the commands write, they write whole or not at all (`attention.atomic`),
    so an interrupted command leaves nothing half-written.
    """
    try:
        yield
    except KeyboardInterrupt:
        parser.exit(130, f"{parser.prog}: error: interrupted\n")
    except BrokenPipeError:
        # Python's own flush at exit would fail again on the closed pipe (and print a
        # traceback): standard output goes nowhere from here, as Python's documentation advises.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (AttributeError, OSError, ValueError):  # not a file (captured, say)
            pass
        sys.exit(1)


def class_weight(text: str) -> str:
    """`--class-weight`, checked, as written: a string, so that TensorBoard's HParams tab shows it."""
    class_weight_values(text)
    return text


def class_weight_values(text: str) -> str | dict[str, float]:
    """`balanced`, or `CLASS=WEIGHT,...` as a dict (classes left out weigh 1; checked against the
    data's classes by `pipeline.class_weights`)."""
    if text == "balanced":
        return text
    weights = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        if not name.strip() or not value:
            raise argparse.ArgumentTypeError(f"expected 'balanced' or CLASS=WEIGHT,..., got {text!r}")
        weight = _float(value)
        if weight < 0:
            raise argparse.ArgumentTypeError(f"expected weights of 0 or more, got {value} for {name.strip()!r}")
        weights[name.strip()] = weight
    return weights


def fraction(text: str) -> float:
    value = _float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text}")
    return value


def share(text: str) -> float:
    """A share of a whole, in (0, 1]: unlike `fraction`, the whole itself is allowed."""
    value = _float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share above 0 and at most 1, got {text}")
    return value


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """`--help` with the description's layout kept (its example commands) and every default shown once.

    A default the help text already explains ("(default: ...)"), or `None`, is
    not repeated as "(default: None)".
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    """`--model`: the `.keras` file a training script saved (`load_model_argument` loads it)."""
    parser.add_argument("--model", required=True, type=nonempty_path,
                        help="the .keras file saved by a training script (its vocabulary lies beside it)")


def load_model_argument(parser: argparse.ArgumentParser, path: str) -> tuple[keras.Model, Vocabulary]:
    """The model and vocabulary saved at `path` (`trained.load_trained`), for a command line.

    JAX's compiled programs are kept between runs first (`backends.cache_compiled_programs`).
    A file that cannot be used ends the process with status 2 and one line on stderr.
    """
    from attention.backends import cache_compiled_programs
    from attention.trained import ModelFileError, load_trained

    cache_compiled_programs()
    try:
        return load_trained(path)
    except ModelFileError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")


def add_validation_data_arguments(parser: argparse.ArgumentParser) -> None:
    """`--data` and `--cache-dir`: where a trained model's validation texts are (`load_validation_argument`)."""
    parser.add_argument("--data", type=nonempty_path, help="source of the validation texts, as given to the training script "
                        "(default: the --data recorded in run.json beside the model, if any)")
    parser.add_argument("--cache-dir", type=nonempty_path, help="folder of the tokenised-data cache (default: as recorded in run.json, "
                        "else ~/.keras/datasets)")


def load_validation_argument(
    parser: argparse.ArgumentParser, args: argparse.Namespace, model: keras.Model, vocabulary: Vocabulary,
    indices: list[int] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """The validation texts of the run that saved `args.model` (`trained.load_test_reviews`), for a command line.

    Read as that run's training read them, from `--data` and `--cache-dir`, or else
    from what its `run.json` recorded. Data that cannot be read, or an index outside
    the set, ends the process with status 2 and one line on stderr.

    Returns:
        `(ids, labels, config)`: the padded word ids, the labels and the run's recorded arguments.
    """
    from attention.data.errors import DatasetError
    from attention.trained import load_test_reviews, run_config
    from attention.vocabulary import BINARY_CLASSES

    config = run_config(args.model)
    texts_model = vocabulary.trained_on == "texts" or (
        vocabulary.trained_on is None and vocabulary.class_names != list(BINARY_CLASSES)  # saved before it was recorded
    )
    if not config and texts_model:
        # A train_text.py model: without its run's record nothing says which texts it validated on.
        parser.exit(2, f"{parser.prog}: error: {args.model} has no run.json of its run beside it, so its validation "
                       f"texts are unknown: give texts of your own instead\n")
    data = args.data if args.data is not None else config.get("data")
    cache_dir = args.cache_dir if args.cache_dir is not None else config.get("cache_dir")
    try:
        ids, labels = load_test_reviews(model, vocabulary, indices, data, cache_dir, config)
    except DatasetError as error:
        origin = "" if args.data is not None or data is None else " (the --data recorded in run.json; pass --data)"
        parser.exit(2, f"{parser.prog}: error: {error}{origin}\n")
    except IndexError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    return ids, labels, config


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every training script shares: vocabulary, network, optimisation and the run.

    Their defaults are the original script's constants.
    """
    from attention import defaults

    add = parser.add_argument
    add("--num-words", type=positive_int, default=defaults.NUM_WORDS, help="vocabulary: the most frequent words kept")
    add("--index-from", type=index_from, default=defaults.INDEX_FROM, help="word ids start after this index")
    add("--sequence-length", type=sequence_length, default=defaults.SEQUENCE_LENGTH,
        help="texts are cut to this length minus one and padded (the original zero_pad)")
    add("--embedding-dim", type=positive_int, default=defaults.EMBEDDING_DIM, help="word embedding size")
    add("--embeddings", type=nonempty_path, help="start the word embeddings from these pre-trained vectors (GloVe's or word2vec's text "
        "format, optionally .gz, of --embedding-dim numbers; words without a vector start at random)")
    add("--freeze-embeddings", action=argparse.BooleanOptionalAction, default=False,
        help="keep the word embeddings as they start (with --embeddings, the pre-trained vectors) and train only "
        "the rest of the network")
    add("--hidden-size", type=positive_int, default=defaults.HIDDEN_SIZE, help="GRU units per direction")
    add("--attention-size", type=positive_int, default=defaults.ATTENTION_SIZE, help="attention projection size")
    add("--keep-prob", type=keep_probability, default=defaults.KEEP_PROB, help="dropout keep probability")
    add("--batch-size", type=positive_int, default=defaults.BATCH_SIZE, help="texts per batch")
    add("--num-epochs", type=positive_int, default=defaults.NUM_EPOCHS, help="passes over the training set")
    add("--keep-best", action=argparse.BooleanOptionalAction, default=False,
        help="save the model of the epoch with the best --monitor, not the last epoch's")
    add("--patience", type=positive_int, help="stop once --monitor has not improved for this many epochs, and keep "
        "the best epoch (Keras's EarlyStopping with restore_best_weights) (default: train all --num-epochs)")
    add("--monitor", choices=["val_loss", "val_accuracy", "val_macro_f1"], default="val_loss",
        help="the validation metric --keep-best and --patience go by: lowest loss, highest accuracy or highest "
        "macro-F1 (which weighs a rare class as much as a common one)")
    add("--learning-rate", type=positive_float, default=defaults.LEARNING_RATE, help="Adam's learning rate")
    add("--class-weight", type=class_weight, help="weigh each class's texts in the training loss: 'balanced' "
        "(each class as much as the others, whatever its size) or CLASS=WEIGHT,... (others 1) (default: all 1)")
    add("--reset-after", action=argparse.BooleanOptionalAction, default=False,
        help="cuDNN-style GRU (reset gate after the recurrent matmul); the original TF1 GRUCell is --no-reset-after")
    add("--bucketing", action=argparse.BooleanOptionalAction, default=True,
        help="batch texts of similar length and trim each batch's padding: the same network and math, faster, "
        "but other batches than the original's (--no-bucketing), so other numbers")
    add("--logdir", default="./logdir", type=nonempty_path, help="TensorBoard folder; each run writes into its own sub-folder")
    add("--model-path", type=keras_file, help="where to save the trained .keras model (default: model.keras in the run's folder)")
    add("--seed", type=seed, help="random seed of weights, dropout and shuffling (default: a random one, recorded in run.json)")
    add("--max-samples", type=positive_int, help="use only the first N training and N validation texts (a quick run)")
    add("--strategy", choices=["default", "mirrored"], default="default",
        help="tf.distribute strategy: one device, or mirrored over all GPUs (or logical CPUs)")
    add("--resume", action=argparse.BooleanOptionalAction, default=True,
        help="resume the newest unfinished run with the same arguments, from its last completed epoch")
    add("--intra-op-threads", type=non_negative_int, help="threads per TensorFlow op; 0: TensorFlow's choice "
        "(default without a GPU: half the cores, so the two GRU directions run side by side)")
    add("--inter-op-threads", type=non_negative_int, help="TensorFlow ops run at once; 0: TensorFlow's choice "
        "(default without a GPU: 2)")
    add("--cache-dir", type=nonempty_path, help="folder of the tokenised-data cache (default: ~/.keras/datasets)")


# The path options of the training scripts, recorded absolute so that run.json reads the same from any folder.
PATH_OPTIONS = ("data", "validation_data", "embeddings", "cache_dir", "model_path")


def recorded_arguments(args: argparse.Namespace, **extra: object) -> dict:
    """What a training run records in run.json, and is keyed by: the arguments, with absolute paths.

    `--resume` is left out: it says whether to go on with a run, not what the run computes.
    """
    config = {k: v for k, v in vars(args).items() if k != "resume"}
    config.update({k: os.path.abspath(os.path.expanduser(config[k])) for k in PATH_OPTIONS if config.get(k)})
    return {**config, **extra}


def add_text_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that say where labelled texts are and how to read them (`data.load_labelled`)."""
    add = parser.add_argument
    add("--data", required=True, type=nonempty_path, help="the training texts: a folder of class folders, a .tar.gz of one, "
        "or a .csv, .tsv or .jsonl file (optionally .gz)")
    validation = parser.add_mutually_exclusive_group()
    validation.add_argument("--validation-data", type=nonempty_path, help="texts to validate on, in any form --data takes "
                            "(default: the test/ split of --data, if it has one)")
    validation.add_argument("--validation-split", type=fraction,
                            help="validate on this fraction of each class's training texts")
    add("--split-seed", type=seed, default=113, help="seed of --validation-split")
    add("--text-column", default="text", help="the text's column (CSV, TSV) or field (JSON Lines)")
    add("--label-column", default="label", help="the label's column (CSV, TSV) or field (JSON Lines)")
    add("--classes", type=class_names, help="comma-separated classes to keep, in label order (default: all, sorted)")


def class_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if len(names) < 2 or not all(names) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"expected two or more distinct comma-separated class names, got {text!r}")
    return names


def check_num_words(args: argparse.Namespace) -> str | None:
    """What is wrong with `--num-words` for `--index-from` (its default where a command has none), or None."""
    from attention import defaults

    first = getattr(args, "index_from", defaults.INDEX_FROM) + 1  # ids at or above --num-words are unknown words
    if args.num_words <= first:
        where = f"--index-from + 1 = {first}" if hasattr(args, "index_from") else f"{first} (after padding, start and unknown)"
        return f"--num-words {args.num_words} keeps no word: the first word's id is {where}, so --num-words must be at least {first + 1}"
    return None


def labelled_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of `data.load_labelled` from the options above (and `--num-words` etc.)."""
    options = dict(validation_data=args.validation_data, validation_split=args.validation_split,
                   split_seed=args.split_seed, text_column=args.text_column, label_column=args.label_column,
                   classes=args.classes, cache_dir=args.cache_dir)
    for name in ("num_words", "index_from"):
        if hasattr(args, name):
            options[name] = getattr(args, name)
    return options

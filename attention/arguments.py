"""Argument types and checks shared by every command line of the project.

Each type turns a bad value into `argparse.ArgumentTypeError`, so argparse
reports it as one line on stderr with exit status 2, before any work starts.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

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


def seed(text: str) -> int:
    return _int_in(text, 0, MAX_SEED, f"a seed from 0 to {MAX_SEED}")


def sequence_length(text: str) -> int:
    # zero_pad keeps `length - 1` words and one 0: a length of 1 keeps no word at all.
    return _int_in(text, 2, None, "a length of 2 or more (one place is always padding)")


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
    folder = Path(path).expanduser().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        return f"cannot write to {str(folder)!r}: {error.strerror or error}"
    return None

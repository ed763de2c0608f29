"""Pre-trained word vectors in, a trained model's word vectors out, in the GloVe text format.

Each line of that format is a word and its numbers, separated by spaces (word2vec's
text format is the same after a first line `count dimension`, which is skipped);
the file may be `.gz`. `read_vectors` keeps only the words a vocabulary has, so the
largest files (GloVe's 840B tokens, 5.6 GB) take no more memory than the vocabulary;
`set_embeddings` puts them into a model's `Embedding` rows before training
(`--embeddings` of the training scripts). As a command, writes the word vectors a
model learned, one line per word of its vocabulary, most frequent first, for another
model's `--embeddings` or any tool that reads GloVe's format:

    python -m attention.embeddings --model logdir/RUN/model.keras --output vectors.txt
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
from collections.abc import Iterable
from pathlib import Path

import keras
import numpy as np

from attention.arguments import (
    HelpFormatter, add_model_argument, check_writable, clean_exit, load_model_argument, nonempty_path,
)
from attention.atomic import atomic_path
from attention.data.errors import DatasetError
from attention.trained import embedding_layer
from attention.vocabulary import Vocabulary

__all__ = ["read_vectors", "set_embeddings", "word_vectors", "write_projector", "write_vectors"]

# What TensorBoard's projector plugin reads in a run's folder.
PROJECTOR_CONFIG = "projector_config.pbtxt"
PROJECTOR_VECTORS = "word_vectors.tsv"
PROJECTOR_WORDS = "words.tsv"


def read_vectors(path: str | os.PathLike, words: Iterable[str], dimension: int) -> dict[str, np.ndarray]:
    """The vectors of `words` in a GloVe or word2vec text file.

    A word without a vector of its own takes that of a cased form (`Good` for
    `good`), as in word2vec's vectors, which keep case; the first one the file
    lists. A word listed twice keeps its first vector, as gensim reads these files.

    Args:
        path: The file (`.gz` is read as gzip).
        words: The words wanted; others are skipped unread.
        dimension: The numbers a vector must have (the model's embedding size).

    Returns:
        `{word: float32 vector}` for the words the file has.

    Raises:
        DatasetError: The file is missing or unreadable, its vectors are not of
            `dimension` numbers, a wanted vector is not numbers, or it holds none
            of the words; the message says where.
    """
    path = Path(path).expanduser()
    wanted = set(words)
    exact: dict[str, np.ndarray] = {}
    cased: dict[str, np.ndarray] = {}
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    checked, wider = False, 0
    try:
        with opener(path, "rb") as lines:
            for number, raw in enumerate(lines, start=1):
                try:
                    line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError:
                    raise DatasetError(f"{path}, line {number}: not UTF-8 text (vectors are read in the GloVe or "
                                       "word2vec text format; word2vec's binary format is not read)") from None
                # Split at ASCII spaces and tabs only: a word may hold other spaces (U+00A0, U+3000),
                # which str.split() would have cut into another word and a number.
                parts = _FIELD_SEPARATORS.split(line.strip(" \t\r\n"))
                if parts == [""] or (number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts)):
                    continue  # a blank line, or word2vec's header (count and dimension)
                # The first vector says the file's dimension; a later word may hold spaces
                # (some GloVe files have such words), so its numbers are the last ones.
                if checked and len(parts) - 1 < dimension:
                    raise DatasetError(f"{path}, line {number}: a vector of {len(parts) - 1} numbers, where the "
                                       f"lines before have {dimension}")
                # More numbers may also be a word of spaces ending in a number ("chapter 1"): read as such.
                wider += len(parts) - 1 > dimension and _is_number(parts[-dimension - 1])
                if not checked and len(parts) - 1 != dimension:
                    raise DatasetError(
                        f"{path}, line {number}: a vector of {len(parts) - 1} numbers, but the model's embeddings "
                        f"have {dimension} (--embedding-dim {len(parts) - 1} takes these vectors)"
                    )
                checked = True
                word = " ".join(parts[:-dimension])
                target = word if word in wanted else word.lower()
                # A word listed twice keeps its first vector, as gensim reads these files.
                if target not in wanted or target in exact or (target != word and target in cased):
                    continue
                try:
                    with np.errstate(over="ignore"):  # too large for float32: not finite, said below
                        vector = np.array(parts[-dimension:], dtype=np.float32)
                except ValueError:
                    raise DatasetError(f"{path}, line {number}: the vector of {word!r} is not all numbers") from None
                if not np.isfinite(vector).all():
                    raise DatasetError(f"{path}, line {number}: the vector of {word!r} has a number that is not "
                                       "finite in float32 (inf, nan, or beyond ±3.4e38)")
                (exact if target == word else cased)[target] = vector
    except FileNotFoundError:
        raise DatasetError(f"{path} does not exist (expected word vectors in the GloVe or word2vec text format)") from None
    except (OSError, EOFError) as error:
        raise DatasetError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    found = {**cased, **exact}
    if not found:
        more = f" ({wider:,} of its lines have more than {dimension} numbers)" if wider else ""
        raise DatasetError(f"{path} has a vector for none of the vocabulary's {len(wanted):,} words{more}")
    return found


_FIELD_SEPARATORS = re.compile("[ \t]+")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def set_embeddings(model: keras.Model, vocabulary: Vocabulary, vectors: dict[str, np.ndarray]) -> int:
    """Puts each word's vector into its row of the model's `Embedding`; other rows keep theirs.

    Returns:
        How many rows were set.
    """
    layer = embedding_layer(model)
    table = keras.ops.convert_to_numpy(layer.embeddings).copy()
    rows = 0
    for word, rank in (vocabulary.word_index or {}).items():
        index = rank + vocabulary.index_from
        if word in vectors and index < len(table):
            table[index] = vectors[word]
            rows += 1
    layer.embeddings.assign(table)
    return rows


def write_vectors(model: keras.Model, vocabulary: Vocabulary, path: str | os.PathLike) -> int:
    """Writes the model's vector of each vocabulary word it has a row for, most frequent first.

    A `path` ending in `.gz` is written gzip-compressed, as `read_vectors` reads it.

    Returns:
        How many words were written.
    """
    words, vectors = word_vectors(model, vocabulary)
    lines = (f"{word} " + " ".join(f"{v:.6g}" for v in vector) for word, vector in zip(words, vectors))
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    with atomic_path(path) as tmp:
        tmp.write_bytes(gzip.compress(data, mtime=0) if Path(path).suffix == ".gz" else data)
    return len(words)


def write_projector(model: keras.Model, vocabulary: Vocabulary, run_dir: str | os.PathLike) -> int:
    """Writes the model's word vectors where TensorBoard's Projector tab finds them in a run's folder.

    `word_vectors.tsv` (a vector a line), `words.tsv` (its word) and
    `projector_config.pbtxt`, which names them; neither needs TensorFlow.
    Nothing is written for a vocabulary without words.

    Returns:
        How many words were written.
    """
    words, vectors = word_vectors(model, vocabulary)
    if not words:  # data without a word index: nothing to name the vectors by
        return 0
    run_dir = Path(run_dir)
    with atomic_path(run_dir / PROJECTOR_VECTORS) as tmp:
        tmp.write_text("".join("\t".join(f"{v:.5g}" for v in vector) + "\n" for vector in vectors), encoding="utf-8")
    with atomic_path(run_dir / PROJECTOR_WORDS) as tmp:
        tmp.write_text("".join(word + "\n" for word in words), encoding="utf-8")
    config = (f'embeddings {{\n  tensor_name: "word embeddings"\n  tensor_path: "{PROJECTOR_VECTORS}"\n'
              f'  metadata_path: "{PROJECTOR_WORDS}"\n}}\n')
    with atomic_path(run_dir / PROJECTOR_CONFIG) as tmp:
        tmp.write_text(config, encoding="utf-8")
    return len(words)


def word_vectors(model: keras.Model, vocabulary: Vocabulary) -> tuple[list[str], np.ndarray]:
    """The vocabulary's words that have a row in the model's `Embedding`, most frequent first, and those rows."""
    table = keras.ops.convert_to_numpy(embedding_layer(model).embeddings)
    ranked = sorted((vocabulary.word_index or {}).items(), key=lambda item: item[1])
    # A word with a space (none the tokeniser makes) would not read back as one word.
    kept = [(word, rank + vocabulary.index_from) for word, rank in ranked
            if rank + vocabulary.index_from < len(table) and not any(c.isspace() for c in word)]
    return [word for word, _ in kept], table[[row for _, row in kept]]


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m attention.embeddings``."""
    parser = argparse.ArgumentParser(prog="python -m attention.embeddings", description=__doc__,
                                     formatter_class=HelpFormatter)
    add_model_argument(parser)
    parser.add_argument("--output", required=True, type=nonempty_path, help="the text file to write (GloVe's format; gzip-compressed when it ends in .gz)")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Runs the command line; errors end the process with status 2 and one line on stderr."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with clean_exit(parser):
        if problem := check_writable(args.output):
            parser.exit(2, f"{parser.prog}: error: --output: {problem}\n")
        model, vocabulary = load_model_argument(parser, args.model)
        if vocabulary.word_index is None:
            parser.exit(2, f"{parser.prog}: error: the model's vocabulary has no words (its data had no word index)\n")
        count = write_vectors(model, vocabulary, args.output)
        print(f"Wrote {count:,} word vectors of {embedding_layer(model).output_dim} numbers to {args.output}")


if __name__ == "__main__":
    main()

"""What turns word ids back into words, new text into word ids, and outputs into class names, for a saved model."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from attention import defaults
from attention.data.conventions import texts_to_sequences
from attention.preprocessing import fit_in_vocabulary, zero_pad

PAD, START, OOV = "<pad>", "<start>", "<oov>"
# IMDB's labels 0 and 1, and the classes of a vocabulary saved before classes were recorded.
BINARY_CLASSES = ("negative", "positive")
TRAINED_ON = ("imdb", "texts", None)


def vocabulary_path(model_path: str | os.PathLike) -> Path:
    """Where the vocabulary of a saved model lies: `NAME.vocabulary.json` beside `NAME.keras`."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + ".vocabulary.json")


@dataclasses.dataclass
class Vocabulary:
    """The encoding a model was trained with, saved beside it as JSON.

    Args:
        word_index: Word -> frequency rank (1 = most frequent), as
            `imdb.get_word_index()`; `None` when the source had none, and then
            words show as their ids.
        num_words, index_from, start_char, oov_char: As given to `imdb.load_data`.
        sequence_length: The `zero_pad` length used in training.
        classes: The class names, in label order (label `i` is `classes[i]`);
            `None` means IMDB's `negative`, `positive`.
        trained_on: `"imdb"` (`train_imdb.py`: IMDB's word ranks and reviews) or
            `"texts"` (`train_text.py`: texts of one's own); `None` in files saved
            before it was recorded.
    """

    word_index: dict[str, int] | None
    num_words: int = defaults.NUM_WORDS
    index_from: int = defaults.INDEX_FROM
    start_char: int = 1
    oov_char: int = 2
    sequence_length: int = defaults.SEQUENCE_LENGTH
    classes: list[str] | None = None
    trained_on: str | None = None

    def __post_init__(self) -> None:
        # A vocabulary file may have been edited by hand: say which field is wrong.
        for name, least in (("num_words", 1), ("index_from", 0), ("start_char", 0), ("oov_char", 0), ("sequence_length", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"`{name}` must be an integer of at least {least}, got {value!r}")
        if self.word_index is not None and not (
            isinstance(self.word_index, dict)
            and all(isinstance(w, str) and isinstance(r, int) and not isinstance(r, bool) for w, r in self.word_index.items())
        ):
            raise ValueError("`word_index` must map words to integer ranks")
        if self.classes is not None:
            if not (
                isinstance(self.classes, (list, tuple))
                and all(isinstance(c, str) for c in self.classes)
                and len(set(self.classes)) == len(self.classes) >= 2
            ):
                raise ValueError(f"`classes` must be a list of at least two distinct names, got {self.classes!r}")
            self.classes = list(self.classes)
        if self.trained_on not in TRAINED_ON:
            raise ValueError(f"`trained_on` must be one of {TRAINED_ON}, got {self.trained_on!r}")
        if self.word_index is not None:
            # Only the ranks the model can see are worth keeping.
            limit = self.num_words - self.index_from
            self.word_index = {w: r for w, r in self.word_index.items() if r < limit}
        self._words: dict[int, str] | None = None

    def encode(self, texts: Iterable[str], embedding_rows: int | None = None) -> np.ndarray:
        """Tokenises and encodes texts as the training data was, padded with `zero_pad`.

        Args:
            texts: The texts.
            embedding_rows: The size of the model's embedding. Ids at or above
                it are dropped, as the original's `fit_in_vocabulary` drops them
                from the test reviews (a model trained on part of the data
                has no row for words it never saw).
        """
        return zero_pad(self.sequences(texts, embedding_rows), self.sequence_length)

    def sequences(self, texts: Iterable[str], embedding_rows: int | None = None) -> list[list[int]]:
        """The word ids of each text, whole: `encode` before `zero_pad`'s cut."""
        if self.word_index is None:
            raise ValueError("This vocabulary has no word index, so text cannot be encoded.")
        sequences = texts_to_sequences(
            list(texts), self.word_index, self.num_words, self.index_from, self.start_char, self.oov_char
        )
        return fit_in_vocabulary(sequences, embedding_rows) if embedding_rows is not None else sequences

    @property
    def class_names(self) -> list[str]:
        """The name of each label, in label order."""
        return list(self.classes) if self.classes is not None else list(BINARY_CLASSES)

    def word(self, index: int) -> str:
        """The word of one id; padding, start and out-of-vocabulary get `<pad>`, `<start>`, `<oov>`."""
        if self._words is None:
            self._words = {rank + self.index_from: w for w, rank in (self.word_index or {}).items()}
            self._words.update({0: PAD, self.start_char: START, self.oov_char: OOV})
        return self._words.get(int(index), f"#{int(index)}")

    def decode(self, ids: Sequence[int]) -> list[str]:
        """The words of a sequence of ids."""
        return [self.word(i) for i in ids]

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False) + "\n", encoding="utf-8")

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocabulary":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})

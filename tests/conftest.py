import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import attention  # noqa: E402,F401  (first: it quiets TensorFlow's start-up logging)

import random
from pathlib import Path

import pytest

POSITIVE = ["great", "wonderful", "superb", "loved", "brilliant"]
NEGATIVE = ["awful", "boring", "terrible", "hated", "dull"]
FILLER = ["the", "film", "movie", "a", "plot", "actor", "story", "and", "was", "it", "scene", "music"]


def write_aclimdb(root: Path, per_class: int = 24, seed: int = 0) -> Path:
    """Writes a tiny aclImdb/ folder in the official layout, with a learnable signal."""
    rng = random.Random(seed)
    for split in ("train", "test"):
        for label, cue in (("pos", POSITIVE), ("neg", NEGATIVE)):
            folder = root / "aclImdb" / split / label
            folder.mkdir(parents=True)
            for i in range(per_class):
                words = [rng.choice(FILLER) for _ in range(rng.randint(4, 30))]
                for _ in range(rng.randint(1, 3)):
                    words.insert(rng.randrange(len(words) + 1), rng.choice(cue))
                rating = rng.choice([7, 8, 9, 10] if label == "pos" else [1, 2, 3, 4])
                text = " ".join(words).capitalize() + ".<br /><br />The end & \"quotes\" <b>"
                (folder / f"{i}_{rating}.txt").write_text(text, encoding="utf-8")
    return root / "aclImdb"


@pytest.fixture(scope="session")
def tiny_imdb(tmp_path_factory) -> Path:
    """A tiny aclImdb/ folder: 48 training and 48 test reviews."""
    return write_aclimdb(tmp_path_factory.mktemp("data"))

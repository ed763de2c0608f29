"""Small hand-made data for the loaders' tests (aclImdb folders and archives, Keras's imdb.npz,
class folders and tables), and what to compare the loaders' output with."""

from __future__ import annotations

import random
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np

from attention import imdb
from attention.data import Labelled, load_labelled
from attention.imdb import tokenize

# The ids of the loaders' sequences: every text starts with START, OOV stands for a word out of
# the vocabulary, and the word of rank r is r + INDEX_FROM.
INDEX_FROM = 3
START, OOV = 1, 2

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


# Review IDs deliberately out of lexical order (10 after 9) and lengths all different, so
# Keras's np.array(..., dtype=object) keeps its output 1-D in the comparisons below.
REVIEWS = {
    ("train", "neg"): {
        "9_1.txt": "A bad movie. Bad acting, BAD plot!",
        "10_2.txt": "Boring and bad.<br /><br />The plot is dull and the acting is worse",
    },
    ("train", "pos"): {
        "3_10.txt": "A great movie! Great acting.<br /><br />I loved it, didn't you?",
        "1_8.txt": "Great fun, a great cast and a great plot",
        "2_7.txt": "The movie is fun",
    },
    ("test", "neg"): {
        "5_3.txt": "Dull, dull, dull. Zzzunseen words are skipped",
        "7_4.txt": "bad",
    },
    ("test", "pos"): {
        "6_9.txt": "GREAT movie, great acting",
        "8_10.txt": "I loved the plot; it is great fun.",
    },
}


def canonical_texts(reviews: dict = REVIEWS) -> dict[str, tuple[list[str], list[int]]]:
    """Texts and labels per split in the documented order: neg then pos, by review ID."""
    out = {}
    for split in ("train", "test"):
        texts, labels = [], []
        for label, name in enumerate(("neg", "pos")):
            files = reviews[(split, name)]
            for fname in sorted(files, key=lambda f: int(f.split("_")[0])):
                text = files[fname]
                texts.append(text.decode("utf-8", "replace") if isinstance(text, bytes) else text)
                labels.append(label)
        out[split] = (texts, labels)
    return out


def reference_word_index(reviews: dict = REVIEWS) -> dict[str, int]:
    """Ranks by training-split frequency, ties by first appearance; then the words seen only
    in the test split, by test frequency (independent code)."""
    ranked = []
    for split in ("train", "test"):
        tokens = [t for text in canonical_texts(reviews)[split][0] for t in tokenize(text)]
        counts = Counter(t for t in tokens if t not in ranked)
        first = {}
        for i, t in enumerate(tokens):
            first.setdefault(t, i)
        ranked += sorted(counts, key=lambda w: (-counts[w], first[w]))
    return {w: r for r, w in enumerate(ranked, start=1)}


def make_folder(root: Path, reviews: dict = REVIEWS) -> Path:
    """`reviews` as an aclImdb folder at `root`."""
    for (split, label), files in reviews.items():
        d = root / split / label
        d.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (d / name).write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return root


def make_archive(path: Path, folder: Path, arcname: str = "aclImdb") -> Path:
    """`folder` as a .tar.gz at `path`, under the name `arcname`."""
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname=arcname)
    return path


def write_keras_npz(path: Path, reviews: dict = REVIEWS) -> Path:
    """An imdb.npz as Keras ships it: word ranks without offsets, in canonical order."""
    index = reference_word_index(reviews)
    arrays = {}
    for split, (texts, labels) in canonical_texts(reviews).items():
        seqs = [[index[t] for t in tokenize(text) if t in index] for text in texts]
        x = np.empty(len(seqs), dtype=object)
        x[:] = seqs
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, np.array(labels, dtype=np.int64)
    np.savez(path, **arrays)
    return path


def write_files(root: Path, contents: dict[str, str | bytes]) -> Path:
    """Writes ``{relative path: text or bytes}`` under ``root``; returns ``root``."""
    for name, data in contents.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return root


def write_csv(path: Path, rows: list[tuple[str, str]], header: str = "text,label") -> Path:
    """A plain CSV of ``(text, label)`` rows whose texts need no quoting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(f"{t},{y}\n" for t, y in rows), encoding="utf-8")
    return path


def as_lists(x: np.ndarray) -> list[list[int]]:
    return [list(seq) for seq in x]


def assert_same_data(a, b) -> None:
    """Two `imdb.load_data` results are equal."""
    (xa, ya), (xta, yta) = a
    (xb, yb), (xtb, ytb) = b
    assert as_lists(xa) == as_lists(xb) and as_lists(xta) == as_lists(xtb)
    np.testing.assert_array_equal(ya, yb)
    np.testing.assert_array_equal(yta, ytb)


def cache_files(cache: Path) -> list[Path]:
    """The IMDB loader's cache files under the cache folder `cache`."""
    return sorted((cache / imdb.CACHE_SUBDIR).glob("*")) if (cache / imdb.CACHE_SUBDIR).exists() else []


def load(source, cache_dir: Path, **kwargs) -> Labelled:
    """`load_labelled` without its progress bars."""
    return load_labelled(source, cache_dir=cache_dir, verbose=False, **kwargs)


def assert_same(a: Labelled, b: Labelled) -> None:
    """Two `load_labelled` results are equal."""
    assert as_lists(a.x_train) == as_lists(b.x_train)
    assert as_lists(a.x_validation) == as_lists(b.x_validation)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    np.testing.assert_array_equal(a.y_validation, b.y_validation)
    assert a.classes == b.classes
    assert a.word_index == b.word_index
    assert a.num_words == b.num_words


def decoded(data: Labelled, split: str = "train") -> list[tuple[tuple[str | None, ...], str]]:
    """Each text as (words, class); ``None`` for an out-of-vocabulary id. Checks the start id too."""
    words = {rank + INDEX_FROM: word for word, rank in data.word_index.items()}
    x, y = (data.x_train, data.y_train) if split == "train" else (data.x_validation, data.y_validation)
    out = []
    for seq, label in zip(x, y):
        assert seq[0] == START
        out.append((tuple(None if i == OOV else words[i] for i in seq[1:]), data.classes[label]))
    return out


def forbid(monkeypatch, module, name: str) -> None:
    """Makes a call of `module.name` fail the test: for what a cache hit must not do."""
    def forbidden(*args, **kwargs):
        raise AssertionError(f"{name} was called: the cache was not used")

    monkeypatch.setattr(module, name, forbidden)

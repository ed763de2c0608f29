"""attention.data: what `load_labelled` makes of labelled texts: the validation split, the
vocabulary, the classes, the cache, and IMDB's two classes as `imdb.load_data` gives them.

The forms it reads are tested in test_labelled_forms.py, bad data in test_labelled_errors.py.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from attention import imdb
from attention.data import DatasetError, Labelled, ranks
from attention.data.labelled import CACHE_SUBDIR
from attention.data.sources import files, tables
from fake_data import (INDEX_FROM, OOV, REVIEWS, as_lists, assert_same, decoded, forbid, load, make_archive,
                       write_csv, write_files)

pytestmark = pytest.mark.usefixtures("isolated_keras_home")


def labelled_ids(data: Labelled) -> tuple[list[int], list[int]]:
    """The text numbers of `numbered_rows` texts in the training and the validation split."""
    # Text i has i + 1 words "w" and its label word, after the start id.
    return sorted(len(s) - 3 for s in data.x_train), sorted(len(s) - 3 for s in data.x_validation)


def numbered_rows(sizes: dict[str, int]) -> list[tuple[str, str]]:
    """Texts told apart by their length: text i is i + 1 times "w" and its label."""
    rows, i = [], 0
    for label, n in sizes.items():
        for _ in range(n):
            rows.append((" ".join(["w"] * (i + 1)) + " " + label, label))
            i += 1
    return rows


# ------------------------------------------------------------------------ validation


SIZES = {"alpha": 10, "bravo": 7, "charlie": 3}


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.05, 0.9])
def test_validation_split_is_stratified(tmp_path, fraction):
    rows = numbered_rows(SIZES)
    data = load(write_csv(tmp_path / "t.csv", rows), tmp_path / "cache", validation_split=fraction)
    train_ids, validation_ids = labelled_ids(data)
    assert sorted(train_ids + validation_ids) == list(range(len(rows)))  # the whole data, each text once
    for split in ("train", "validation"):
        for words, label in decoded(data, split):
            assert words[-1] == label  # each text keeps its label
    held = Counter(label for _, label in decoded(data, "validation"))
    for label, n in SIZES.items():
        assert 1 <= held[label] <= n - 1  # at least one held out, never all
        assert abs(held[label] - fraction * n) <= 0.5 or (held[label] == 1 and fraction * n < 1) \
            or (held[label] == n - 1 and fraction * n > n - 1)


def test_validation_split_is_seeded(tmp_path):
    path = write_csv(tmp_path / "t.csv", numbered_rows(SIZES))
    split = lambda **kw: labelled_ids(load(path, tmp_path / "cache", validation_split=0.3, **kw))[1]  # noqa: E731
    assert split(split_seed=1) == split(split_seed=1)
    assert split(split_seed=1) != split(split_seed=2)
    assert split() == split(split_seed=113)  # Keras's IMDB seed by default


def test_no_validation_texts_is_an_error(tmp_path):
    table = write_csv(tmp_path / "t.csv", [("good", "pos"), ("bad", "neg")])
    flat = write_files(tmp_path / "flat", {"pos/1.txt": "good", "neg/1.txt": "bad"})
    for source in (table, flat):
        with pytest.raises(DatasetError) as error:
            load(source, tmp_path / "cache")
        assert str(source) in str(error.value) and "--validation-split" in str(error.value)
    with pytest.raises(DatasetError, match="not both"):
        load(table, tmp_path / "cache", validation_data=table, validation_split=0.5)
    for fraction in (0.0, 1.0, 1.5):
        with pytest.raises(DatasetError, match="between 0 and 1"):
            load(table, tmp_path / "cache", validation_split=fraction)


# ------------------------------------------------------------------------ vocabulary


def test_vocabulary_comes_from_the_training_texts(tmp_path):
    train = write_csv(tmp_path / "train.csv", [("a a a b c", "pos"), ("a b d", "neg")])
    validation = write_csv(tmp_path / "val.csv", [("zebra zebra b b b b", "pos"), ("zebra c", "neg")])
    data = load(train, tmp_path / "cache", validation_data=validation)
    # By training frequency (a: 4, b: 2), then first appearance; "zebra" and b's
    # validation frequency count for nothing.
    assert data.word_index == {"a": 1, "b": 2, "c": 3, "d": 4}
    assert Counter(decoded(data, "validation")) == Counter([((None, "c"), "neg"), ((None, None, "b", "b", "b", "b"), "pos")])
    assert data.num_words == 4 + INDEX_FROM + 1  # every training word, nothing more
    small = load(train, tmp_path / "cache", validation_data=validation, num_words=6)
    assert small.num_words == 6 and small.word_index == data.word_index
    for x in (small.x_train, small.x_validation):
        assert max(max(seq) for seq in x) < 6
    assert Counter(decoded(small)) == Counter([(("a", "b", None), "neg"), (("a", "a", "a", "b", None), "pos")])


# --------------------------------------------------------------------------- classes


@pytest.mark.parametrize("kind", ["table", "folder", "archive"])
def test_classes_keeps_those_in_that_order(tmp_path, kind):
    names = {"a": "alpha", "b": "bravo", "c": "charlie", "d": "delta"}
    reviews = {}
    for split, per_class in (("train", 3), ("test", 2)):
        for label, word in names.items():
            for i in range(per_class):
                reviews[f"{split}/{label}/{i}_{split}.txt"] = f"{word} {' '.join(['film'] * (i + 1))} {split}"
    if kind == "table":
        for split in ("train", "test"):
            rows = [(text, name.split("/")[1]) for name, text in reviews.items() if name.startswith(split)]
            write_csv(tmp_path / f"{split}.csv", rows)
        source, options = tmp_path / "train.csv", dict(validation_data=tmp_path / "test.csv")
    else:
        source, options = write_files(tmp_path / "texts", reviews), {}
        if kind == "archive":
            source = make_archive(tmp_path / "texts.tar.gz", source, "texts")
    data = load(source, tmp_path / "cache", classes=["c", "a"], **options)
    assert data.classes == ["c", "a"]
    assert len(data.x_train) == 6 and len(data.x_validation) == 4
    for split in ("train", "validation"):
        for words, label in decoded(data, split):
            assert words[0] == names[label]  # label i is classes[i]
    assert np.bincount(data.y_train).tolist() == [3, 3]
    assert not {"bravo", "delta"} & set(data.word_index)  # the other classes' texts were left out
    everything = load(source, tmp_path / "cache", **options)
    assert everything.classes == ["a", "b", "c", "d"] and len(everything.x_train) == 12


# ----------------------------------------------------------------------------- cache


def _count_calls(monkeypatch, module, name) -> list:
    calls, real = [], getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_cache_skips_reading_and_tokenising(tmp_path, monkeypatch):
    train = write_csv(tmp_path / "train.csv", [("good film", "pos"), ("bad film", "neg"), ("great", "pos")])
    validation = write_csv(tmp_path / "val.csv", [("good", "pos"), ("awful", "neg")])
    cache_dir = tmp_path / "cache"
    first = load(train, cache_dir, validation_data=validation)
    fresh_small = load(train, tmp_path / "other-cache", validation_data=validation, num_words=5)
    assert len(list((cache_dir / CACHE_SUBDIR).glob("*.npz"))) == 1
    with monkeypatch.context() as m:
        forbid(m, ranks, "rank_words")
        forbid(m, tables, "read_table")
        assert_same(load(train, cache_dir, validation_data=validation), first)
        # num_words is applied after the cache: no tokenising for another value either.
        assert_same(load(train, cache_dir, validation_data=validation, num_words=5), fresh_small)
    calls = _count_calls(monkeypatch, ranks, "rank_words")
    # The same size, another content: the cache is keyed by the bytes.
    train.write_text(train.read_text().replace("great", "crass"))
    changed = load(train, cache_dir, validation_data=validation)
    assert len(calls) == 1 and "crass" in changed.word_index and "great" not in changed.word_index
    validation.write_text(validation.read_text().replace("awful", "ghast"))
    load(train, cache_dir, validation_data=validation)
    assert len(calls) == 2
    load(train, cache_dir, validation_split=0.5, split_seed=1)
    load(train, cache_dir, validation_split=0.5, split_seed=2)  # another split, another cache
    load(train, cache_dir, validation_split=0.5, split_seed=1)
    assert len(calls) == 4


def test_cache_of_a_folder(tmp_path, monkeypatch):
    root = write_files(tmp_path / "texts", {"train/pos/1.txt": "good film", "train/neg/1.txt": "bad film",
                                            "test/pos/1.txt": "great", "test/neg/1.txt": "awful"})
    first = load(root, tmp_path / "cache")
    with monkeypatch.context() as m:
        forbid(m, ranks, "rank_words")
        forbid(m, files, "read_folder")
        assert_same(load(root, tmp_path / "cache"), first)
    calls = _count_calls(monkeypatch, ranks, "rank_words")
    (root / "train" / "pos" / "1.txt").write_text("good film, really good")
    changed = load(root, tmp_path / "cache")
    assert len(calls) == 1 and "really" in changed.word_index
    (root / "train" / "neg" / "2.txt").write_text("dull")
    assert "dull" in load(root, tmp_path / "cache").word_index and len(calls) == 2


# ------------------------------------------------------------------ IMDB equivalence

# On fake_data.REVIEWS (review IDs out of lexical order, 10 after 9), on archives of them and on tiny_imdb.
@pytest.mark.parametrize("dataset, num_words", [("reviews", 10), ("reviews", 1000), ("archive", 10), ("archive", 1000),
                                                ("tiny_imdb", 15), ("tiny_imdb", 1000)])
def test_two_class_imdb_equals_imdb_load_data(tmp_path, request, dataset, num_words):
    if dataset == "tiny_imdb":
        source = request.getfixturevalue("tiny_imdb")
    else:
        source = write_files(tmp_path / "aclImdb", {f"{s}/{c}/{n}": t for (s, c), f in REVIEWS.items() for n, t in f.items()})
        if dataset == "archive":
            source = make_archive(tmp_path / "aclImdb_v1.tar.gz", source, "aclImdb")
    cache_dir = tmp_path / "cache"
    data = load(source, cache_dir, num_words=num_words)
    (x_train, y_train), (x_test, y_test) = imdb.load_data(source, num_words=num_words, cache_dir=cache_dir, verbose=False)
    imdb_index = imdb.get_word_index(source, cache_dir=cache_dir)
    assert data.classes == ["neg", "pos"]
    assert as_lists(data.x_train) == as_lists(x_train)
    np.testing.assert_array_equal(data.y_train, y_train)
    np.testing.assert_array_equal(data.y_validation, y_test)
    train_words = len(data.word_index)
    assert 0 < train_words <= len(imdb_index)
    if dataset != "tiny_imdb":
        assert train_words < len(imdb_index)  # the test reviews have words training lacks ("zzzunseen")
    if num_words - INDEX_FROM <= train_words:
        # Fewer ids than training words: both keep the same words, so everything is equal.
        assert as_lists(data.x_validation) == as_lists(x_test)
        assert data.num_words == num_words
        kept = lambda index: {w: r for w, r in index.items() if r < num_words - INDEX_FROM}  # noqa: E731
        assert kept(data.word_index) == kept(imdb_index)
    else:
        # More ids than words: imdb.load_data keeps the words only the test reviews have
        # (Keras's word index covers the test reviews, ranked after every training word),
        # while load_labelled keeps the training words only, as it must for new text, so
        # those words are oov there. Only the training arrays and words are the same;
        # the test arrays differ exactly by those ids.
        assert data.num_words == train_words + INDEX_FROM + 1
        assert data.word_index == {w: r for w, r in imdb_index.items() if r <= train_words}
        assert as_lists(data.x_validation) == [[OOV if i >= data.num_words else i for i in seq] for seq in x_test]
        assert (as_lists(data.x_validation) != as_lists(x_test)) == (train_words < len(imdb_index))



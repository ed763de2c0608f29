"""The IMDB loader: Keras's conventions from every form of the data, and the real archive.

Its cache is tested in test_imdb_cache.py, its errors in test_imdb_errors.py, the tokeniser's
own cases in test_tokenizer.py.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from itertools import chain
from pathlib import Path

import keras
import numpy as np
import pytest

from attention import imdb
from attention.imdb import DatasetError, get_word_index, load_data, texts_to_sequences, tokenize
from fake_data import (REVIEWS, as_lists, assert_same_data, canonical_texts, forbid, make_archive, make_folder,
                       reference_word_index, write_keras_npz)

REAL_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "aclImdb_v1-labeled.tar.gz"

pytestmark = pytest.mark.usefixtures("isolated_keras_home")


def patch_keras_download(monkeypatch, get_file) -> None:
    """Makes keras.datasets.imdb call `get_file` where it would download (the name it looks up)."""
    monkeypatch.setitem(keras.datasets.imdb.load_data.__globals__, "get_file", get_file)


# -------------------------------------------------------------------- raw conventions


def test_raw_folder_follows_keras_conventions(folder, cache):
    (x_train, y_train), (x_test, y_test) = load_data(folder, num_words=1000, cache_dir=cache, verbose=False)
    index = get_word_index(folder, cache_dir=cache)
    assert index == reference_word_index()
    assert index["great"] == 1  # the most frequent training word
    train_words = {t for text in canonical_texts()["train"][0] for t in tokenize(text)}
    assert "zzzunseen" not in train_words and index["zzzunseen"] > len(train_words)  # test-only words rank last
    for x in (x_train, y_train, x_test, y_test):
        assert isinstance(x, np.ndarray) and x.ndim == 1
    assert x_train.dtype == object and len(x_train) == 5 and len(x_test) == 4
    assert all(type(w) is int for w in x_train[0])
    assert sorted(y_train.tolist()) == [0, 0, 1, 1, 1] and sorted(y_test.tolist()) == [0, 0, 1, 1]
    inverse = {rank + 3: word for word, rank in index.items()}
    texts = {split: dict(zip(*canonical_texts()[split])) for split in ("train", "test")}
    for split, xs, ys in (("train", x_train, y_train), ("test", x_test, y_test)):
        decoded = {}
        for seq, label in zip(xs, ys):
            assert seq[0] == 1 and 0 not in seq and 2 not in seq[1:]
            decoded[" ".join(inverse[w] for w in seq[1:])] = int(label)
        # num_words=1000 keeps every word, test-only ones ("zzzunseen") included.
        expected = {" ".join(tokenize(text)): label for text, label in texts[split].items()}
        assert decoded == expected


def test_num_words_index_from_and_oov(folder, cache):
    index = get_word_index(folder, cache_dir=cache)
    (x_train, _), (x_test, _) = load_data(folder, num_words=6, index_from=2, cache_dir=cache, verbose=False)
    words = list(chain.from_iterable(x_train)) + list(chain.from_iterable(x_test))
    assert max(words) < 6 and 2 in words and 0 not in words
    # index_from=2: rank 1 ("great") is 3, ranks 1..3 fit below num_words=6.
    assert index["great"] + 2 == 3
    full = load_data(folder, num_words=None, index_from=2, cache_dir=cache, verbose=False)
    for cut, whole in zip(chain(x_train, x_test), chain(full[0][0], full[1][0])):
        assert cut == [w if w < 6 else 2 for w in whole]


def test_labels_follow_folders(folder, cache):
    (x_train, y_train), _ = load_data(folder, num_words=1000, cache_dir=cache, verbose=False)
    index = get_word_index(folder, cache_dir=cache)
    bad, boring = index["bad"] + 3, index["boring"] + 3
    for seq, label in zip(x_train, y_train):
        if bad in seq or boring in seq:
            assert label == 0
    assert y_train.dtype.kind == "i"


def test_ties_ranked_by_first_appearance(tmp_path, cache):
    reviews = {
        ("train", "neg"): {"2_1.txt": "zebra apple", "1_1.txt": "mango"},
        ("train", "pos"): {"1_9.txt": "apple kiwi zebra"},
        ("test", "neg"): {"1_2.txt": "kiwi"},
        ("test", "pos"): {"1_8.txt": "mango"},
    }
    root = make_folder(tmp_path / "ties", reviews)
    # neg/1_1 comes first (ID order), then neg/2_1, then pos/1_9.
    assert get_word_index(root, cache_dir=cache) == {"zebra": 1, "apple": 2, "mango": 3, "kiwi": 4}


def test_folder_archive_and_npz_give_identical_arrays(tmp_path, folder, archive, cache):
    npz = write_keras_npz(tmp_path / "imdb.npz")
    parent = tmp_path  # a folder containing aclImdb/
    for kwargs in ({}, {"num_words": 8, "seed": 7}, {"skip_top": 5, "index_from": 1}):
        from_folder = load_data(folder, cache_dir=cache, verbose=False, **kwargs)
        assert_same_data(from_folder, load_data(archive, cache_dir=cache, verbose=False, **kwargs))
        assert_same_data(from_folder, load_data(parent, cache_dir=cache, verbose=False, **kwargs))
        assert_same_data(from_folder, load_data(npz, verbose=False, **kwargs))


def test_archive_under_any_name_and_root(tmp_path, folder, cache):
    expected = load_data(folder, cache_dir=cache, verbose=False)
    plain_tar = tmp_path / "reviews.tar"
    with tarfile.open(plain_tar, "w") as tar:
        tar.add(folder, arcname=".")  # no aclImdb/ prefix
    tgz = make_archive(tmp_path / "data.tgz", folder, arcname="imdb/aclImdb")
    for path in (plain_tar, tgz):
        assert_same_data(expected, load_data(path, cache_dir=cache, verbose=False))


def test_other_folders_and_files_are_ignored(tmp_path, folder, cache):
    expected = load_data(folder, cache_dir=cache, verbose=False)
    (folder / "train" / "unsup").mkdir()
    (folder / "train" / "unsup" / "1_0.txt").write_text("unsupervised words everywhere")
    (folder / "train" / "pos" / "urls_pos.lst").write_text("http://example.com")
    (folder / "imdb.vocab").write_text("the\nand\n")
    (folder / "train" / "labeledBow.feat").write_text("0:1")
    assert_same_data(expected, load_data(folder, cache_dir=cache, verbose=False))
    archive = make_archive(tmp_path / "a.tar.gz", folder)
    assert_same_data(expected, load_data(archive, cache_dir=cache, verbose=False))


def test_invalid_utf8_is_replaced(tmp_path, cache):
    reviews = {key: dict(files) for key, files in REVIEWS.items()}
    reviews[("train", "pos")]["4_9.txt"] = b"Great \xff\xfe caf\xc3"
    root = make_folder(tmp_path / "aclImdb", reviews)
    index = get_word_index(root, cache_dir=cache)
    assert "\ufffd" in index
    (x_train, _), _ = load_data(root, num_words=None, cache_dir=cache, verbose=False)
    assert len(x_train) == 6
    archive = make_archive(tmp_path / "bad_utf8.tar.gz", root)
    assert get_word_index(archive, cache_dir=cache) == index


def test_maxlen_drops_long_reviews(folder, cache):
    (x_train, y_train), (x_test, y_test) = load_data(folder, maxlen=8, cache_dir=cache, verbose=False)
    assert all(len(x) < 8 for x in chain(x_train, x_test))
    assert len(x_train) == len(y_train) < 5
    with pytest.raises(DatasetError, match="maxlen"):
        load_data(folder, maxlen=2, cache_dir=cache, verbose=False)


# ------------------------------------------------------------- npz and Keras's loader


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"num_words": 7},
        {"num_words": None},
        {"num_words": 9, "skip_top": 4, "index_from": 0},
        {"maxlen": 9, "seed": 3},
        {"start_char": None, "oov_char": None, "num_words": 8},
        {"start_char": 5, "oov_char": 4, "index_from": 6, "num_words": 12},
    ],
)
def test_npz_matches_keras_loader(tmp_path, monkeypatch, kwargs):
    npz = write_keras_npz(tmp_path / "imdb.npz")
    patch_keras_download(monkeypatch, lambda *args, **kw: str(npz))
    params = {"num_words": 10000, "index_from": 3, **kwargs}
    expected = keras.datasets.imdb.load_data(**params)
    assert_same_data(expected, load_data(npz, **params))
    # path=None goes through Keras when ./imdb/imdb.npz does not exist.
    monkeypatch.chdir(tmp_path)
    assert_same_data(expected, load_data(None, **params))


def test_keras_loader_maxlen_error_is_a_dataset_error(tmp_path, monkeypatch):
    npz = write_keras_npz(tmp_path / "imdb.npz")
    patch_keras_download(monkeypatch, lambda *args, **kw: str(npz))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match="Increase maxlen") as err:
        load_data(maxlen=2)
    assert "download" not in str(err.value)


def test_default_path_prefers_local_npz(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise AssertionError("must not download")

    patch_keras_download(monkeypatch, offline)
    (tmp_path / "imdb").mkdir()
    npz = write_keras_npz(tmp_path / "imdb" / "imdb.npz")
    (tmp_path / "imdb" / imdb.WORD_INDEX_JSON).write_text(json.dumps(reference_word_index()))
    monkeypatch.chdir(tmp_path)
    assert_same_data(load_data(npz), load_data())
    assert get_word_index() == reference_word_index()
    assert_same_data(load_data(npz), load_data(tmp_path / "imdb"))  # a folder holding imdb.npz


def test_exported_npz_loads_as_its_source(tmp_path, archive, cache):
    imdb.export_npz(archive, tmp_path / "out" / "imdb.npz", cache_dir=cache)  # out/ is made
    assert_same_data(load_data(tmp_path / "out" / "imdb.npz"), load_data(archive, cache_dir=cache, verbose=False))
    assert get_word_index(tmp_path / "out" / "imdb.npz") == get_word_index(archive, cache_dir=cache)
    with pytest.raises(DatasetError, match="nothing to export"):
        imdb.export_npz(tmp_path / "out" / "imdb.npz", tmp_path / "again.npz")


def test_word_index_of_npz_needs_json(tmp_path):
    npz = write_keras_npz(tmp_path / "imdb.npz")
    with pytest.raises(DatasetError, match=imdb.WORD_INDEX_JSON):
        get_word_index(npz)
    (tmp_path / imdb.WORD_INDEX_JSON).write_text('{"great": 1, "bad": 2}')
    assert get_word_index(npz) == {"great": 1, "bad": 2}
    (tmp_path / imdb.WORD_INDEX_JSON).write_text('["not", "a", "dict"]')
    with pytest.raises(DatasetError, match="map words"):
        get_word_index(npz)


def test_word_index_of_each_raw_source(folder, archive, cache):
    expected = reference_word_index()
    assert get_word_index(folder, cache_dir=cache) == expected
    assert get_word_index(archive, cache_dir=cache) == expected
    assert get_word_index(folder.parent, cache_dir=cache) == expected


def test_keras_word_index_is_passed_through(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(keras.datasets.imdb, "get_word_index", lambda *a, **k: {"the": 1})
    assert get_word_index() == {"the": 1}


@pytest.mark.parametrize("function", [load_data, get_word_index])
def test_no_network_names_the_data_option(tmp_path, monkeypatch, function):
    def offline(fname=None, origin=None, **kwargs):
        raise Exception(
            f"URL fetch failure on {origin}: None -- [Errno -3] Temporary failure in name resolution"
        )

    patch_keras_download(monkeypatch, offline)
    monkeypatch.chdir(tmp_path)  # no ./imdb/imdb.npz here
    with pytest.raises(DatasetError) as err:
        function()
    message = str(err.value)
    assert "--data" in message and "imdb.npz" in message
    assert "aclImdb/" in message and "aclImdb_v1.tar.gz" in message
    assert "name resolution" in message


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "partial.npz", x_train=np.arange(3))
    with pytest.raises(DatasetError, match="lacks the arrays y_train, x_test, y_test"):
        load_data(tmp_path / "partial.npz")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DatasetError, match="not a readable .npz"):
        load_data(tmp_path / "broken.npz")
    x = np.empty(2, dtype=object)
    x[:] = [[1, 2], [3]]
    np.savez(tmp_path / "short.npz", x_train=x, y_train=np.array([1]), x_test=x, y_test=np.array([0, 1]))
    with pytest.raises(DatasetError, match="same length"):
        load_data(tmp_path / "short.npz")


def test_npz_with_malicious_pickle_is_refused(tmp_path):
    import pickle
    import zipfile

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    with zipfile.ZipFile(tmp_path / "evil.npz", "w") as zf:
        for key in ("x_train", "y_train", "x_test", "y_test"):
            zf.writestr(f"{key}.npy", header.getvalue() + pickle.dumps(Evil()))
    with pytest.raises(DatasetError, match="refusing"):
        load_data(tmp_path / "evil.npz")


# ------------------------------------------------------------------ texts_to_sequences


def test_texts_to_sequences_matches_load_data(folder, cache):
    index = get_word_index(folder, cache_dir=cache)
    texts = canonical_texts()
    for params in (
        {},
        {"num_words": 7},
        {"num_words": 9, "index_from": 1, "start_char": 3, "oov_char": 0},
        {"num_words": 8, "skip_top": 5, "oov_char": None},
        {"skip_top": 2},  # as in Keras, the start mark 1 becomes oov too
    ):
        (x_train, _), (x_test, _) = load_data(folder, cache_dir=cache, verbose=False, **params)
        for split, xs in (("train", x_train), ("test", x_test)):
            encoded = texts_to_sequences(texts[split][0], index, **params)
            assert sorted(encoded) == sorted(as_lists(xs))


def test_texts_to_sequences_unknown_and_oov_words():
    index = {"great": 1, "movie": 2, "plot": 40}
    # "," and "!" are unknown: out-of-vocabulary, as rare words are.
    assert texts_to_sequences(["Great MOVIE, great plot!"], index) == [[1, 4, 5, 2, 4, 43, 2]]
    assert texts_to_sequences(["Great MOVIE, great plot!"], index, oov_char=None) == [[1, 4, 5, 4, 43]]
    assert texts_to_sequences(["great plot"], index, num_words=10) == [[1, 4, 2]]
    assert texts_to_sequences(["great plot"], index, num_words=10, oov_char=None, start_char=None) == [[4]]
    assert texts_to_sequences([""], index) == [[1]]
    assert texts_to_sequences(["great movie"], index, skip_top=5) == [[2, 2, 5]]
    with pytest.raises(TypeError):
        texts_to_sequences("great movie", index)


# ------------------------------------------------------------------------ integration


@pytest.mark.skipif(not REAL_ARCHIVE.is_file(), reason=f"the real IMDB archive is not at {REAL_ARCHIVE}")
# The loader is NumPy and Python, with no Keras backend in it: one run of the 50,000 reviews
# (20 to 25 s) covers every backend, and the fake archives above run on each of them.
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the loader is the same on every backend")
def test_integration_real_archive(tmp_path, monkeypatch):
    (x_train, y_train), (x_test, y_test) = load_data(REAL_ARCHIVE, cache_dir=tmp_path, verbose=False)
    assert len(x_train) == len(y_train) == 25000 and len(x_test) == len(y_test) == 25000
    assert np.bincount(y_train).tolist() == [12500, 12500] and np.bincount(y_test).tolist() == [12500, 12500]
    for xs in (x_train, x_test):
        assert all(seq[0] == 1 for seq in xs)
        words = np.fromiter(chain.from_iterable(xs), dtype=np.int64)
        assert words.min() == 1 and words.max() < 10000 and np.count_nonzero(words == 2) > 0
    word_index = get_word_index(REAL_ARCHIVE, cache_dir=tmp_path)
    assert min(word_index, key=word_index.get) == "the" and len(word_index) > 50000
    # A review read straight from the archive encodes to one of the loaded sequences.
    with tarfile.open(REAL_ARCHIVE) as tar:
        member = next(m for m in tar if m.isfile() and "/train/pos/" in m.name)
        text = tar.extractfile(member).read().decode("utf-8", "replace")
    (encoded,) = texts_to_sequences([text], word_index)
    assert tuple(encoded) in {tuple(seq) for seq in x_train}
    forbid(monkeypatch, imdb, "_encode")  # the second load reads the cache
    cached = load_data(REAL_ARCHIVE, cache_dir=tmp_path, verbose=False)
    assert_same_data(((x_train, y_train), (x_test, y_test)), cached)

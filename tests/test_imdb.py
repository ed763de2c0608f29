"""The IMDB loader: Keras's conventions from every form of the data, the cache, the errors."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import time
import zlib
from collections import Counter
from itertools import chain
from pathlib import Path

import keras
import numpy as np
import pytest

from attention import imdb
from attention.data import cache as data_cache
from attention.imdb import DatasetError, get_word_index, load_data, texts_to_sequences, tokenize

REAL_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "aclImdb_v1-labeled.tar.gz"

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
    for (split, label), files in reviews.items():
        d = root / split / label
        d.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (d / name).write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return root


def make_archive(path: Path, folder: Path, arcname: str = "aclImdb") -> Path:
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


def patch_keras_download(monkeypatch, get_file) -> None:
    """Makes keras.datasets.imdb call `get_file` where it would download (the name it looks up)."""
    monkeypatch.setitem(keras.datasets.imdb.load_data.__globals__, "get_file", get_file)


def as_lists(x: np.ndarray) -> list[list[int]]:
    return [list(seq) for seq in x]


def assert_same_data(a, b) -> None:
    (xa, ya), (xta, yta) = a
    (xb, yb), (xtb, ytb) = b
    assert as_lists(xa) == as_lists(xb) and as_lists(xta) == as_lists(xtb)
    np.testing.assert_array_equal(ya, yb)
    np.testing.assert_array_equal(yta, ytb)


@pytest.fixture(autouse=True)
def isolated_keras_home(tmp_path_factory, monkeypatch):
    """Keeps every default cache out of the real ~/.keras."""
    home = tmp_path_factory.mktemp("keras_home")
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


@pytest.fixture
def folder(tmp_path) -> Path:
    return make_folder(tmp_path / "aclImdb")


@pytest.fixture
def archive(tmp_path, folder) -> Path:
    return make_archive(tmp_path / "aclImdb_v1.tar.gz", folder)


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


def cache_files(cache: Path) -> list[Path]:
    return sorted((cache / imdb.CACHE_SUBDIR).glob("*")) if (cache / imdb.CACHE_SUBDIR).exists() else []


# The tokeniser's own cases are in test_tokenizer.py.



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
    (tmp_path / "out").mkdir()
    imdb.export_npz(archive, tmp_path / "out" / "imdb.npz", cache_dir=cache)
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


# ------------------------------------------------------------------------------- cache


def test_cache_hit_skips_tokenisation(folder, archive, cache, monkeypatch):
    first = load_data(archive, cache_dir=cache, verbose=False)
    folder_first = load_data(folder, cache_dir=cache, verbose=False)
    assert len(cache_files(cache)) == 2

    def no_tokenising(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(imdb, "_encode", no_tokenising)
    assert_same_data(first, load_data(archive, cache_dir=cache, verbose=False))
    assert_same_data(folder_first, load_data(folder, cache_dir=cache, verbose=False))
    renamed = archive.rename(archive.parent / "renamed.tar.gz")  # keyed by content, not name
    assert_same_data(first, load_data(renamed, cache_dir=cache, verbose=False))


def test_cache_key_follows_content(tmp_path, folder, cache):
    archive = make_archive(tmp_path / "a.tar.gz", folder)
    load_data(archive, cache_dir=cache, verbose=False)
    load_data(folder, cache_dir=cache, verbose=False)
    review = folder / "test" / "neg" / "7_4.txt"
    review.write_text("great great great")
    index = get_word_index(folder, cache_dir=cache)
    (_, _), (x_test, y_test) = load_data(folder, num_words=None, cache_dir=cache, verbose=False)
    assert [1] + [index["great"] + 3] * 3 in as_lists(x_test)
    make_archive(archive, folder)  # same name, new content
    (_, _), (x_test2, _) = load_data(archive, num_words=None, cache_dir=cache, verbose=False)
    assert as_lists(x_test2) == as_lists(x_test)
    assert len(cache_files(cache)) == 4
    # Same size, new mtime: the folder is re-read too.
    os.utime(review, ns=(time.time_ns(), time.time_ns() + 10**9))
    load_data(folder, cache_dir=cache, verbose=False)
    assert len(cache_files(cache)) == 5


def test_default_cache_dir_is_under_keras_home(folder, isolated_keras_home):
    load_data(folder, verbose=False)
    assert len(list((isolated_keras_home / "datasets" / imdb.CACHE_SUBDIR).glob("folder-*.npz"))) == 1


def test_interrupted_cache_write_leaves_no_cache(archive, cache, monkeypatch):
    def interrupted(f, payload):
        f.write(b"PK\x03\x04 half of a cache file")
        raise KeyboardInterrupt

    monkeypatch.setattr(data_cache, "save_arrays", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_data(archive, cache_dir=cache, verbose=False)
    assert cache_files(cache) == []  # neither a final nor a temporary file
    monkeypatch.undo()
    data = load_data(archive, cache_dir=cache, verbose=False)
    assert [p.suffix for p in cache_files(cache)] == [".npz"]
    assert_same_data(data, load_data(archive, cache_dir=cache, verbose=False))


def test_unwritable_cache_only_warns(folder, tmp_path, monkeypatch):
    def disk_full(f, payload):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(data_cache, "save_arrays", disk_full)
    with pytest.warns(UserWarning, match="Could not cache"):
        (x_train, _), _ = load_data(folder, cache_dir=tmp_path / "c", verbose=False)
    assert len(x_train) == 5
    assert cache_files(tmp_path / "c") == []


@pytest.mark.parametrize("damage", ["garbage", "truncated", "inconsistent"])
def test_corrupt_cache_is_rebuilt(archive, cache, monkeypatch, damage):
    expected = load_data(archive, cache_dir=cache, verbose=False)
    (cache_file,) = cache_files(cache)
    if damage == "garbage":
        cache_file.write_bytes(b"\x00garbage" * 100)
    elif damage == "truncated":
        cache_file.write_bytes(cache_file.read_bytes()[:300])
    else:
        with np.load(cache_file) as npz:
            payload = dict(npz)
        payload["train_ranks"] = payload["train_ranks"][:-1]
        np.savez(cache_file, **payload)
    calls = []
    real_encode = imdb._encode
    monkeypatch.setattr(imdb, "_encode", lambda *a, **k: calls.append(1) or real_encode(*a, **k))
    assert_same_data(expected, load_data(archive, cache_dir=cache, verbose=False))
    assert calls == [1]
    assert_same_data(expected, load_data(archive, cache_dir=cache, verbose=False))
    assert calls == [1]  # the rebuilt cache is good


# ------------------------------------------------------------------------------ errors


def test_missing_path(tmp_path):
    with pytest.raises(DatasetError, match="does not exist.*--data"):
        load_data(tmp_path / "nowhere" / "aclImdb_v1.tar.gz")
    with pytest.raises(DatasetError, match="does not exist"):
        get_word_index(tmp_path / "nowhere")


def test_folder_without_train_and_test(tmp_path, cache):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="without train/ and test/"):
        load_data(tmp_path / "empty", cache_dir=cache)
    make_folder(tmp_path / "half", {("train", "pos"): {"1_9.txt": "x"}, ("train", "neg"): {"2_1.txt": "y"}})
    with pytest.raises(DatasetError, match="no test/ folder"):
        load_data(tmp_path / "half", cache_dir=cache)


@pytest.mark.parametrize("how", ["missing", "empty", "no_txt"])
def test_empty_split(tmp_path, cache, how):
    reviews = {key: files for key, files in REVIEWS.items() if key != ("test", "pos")}
    root = make_folder(tmp_path / "aclImdb", reviews)
    if how != "missing":
        (root / "test" / "pos").mkdir()
    if how == "no_txt":
        (root / "test" / "pos" / "README").write_text("no reviews here")
    with pytest.raises(DatasetError, match="no reviews in test/pos/"):
        load_data(root, cache_dir=cache, verbose=False)
    archive = make_archive(tmp_path / "a.tar.gz", root)
    with pytest.raises(DatasetError, match="no reviews in test/pos/"):
        load_data(archive, cache_dir=cache, verbose=False)
    assert cache_files(cache) == []


@pytest.mark.parametrize("keep", [0.3, 0.9, -10])
def test_truncated_archive(archive, cache, keep):
    data = archive.read_bytes()
    archive.write_bytes(data[: int(len(data) * keep)] if keep > 0 else data[:keep])
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        load_data(archive, cache_dir=cache, verbose=False)
    assert cache_files(cache) == []


def test_truncated_plain_tar(tmp_path, folder, cache):
    tar_path = tmp_path / "a.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(folder, arcname="aclImdb")
    # Cut inside the last review: an uncompressed tar has no checksum to notice it.
    tar_path.write_bytes(tar_path.read_bytes().rstrip(b"\0")[:-5])
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        load_data(tar_path, cache_dir=cache, verbose=False)


def test_corrupt_archive(tmp_path, cache):
    (tmp_path / "junk.tar.gz").write_bytes(os.urandom(4096))
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        load_data(tmp_path / "junk.tar.gz", cache_dir=cache, verbose=False)
    good = make_archive(tmp_path / "good.tar.gz", make_folder(tmp_path / "f")).read_bytes()
    # Not every flipped byte changes what deflate decodes: flipping the middle one of 300 fresh
    # archives (their headers hold times) left 6 decoding to the same bytes, CRC and all. So
    # flip the first one from the middle on that gzip itself rejects; and one of the CRC
    # trailer's, which only reading on to the end of the stream checks.
    middle = next(i for i in range(len(good) // 2, len(good) - 8) if not gzip_accepts(flipped(good, i)))
    for position in (middle, len(good) - 8):
        (tmp_path / "flip.tar.gz").write_bytes(flipped(good, position))
        with pytest.raises(DatasetError, match="truncated or corrupt"):
            load_data(tmp_path / "flip.tar.gz", cache_dir=cache, verbose=False)
    assert cache_files(cache) == []


def flipped(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1 :]


def gzip_accepts(data: bytes) -> bool:
    try:
        gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        return False
    return True


def test_archive_without_reviews(tmp_path, cache):
    with tarfile.open(tmp_path / "other.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("something/else.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    with pytest.raises(DatasetError, match="no aclImdb/train/ and aclImdb/test/"):
        load_data(tmp_path / "other.tar.gz", cache_dir=cache, verbose=False)


@pytest.mark.parametrize("name", ["aclImdb/../../evil.txt", "/etc/evil.txt", "../aclImdb/train/pos/1_1.txt"])
def test_archive_member_escaping_the_folder(tmp_path, folder, cache, name):
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname="aclImdb")
        info = tarfile.TarInfo(name)
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(DatasetError, match="escapes"):
        load_data(path, cache_dir=cache, verbose=False)
    assert not (tmp_path.parent / "evil.txt").exists()
    assert cache_files(cache) == []


def test_unknown_file_type(tmp_path):
    (tmp_path / "reviews.csv").write_text("text,label\ngreat,1\n")
    with pytest.raises(DatasetError, match="neither an .npz file, a tar archive nor a folder"):
        load_data(tmp_path / "reviews.csv")


def test_dataset_error_is_a_value_error():
    assert issubclass(DatasetError, ValueError)


def test_verbose_reports_progress(folder, cache, capsys):
    load_data(folder, cache_dir=cache, verbose=True)
    err = capsys.readouterr().err
    assert "Tokenising 9 reviews" in err and "Cached" in err
    load_data(folder, cache_dir=cache, verbose=False)
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------------ integration


@pytest.mark.skipif(not REAL_ARCHIVE.is_file(), reason=f"the real IMDB archive is not at {REAL_ARCHIVE}")
def test_integration_real_archive(tmp_path):
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
    start = time.perf_counter()
    cached = load_data(REAL_ARCHIVE, cache_dir=tmp_path, verbose=False)
    assert time.perf_counter() - start < 10  # generous; about 0.7 s when the machine is idle
    assert_same_data(((x_train, y_train), (x_test, y_test)), cached)

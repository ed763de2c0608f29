"""The IMDB loader's cache: a hit skips tokenising, keys follow content, a bad cache is rebuilt."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from attention import imdb
from attention.data import cache as data_cache
from attention.imdb import get_word_index, load_data
from fake_data import as_lists, assert_same_data, cache_files, forbid, make_archive

pytestmark = pytest.mark.usefixtures("isolated_keras_home")


def test_cache_hit_skips_tokenisation(folder, archive, cache, monkeypatch):
    first = load_data(archive, cache_dir=cache, verbose=False)
    folder_first = load_data(folder, cache_dir=cache, verbose=False)
    assert len(cache_files(cache)) == 2

    forbid(monkeypatch, imdb, "_encode")
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

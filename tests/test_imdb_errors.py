"""The IMDB loader's errors: missing, empty, truncated, corrupt or hostile data is a `DatasetError`
that says what is wrong, and leaves no cache behind."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zlib

import pytest

from attention.imdb import DatasetError, get_word_index, load_data
from fake_data import REVIEWS, cache_files, make_archive, make_folder

pytestmark = pytest.mark.usefixtures("isolated_keras_home")


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

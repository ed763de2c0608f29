"""attention.data.sources.files: an archive of class folders gives what the folder it holds gives,
however it was archived, with links, hidden files, folders inside class folders and the
Stanford archive's unlabelled train/unsup."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from attention.data import DatasetError, imdb
from attention.data.sources import open_source
from fake_data import as_lists, load, write_files

pytestmark = pytest.mark.usefixtures("isolated_keras_home")

NOT_UTF8 = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \xff\xfe"  # the start of a macOS ._ file


def links(root: Path) -> None:
    write_files(root, {"neg/1_1.txt": "awful", "neg/2_2.txt": "dull", "pos/1_9.txt": "great"})
    os.link(root / "neg" / "2_2.txt", root / "pos" / "2_8.txt")  # a hard link: tar stores it as a link member
    os.symlink("../neg/1_1.txt", root / "pos" / "3_7.txt")
    os.symlink("../neg/nowhere.txt", root / "pos" / "4_7.txt")  # a link to nothing is not a text


def nested(root: Path) -> None:
    write_files(root, {"neg/1_1.txt": "awful", "pos/1_9.txt": "great", "pos/drafts/a/1.txt": "draft",
                       "pos/drafts/b/1.txt": "draft", "neg/.ipynb_checkpoints/1_1-checkpoint.txt": "awful"})


def hidden(root: Path) -> None:
    write_files(root, {"neg/1_1.txt": "awful", "pos/1_9.txt": "great", "neg/._1_1.txt": NOT_UTF8,
                       ".hidden/1.txt": "not a class", ".DS_Store": NOT_UTF8})


def stanford(root: Path) -> None:
    write_files(root, {"README": "Large Movie Review Dataset", "imdb.vocab": "the\nand\n",
                       "train/neg/1_1.txt": "awful", "train/pos/1_9.txt": "great", "train/urls_neg.txt": "http://x",
                       "train/unsup/1_0.txt": "no label", "train/unsup/2_0.txt": "none either",
                       "test/neg/1_2.txt": "dull", "test/pos/1_8.txt": "good"})


def readme(root: Path) -> None:
    write_files(root, {"README.txt": "two classes", "neg/1_1.txt": "awful", "pos/1_9.txt": "great"})


# layout -> (how to write it, {split: the labels read, in order})
LAYOUTS = {
    "links": (links, {"": ["neg", "neg", "pos", "pos", "pos"]}),
    "nested": (nested, {"": ["neg", "pos"]}),
    "hidden": (hidden, {"": ["neg", "pos"]}),
    "stanford": (stanford, {"train": ["neg", "pos"], "test": ["neg", "pos"]}),
    "readme": (readme, {"": ["neg", "pos"]}),
}


def read(source: Path) -> dict[str, tuple[list[str], list[str]]]:
    return {split: (r.texts, r.labels) for split, r in open_source(source).read(verbose=False).items()}


def archive(path: Path, folder: Path, arcname: str) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname=arcname)
    return path


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("arcname", ["texts", ".", "home/user/data/texts"])
def test_an_archive_reads_as_the_folder_it_holds(layout, arcname, tmp_path):
    write, labels = LAYOUTS[layout]
    root = tmp_path / "texts"
    root.mkdir()
    write(root)
    from_folder = read(root)
    assert {split: got for split, (_, got) in from_folder.items()} == labels
    assert read(archive(tmp_path / "texts.tar.gz", root, arcname)) == from_folder


@pytest.mark.parametrize("beside", [{"extras/notes.md": "not data"}, {"docs/img/a.png": NOT_UTF8, "LICENSE": "MIT"}])
@pytest.mark.parametrize("layout", ["stanford", "readme"])
def test_a_folder_without_texts_beside_the_data_is_not_data(layout, beside, tmp_path):
    parent = tmp_path / "parent"
    LAYOUTS[layout][0](parent / "texts")
    write_files(parent, beside)
    assert read(archive(tmp_path / "texts.tar.gz", parent, ".")) == read(parent / "texts")


def test_the_stanford_archive_with_a_folder_beside_it_loads_as_imdb(tmp_path):
    parent = tmp_path / "parent"
    stanford(parent / "aclImdb")
    write_files(parent, {"extras/notes.md": "not data"})
    (x, y), (x_test, y_test) = imdb.load_data(archive(tmp_path / "a.tar.gz", parent, "."), cache_dir=tmp_path / "c1",
                                              verbose=False)
    (x_folder, y_folder), (x_test_folder, y_test_folder) = imdb.load_data(parent / "aclImdb", cache_dir=tmp_path / "c2",
                                                                          verbose=False)
    assert (as_lists(x), as_lists(x_test)) == (as_lists(x_folder), as_lists(x_test_folder)) and len(x) == 2
    assert (y.tolist(), y_test.tolist()) == (y_folder.tolist(), y_test_folder.tolist())


def test_a_lone_class_folder_with_a_folder_inside_is_a_class(tmp_path):
    root = write_files(tmp_path / "texts", {"pos/1_9.txt": "great", "pos/old/1_8.txt": "good"})
    assert read(root) == {"": (["great"], ["pos"])}
    assert read(archive(tmp_path / "texts.tar.gz", root, "texts")) == read(root)


def test_links_are_read_as_the_files_they_name(tmp_path):
    root = tmp_path / "texts"
    root.mkdir()
    links(root)
    texts, labels = read(archive(tmp_path / "texts.tar", root, "texts"))[""]
    assert list(zip(labels, texts))[2:] == [("pos", "great"), ("pos", "dull"), ("pos", "awful")]


def test_an_archived_folder_named_test_is_that_folder(tmp_path):
    # Not a split layout holding only test/: that would hold nothing to train on.
    root = write_files(tmp_path / "test", {"neg/1_1.txt": "awful", "neg/2_2.txt": "dull", "pos/1_9.txt": "great",
                                           "pos/2_8.txt": "good"})
    assert read(archive(tmp_path / "test.tar.gz", root, "test")) == read(root)
    data = load(tmp_path / "test.tar.gz", tmp_path / "cache", validation_split=0.5)
    assert (data.classes, len(data.x_train), len(data.x_validation)) == (["neg", "pos"], 2, 2)


@pytest.mark.parametrize("form", ["folder", "archive"])
def test_unsup_is_a_class_only_when_named(form, tmp_path):
    root = tmp_path / "aclImdb"
    root.mkdir()
    stanford(root)
    source = root if form == "folder" else archive(tmp_path / "aclImdb_v1.tar.gz", root, "aclImdb")
    assert load(source, tmp_path / "cache").classes == ["neg", "pos"]
    texts = open_source(source, classes=["neg", "unsup"], strict=False).read(verbose=False)["train"]
    assert texts.labels == ["neg", "unsup", "unsup"]


@pytest.mark.parametrize("form", ["folder", "archive"])
def test_a_class_folder_whose_name_is_not_utf8(form, tmp_path):
    root = write_files(tmp_path / "texts", {"ok/1.txt": "fine"})
    os.mkdir(os.fsencode(root) + b"/caf\xe9")
    (root / os.fsdecode(b"caf\xe9") / "1.txt").write_text("good")
    source = root if form == "folder" else archive(tmp_path / "texts.tar", root, "texts")
    with pytest.raises(DatasetError, match=r"b'caf\\xe9' has a name that is not UTF-8; rename it"):
        read(source)

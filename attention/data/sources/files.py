"""Texts stored one per ``.txt`` file, in one folder per class: a folder, or an archive of one.

The layout of ``keras.utils.text_dataset_from_directory``, ``ROOT/CLASS/*.txt``, or split
into ``ROOT/train/CLASS/*.txt`` and ``ROOT/test/CLASS/*.txt`` as the Stanford IMDB
archive is. An archive (``.tar``, ``.tar.gz``...) is read in place, never extracted, and
gives what the folder it holds gives. Classes are read in sorted order (or the order
asked for), each class's files by the number their name starts with (``ID_RATING.txt``),
then by name. Hidden files and folders (names starting with ``.``: macOS's ``._`` copies,
``.ipynb_checkpoints``), folders inside class folders and the Stanford archive's
unlabelled ``unsup`` folder are not read, unless ``classes`` names such a folder.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import tarfile
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from tqdm import tqdm

from attention.data.errors import DatasetError
from attention.data.sources.records import Records, decode

SPLITS = ("train", "test")
NO_SPLIT = ""  # the split of a layout without train/ and test/
UNLABELLED = "unsup"  # the Stanford archive's train/unsup: 50,000 reviews without a label
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")

# (split, class) -> [(file name, stat)], in reading order.
Listing = dict[tuple[str, str], list[tuple[str, os.stat_result]]]


def is_archive(path: Path, head: bytes) -> bool:
    """Whether a file is a tar archive, from its name or its first 512 bytes."""
    return path.name.lower().endswith(ARCHIVE_SUFFIXES) or head.startswith(_COMPRESSED) or head[257:262] == b"ustar"


def file_order(name: str) -> tuple[int, int, str]:
    """Files sort by the number their name starts with, so ``10_7.txt`` follows ``9_3.txt``."""
    head = name.split("_", 1)[0].split(".", 1)[0]
    return (0, int(head), name) if head.isascii() and head.isdigit() else (1, 0, name)


def is_text_file(name: str) -> bool:
    """Whether a file of a class folder is one of its texts: a ``.txt`` file, not hidden."""
    return name.endswith(".txt") and not name.startswith(".")


def class_folders(names: Iterable[str], where: str) -> list[str]:
    """Which of a folder's sub-folders are classes when none are named: all but hidden ones and ``unsup``, sorted.

    Raises:
        DatasetError: A class folder's name is not UTF-8 (it could not be saved with the model).
    """
    classes = sorted(n for n in names if _may_be_class(n, None))
    for name in classes:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise DatasetError(
                f"{where}: the class folder {os.fsencode(name)!r} has a name that is not UTF-8; rename it."
            ) from None
    return classes


def _sub_folders(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as it:
            return [e.name for e in it if e.is_dir()]
    except OSError as e:
        raise DatasetError(f"Cannot list {folder}: {e.strerror or e}.") from e


def list_folder(root: Path, classes: Sequence[str] | None = None) -> Listing:
    """Lists the ``.txt`` files of each (split, class) of a folder.

    Args:
        root: The folder: it holds ``train/`` (and ``test/``), or the class folders.
        classes: Only these class folders, in this order (listed even when absent or
            empty); ``None``: every sub-folder but hidden ones and ``unsup``, sorted.
    """
    splits = [s for s in SPLITS if (root / s).is_dir()] or [NO_SPLIT]
    listing: Listing = {}
    for split in splits:
        folder = root / split
        for name in classes if classes is not None else class_folders(_sub_folders(folder), str(folder)):
            files = []
            if (folder / name).is_dir():
                try:
                    with os.scandir(folder / name) as it:  # is_file() follows links, as reading does
                        files = [(e.name, e.stat()) for e in it if is_text_file(e.name) and e.is_file()]
                except OSError as e:
                    raise DatasetError(f"Cannot list {folder / name}: {e.strerror or e}.") from e
            files.sort(key=lambda item: file_order(item[0]))
            listing[(split, name)] = files
    return listing


def folder_digest(listing: Listing) -> str:
    """A fingerprint of a folder's files (names, sizes, times): a cache key that needs no reading."""
    lines = [
        f"{split}/{name}/{file}\0{st.st_size}\0{st.st_mtime_ns}\n"
        for (split, name), files in sorted(listing.items())
        for file, st in files
    ]
    return hashlib.sha256("".join(lines).encode("utf-8", errors="surrogateescape")).hexdigest()


def read_folder(root: Path, listing: Listing, strict: bool = True, verbose: bool = True) -> dict[str, Records]:
    """Reads the listed files: one :class:`Records` per split, labelled by class folder."""
    out: dict[str, Records] = {}
    total = sum(len(files) for files in listing.values())
    with tqdm(total=total, unit=" files", desc=f"Reading {root.name}", disable=not verbose or not total) as bar:
        for (split, name), files in listing.items():
            records = out.setdefault(split, Records(origin=str(root)))
            if strict and not files and split != "test":
                raise DatasetError(_no_examples(root / split / name, name))
            for file, _ in files:
                relative = posixpath.join(split, name, file) if split else posixpath.join(name, file)
                try:
                    data = (root / relative).read_bytes()
                except OSError as e:
                    raise DatasetError(f"Cannot read {root / relative}: {e.strerror or e}.") from e
                records.append(decode(data, str(root / relative), strict), name, relative)
                bar.update()
    return out


def _member_path(member: tarfile.TarInfo, archive: Path) -> str:
    """The member's normalised path, refusing paths that leave the archive's folder."""
    name = member.name.replace("\\", "/")
    norm = posixpath.normpath(name)
    if name.startswith("/") or re.match(r"[A-Za-z]:", name) or norm == ".." or norm.startswith("../"):
        raise DatasetError(
            f"{archive} contains the member {member.name!r}, whose path escapes the archive's "
            f"folder; refusing to read it."
        )
    return norm


def _no_examples(folder: str | Path, name: str) -> str:
    return f"{folder} holds no .txt files: the class {name!r} has no examples."


def read_archive(
    path: Path, classes: Sequence[str] | None = None, strict: bool = True, verbose: bool = True
) -> dict[str, Records]:
    """Reads the folder of class folders inside a tar archive as :func:`read_folder` reads it.

    The archive holds that folder at its top (``tar -C texts -czf texts.tar.gz .``), or
    below it (``tar -czf texts.tar.gz texts``, which is how the Stanford archive holds
    ``aclImdb/``; an absolute path's folders): see ``_archive_root``. Links
    to files inside the archive are read as the files they name, as a folder's are (a link
    to a folder, or to a file outside the archive, is not followed).

    Raises:
        DatasetError: The archive is truncated or corrupt, or as :func:`read_folder`.
    """
    found: dict[str, bytes] = {}  # the .txt files that may be texts, by their path in the archive
    links: list[tarfile.TarInfo] = []
    folders: set[str] = set()
    corrupt = f"{path} is truncated or corrupt: get it again (or pass the extracted folder)."
    try:
        with open(path, "rb") as raw, tqdm(
            total=path.stat().st_size, unit="B", unit_scale=True, desc=f"Reading {path.name}", disable=not verbose
        ) as bar:
            with tarfile.open(fileobj=raw, mode="r:*") as tar:
                for member in tar:
                    name = _member_path(member, path)
                    parent, base = posixpath.split(name)
                    while parent and parent not in folders:  # tar need not list a file's folders
                        folders.add(parent)
                        parent = posixpath.dirname(parent)
                    if member.isdir() and name != ".":
                        folders.add(name)
                    elif is_text_file(base) and _may_be_class(posixpath.basename(posixpath.dirname(name)), classes):
                        if member.isfile():
                            f = tar.extractfile(member)
                            data = f.read() if f is not None else b""
                            if len(data) != member.size:
                                raise DatasetError(f"{corrupt} ({member.name} is cut short)")
                            found[name] = data
                        elif member.islnk() or member.issym():
                            links.append(member)
                    bar.update(raw.tell() - bar.n)
                # tarfile stops at the end-of-archive marker; reading on to the end of the
                # stream makes gzip/bz2/xz check their trailer, so a cut archive is caught.
                while tar.fileobj.read(1 << 20):
                    pass
                bar.update(raw.tell() - bar.n)
                for member in links:
                    try:
                        f = tar.extractfile(member)
                    except (KeyError, RecursionError):  # a link to nothing (or to itself): skipped, as in a folder
                        f = None
                    if f is not None:
                        found[_member_path(member, path)] = f.read()
    except DatasetError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        # One line: tarfile's message lists each compression it tried on a line of its own.
        raise DatasetError(f"{corrupt} ({type(e).__name__}: {' '.join(str(e).split())})") from e
    if not found:
        return {NO_SPLIT: Records(origin=str(path))}
    children: dict[str, list[str]] = defaultdict(list)
    for folder in folders:
        children[posixpath.dirname(folder)].append(posixpath.basename(folder))
    texts: dict[str, list[str]] = defaultdict(list)  # folder -> the paths of its texts
    for name in found:
        texts[posixpath.dirname(name)].append(name)
    root = _archive_root(children, texts)
    out: dict[str, Records] = {}
    for split in [s for s in SPLITS if s in children[root]] or [NO_SPLIT]:
        folder = posixpath.join(root, split) if split else root
        for label in classes if classes is not None else class_folders(children[folder], f"{path}: {folder or '.'}"):
            names = sorted(texts.get(posixpath.join(folder, label), []), key=lambda n: file_order(posixpath.basename(n)))
            if strict and not names and split != "test":
                raise DatasetError(_no_examples(f"{path}: {posixpath.join(folder, label)}", label))
            records = out.setdefault(split, Records(origin=str(path)))
            for name in names:
                records.append(decode(found.pop(name), f"{path}: {name}", strict), label, name)
    return out


def _may_be_class(folder: str, classes: Sequence[str] | None) -> bool:
    """Whether a folder's texts are read: named in ``classes``, or (none named) neither hidden nor ``unsup``."""
    return folder in classes if classes is not None else not folder.startswith(".") and folder != UNLABELLED


def _archive_root(children: dict[str, list[str]], texts: dict[str, list[str]]) -> str:
    """The folder of class folders (or of train/ and test/) in an archive, from what each folder holds.

    From the top, it goes down into the one folder with texts below it (a folder beside it
    without texts, such as ``extras/``, is not data) while that folder is a container: it holds
    train/ or test/, two or more folders with texts, or one and no texts of its own (the folders
    of a path). A class folder that holds texts and a folder of its own is not one.
    """
    holding = set()  # the folders with texts in them or below them
    for folder in texts:
        while folder not in holding:
            holding.add(folder)
            folder = posixpath.dirname(folder)

    def join(parent: str, name: str) -> str:
        return posixpath.join(parent, name) if parent else name

    def below(folder: str) -> list[str]:
        return [c for c in children[folder] if not c.startswith(".") and join(folder, c) in holding]

    root = ""
    while True:
        inside = below(root)
        if len(inside) != 1:
            return root
        name = inside[0]
        # A lone train/ is a split layout; a lone test/ at the top is a folder named test that
        # was archived (as a split it would hold nothing to train on).
        if name == "train" or (name == "test" and root):
            return root
        folder = join(root, name)
        subs = below(folder)
        if not (any(s in SPLITS for s in subs) or len(subs) >= 2 or (len(subs) == 1 and folder not in texts)):
            return root
        root = folder

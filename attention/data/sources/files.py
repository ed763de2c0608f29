"""Texts stored one per ``.txt`` file, in one folder per class: a folder, or an archive of one.

The layout of ``keras.utils.text_dataset_from_directory``, ``ROOT/CLASS/*.txt``, or split
into ``ROOT/train/CLASS/*.txt`` and ``ROOT/test/CLASS/*.txt`` as the Stanford IMDB
archive is. An archive (``.tar``, ``.tar.gz``...) is read in place, never extracted.
Classes are read in sorted order (or the order asked for), each class's files by the
number their name starts with (``ID_RATING.txt``), then by name.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import tarfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from attention.data.errors import DatasetError
from attention.data.sources.records import Records, decode

SPLITS = ("train", "test")
NO_SPLIT = ""  # the split of a layout without train/ and test/
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


def _visible_folders(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as it:
            return sorted(e.name for e in it if e.is_dir() and not e.name.startswith("."))
    except OSError as e:
        raise DatasetError(f"Cannot list {folder}: {e.strerror or e}.") from e


def list_folder(root: Path, classes: Sequence[str] | None = None) -> Listing:
    """Lists the ``.txt`` files of each (split, class) of a folder.

    Args:
        root: The folder: it holds ``train/`` (and ``test/``), or the class folders.
        classes: Only these class folders, in this order (listed even when absent or
            empty); ``None``: every visible sub-folder, sorted.
    """
    splits = [s for s in SPLITS if (root / s).is_dir()] or [NO_SPLIT]
    listing: Listing = {}
    for split in splits:
        folder = root / split
        for name in classes if classes is not None else _visible_folders(folder):
            files = []
            if (folder / name).is_dir():
                try:
                    with os.scandir(folder / name) as it:
                        files = [(e.name, e.stat()) for e in it if e.name.endswith(".txt") and e.is_file()]
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
                raise DatasetError(f"{root / split / name} holds no .txt files: the class {name!r} has no examples.")
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


def read_archive(
    path: Path, classes: Sequence[str] | None = None, strict: bool = True, verbose: bool = True
) -> dict[str, Records]:
    """Reads the class folders inside a tar archive: one :class:`Records` per split.

    The class folders are the deepest folders holding ``.txt`` files: below ``train/``
    and ``test/`` when the archive has them. ``.txt`` files above them (a README)
    are not texts of any class.

    Raises:
        DatasetError: The archive is truncated or corrupt, or holds class folders
            under several roots.
    """
    found: dict[str, bytes] = {}
    corrupt = f"{path} is truncated or corrupt: get it again (or pass the extracted folder)."
    try:
        with open(path, "rb") as raw, tqdm(
            total=path.stat().st_size, unit="B", unit_scale=True, desc=f"Reading {path.name}", disable=not verbose
        ) as bar:
            with tarfile.open(fileobj=raw, mode="r:*") as tar:
                for member in tar:
                    name = _member_path(member, path)
                    if member.isfile() and name.endswith(".txt") and "/" in name:
                        parts = name.split("/")
                        wanted = classes is None or parts[-2] in classes
                        if wanted:
                            f = tar.extractfile(member)
                            data = f.read() if f is not None else b""
                            if len(data) != member.size:
                                raise DatasetError(f"{corrupt} ({member.name} is cut short)")
                            found[name] = data
                    bar.update(raw.tell() - bar.n)
                # tarfile stops at the end-of-archive marker; reading on to the end of the
                # stream makes gzip/bz2/xz check their trailer, so a cut archive is caught.
                while tar.fileobj.read(1 << 20):
                    pass
                bar.update(raw.tell() - bar.n)
    except DatasetError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        # One line: tarfile's message lists each compression it tried on a line of its own.
        raise DatasetError(f"{corrupt} ({type(e).__name__}: {' '.join(str(e).split())})") from e
    split_layout = any(len(p) >= 3 and p[-3] in SPLITS for p in (n.split("/") for n in found))
    depth = 3 if split_layout else 2
    roots: dict[str, list[str]] = {}
    for name in found:
        parts = name.split("/")
        if len(parts) >= depth and (not split_layout or parts[-3] in SPLITS):
            roots.setdefault("/".join(parts[:-depth]), []).append(name)
    if not split_layout and len(roots) > 1:
        # A README.txt beside the class folders looks like a class of its own one level up.
        deepest = max(roots, key=lambda r: r.count("/") + bool(r))
        roots = {r: v for r, v in roots.items() if r == deepest or not (r == "" or deepest.startswith(r + "/"))}
    if len(roots) > 1:
        raise DatasetError(
            f"{path} holds class folders under several folders ({', '.join(sorted(r or '.' for r in roots))}); "
            f"expected one folder of class folders (or of train/ and test/)."
        )
    names = next(iter(roots.values()), [])
    groups: dict[tuple[str, str], list[str]] = {}
    for name in names:
        parts = name.split("/")
        groups.setdefault((parts[-3] if split_layout else NO_SPLIT, parts[-2]), []).append(name)
    out: dict[str, Records] = {}
    for split in SPLITS if split_layout else (NO_SPLIT,):
        present = sorted(c for s, c in groups if s == split)
        if split_layout and split == "test" and not present:
            continue
        records = out[split] = Records(origin=str(path))
        for label in classes if classes is not None else present:
            for name in sorted(groups.get((split, label), []), key=lambda n: file_order(n.rsplit("/", 1)[1])):
                records.append(decode(found.pop(name), f"{path}: {name}", strict), label, name)
    return out

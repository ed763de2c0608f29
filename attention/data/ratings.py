"""A four-class task from IMDB's star ratings, written out in every form the sources read.

The Stanford archive names each review ``ID_RATING.txt``: 1-4 stars are its negative
reviews, 7-10 its positive ones. Grouped in pairs they make a four-class task on real
text, for multi-class training and for testing every source format on the same data.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from attention.atomic import atomic_folder, atomic_path
from attention.data.errors import DatasetError
from attention.data.sources import Records, files, open_source
from attention.data.sources.tables import write_table

RATING_CLASSES = ("1-2", "3-4", "7-8", "9-10")
FORMS = ("folder", "tar.gz", "csv", "tsv", "jsonl", "csv.gz", "tsv.gz", "jsonl.gz")


def rating(name: str) -> int:
    """A review's star rating, from its file name ``ID_RATING.txt``.

    Raises:
        ValueError: The name is not of that form.
    """
    stem = posixpath.basename(name).removesuffix(".txt")
    review, _, stars = stem.partition("_")
    if not (review.isdigit() and stars.isdigit() and 1 <= int(stars) <= 10):
        raise ValueError(f"{name!r} is not an IMDB review file name (ID_RATING.txt)")
    return int(stars)


def rating_class(stars: int) -> str:
    """The class of a star rating: ``1-2``, ``3-4``, ``7-8`` or ``9-10``."""
    for name in RATING_CLASSES:
        low, high = map(int, name.split("-"))
        if low <= stars <= high:
            return name
    raise ValueError(f"IMDB has no reviews of {stars} stars (its ratings are 1-4 and 7-10)")


def rating_task(source: str | os.PathLike, verbose: bool = True) -> dict[str, Records]:
    """The reviews of an ``aclImdb/`` folder or archive, labelled by rating class, per split.

    Raises:
        DatasetError: The source is not the aclImdb layout or a file name has no rating.
    """
    if not Path(source).expanduser().exists():  # not open_source's message, which offers tables too
        raise DatasetError(f"{source} does not exist (expected the aclImdb/ folder or the aclImdb_v1.tar.gz archive).")
    found = open_source(source, classes=("neg", "pos"), strict=False)
    if found.kind == "folder" and not (found.path / "train").is_dir() and (found.path / "aclImdb").is_dir():
        found = open_source(found.path / "aclImdb", classes=("neg", "pos"), strict=False)
    splits = found.read(verbose)
    if set(splits) != set(files.SPLITS):
        raise DatasetError(f"{source} is not the aclImdb layout (train/ and test/ folders of neg/ and pos/).")
    out = {}
    for split, records in splits.items():
        labels = []
        for position in records.positions:
            try:
                stars = rating(str(position))  # the message names the file
                labels.append(rating_class(stars))
            except ValueError as error:
                where = "" if str(position) in str(error) else f"{position}: "
                raise DatasetError(f"{source}: {where}{error}") from None
        # In the order class folders are read back (class, then file), so every form of
        # the task encodes to the same arrays.
        order = sorted(range(len(labels)), key=lambda i: (RATING_CLASSES.index(labels[i]),
                                                           files.file_order(posixpath.basename(str(records.positions[i])))))
        out[split] = Records([records.texts[i] for i in order], [labels[i] for i in order], records.origin,
                             [records.positions[i] for i in order])
    return out


def rare_positive_task(splits: dict[str, Records], fraction: float, seed: int = 0) -> dict[str, Records]:
    """IMDB's two classes, ``negative`` (1-4 stars) and ``positive`` (7-10), with a rare positive class.

    Of each split, every negative review is kept, and ``round(fraction * positives)`` positive
    ones (at least one) drawn at random (seeded by ``seed`` and the split), in their order: a two-class task
    whose classes are far apart in size, as many real ones are (``--class-weight``).

    Args:
        splits: The rating task's splits, as `rating_task` returns them.
        fraction: The share of each split's positive reviews to keep, in (0, 1].
        seed: Seed of the draw.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"expected a fraction in (0, 1], got {fraction}")
    out = {}
    for number, (split, records) in enumerate(splits.items()):
        labels = ["negative" if label in RATING_CLASSES[:2] else "positive" for label in records.labels]
        positives = [i for i, label in enumerate(labels) if label == "positive"]
        rng = np.random.default_rng([seed, number])
        # At least one: a split without a positive text is no two-class task.
        count = min(max(round(fraction * len(positives)), 1), len(positives))
        drawn = set(rng.choice(positives, count, replace=False).tolist())
        kept = [i for i, label in enumerate(labels) if label == "negative" or i in drawn]
        out[split] = Records([records.texts[i] for i in kept], [labels[i] for i in kept], records.origin,
                             [records.positions[i] for i in kept])
    return out


def write_task(splits: dict[str, Records], output: str | os.PathLike, form: str) -> list[Path]:
    """Writes labelled splits in one form: class folders, their archive, or one table per split.

    Args:
        splits: ``train`` and ``test`` records; a folder record's name is kept.
        output: The folder to write into (created).
        form: One of :data:`FORMS`.

    Returns:
        The paths written: ``output/task`` (folder), ``output/task.tar.gz``, or
        ``output/train.FORM`` and ``output/test.FORM``.
    """
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; expected one of {', '.join(FORMS)}")
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    if form == "folder":
        target = output / "task"
        with atomic_folder(target) as root:
            _write_folders(splits, root)
        return [target]
    if form == "tar.gz":
        target = output / "task.tar.gz"
        with tempfile.TemporaryDirectory(dir=output) as tmp, atomic_path(target) as partial:
            root = Path(tmp) / "task"  # not the temporary folder itself: it is private (0700)
            _write_folders(splits, root)
            with tarfile.open(partial, "w:gz") as tar:
                tar.add(root, arcname="task")
        return [target]
    written = []
    for split, records in splits.items():
        path = output / f"{split}.{form}"
        write_table(path, records.texts, records.labels)
        written.append(path)
    return written


def _write_folders(splits: dict[str, Records], root: Path) -> None:
    """``root/SPLIT/CLASS/NAME`` for each text, NAME its file name in the source."""
    for split, records in splits.items():
        for text, label, position in zip(records.texts, records.labels, records.positions):
            path = root / split / label / posixpath.basename(str(position))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")

"""attention.data: labelled texts from class folders, archives and tables, and scripts/train_text.py.

Tiny hand-made data only; one tiny training run (``test_train_text_trains_on_a_table``).
"""

from __future__ import annotations

import gzip
import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from attention import imdb
from attention.data import DatasetError, Labelled, load_labelled, ranks
from attention.data.labelled import CACHE_SUBDIR, class_order
from attention.data.ratings import FORMS, RATING_CLASSES, rating, rating_class, rating_task, write_task
from attention.data.sources import files, open_source, tables
from attention.data.sources.tables import read_table, write_table
from attention.data.tokenizer import tokenize

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "train_text.py"
INDEX_FROM = 3
START, OOV = 1, 2


@pytest.fixture(autouse=True)
def isolated_keras_home(tmp_path_factory, monkeypatch):
    """Keeps every default cache out of the real ~/.keras."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras_home")))


# ------------------------------------------------------------------------------ helpers


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


def make_tar(path: Path, folder: Path, arcname: str) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname=arcname)
    return path


def load(source, cache_dir: Path, **kwargs) -> Labelled:
    return load_labelled(source, cache_dir=cache_dir, verbose=False, **kwargs)


def as_lists(x: np.ndarray) -> list[list[int]]:
    return [list(seq) for seq in x]


def assert_same(a: Labelled, b: Labelled) -> None:
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


# ------------------------------------------------------------------ 1. the rating task

# (stars, text) per split; `rated_reviews` gives them aclImdb file names ID_RATING.txt.
RATED = {
    "train": [
        (1, 'Awful, awful film: the "plot" is a mess.'),
        (2, "Awful acting\nand a dull plot"),
        (2, b"Dull \xff\xfe film, awful"),  # not UTF-8: the aclImdb reader replaces the bytes
        (3, "Meh.\r\nThe film is okay, the plot dull"),
        (4, "Okay\tfilm, meh plot"),
        (3, '"Meh" film, okay acting'),  # a quote opening a CSV field
        (7, "Good film<br /><br />good plot"),
        (8, "  A good, fun film  "),
        (7, "Fun plot; good acting"),
        (9, "Great film, great plot"),
        (10, "Superb! A great, great film"),
        (10, "Café naïve superb acting"),
    ],
    "test": [
        (1, "Awful"),
        (2, "dull, awful plot zyzzyva"),
        (3, "meh film"),
        (4, "okay plot, meh\nacting"),
        (7, "good fun"),
        (8, "good film, fun"),
        (9, "great"),
        (10, 'superb, "great" zyzzyva film'),
    ],
}


def rated_reviews(layout: str) -> dict[str, bytes | str]:
    """The RATED reviews as aclImdb files. IDs start at 8 so that 10_x.txt sorts after 9_x.txt.

    ``contiguous``: in neg/ (pos/) every 1-2 (7-8) review has a smaller ID than every 3-4
    (9-10) one. ``interleaved``: IDs alternate between the two classes, as in the real aclImdb.
    """
    out = {}
    for split, reviews in RATED.items():
        for folder, low in (("neg", ("1-2", "3-4")), ("pos", ("7-8", "9-10"))):
            groups = [[r for r in reviews if rating_class(r[0]) == name] for name in low]
            if layout == "contiguous":
                ordered = groups[0] + groups[1]
            else:
                ordered = [r for pair in zip(*groups) for r in pair]
                assert len(ordered) == sum(map(len, groups))
            for review_id, (stars, text) in enumerate(ordered, start=8):
                out[f"{split}/{folder}/{review_id}_{stars}.txt"] = text
    return out


def expected_rated(split: str) -> Counter:
    """(tokens, class) of each RATED review, computed without the data package's readers."""
    return Counter(
        (tuple(tokenize(text.decode("utf-8", "replace") if isinstance(text, bytes) else text)), rating_class(stars))
        for stars, text in RATED[split]
    )


@pytest.fixture(scope="module")
def rating_forms(tmp_path_factory):
    """layout -> form -> the paths write_task wrote (each layout written once per module)."""
    written: dict[str, dict[str, list[Path]]] = {}

    def get(layout: str) -> dict[str, list[Path]]:
        if layout not in written:
            root = tmp_path_factory.mktemp(f"ratings-{layout}")
            acl = write_files(root / "aclImdb", rated_reviews(layout))
            splits = rating_task(acl, verbose=False)
            written[layout] = {form: write_task(splits, root / "out" / form.replace(".", "_"), form) for form in FORMS}
        return written[layout]

    return get


def load_form(paths: list[Path], cache_dir: Path, **kwargs) -> Labelled:
    if len(paths) == 1:  # class folders or their archive: validates on test/
        return load(paths[0], cache_dir, **kwargs)
    train, test = paths
    assert train.name.startswith("train.") and test.name.startswith("test.")
    return load(train, cache_dir, validation_data=test, **kwargs)


FORM_CASES = [pytest.param("contiguous", form, id=f"contiguous-{form}") for form in FORMS] + [
    # Review IDs that interleave the ratings, as in the real aclImdb.
    pytest.param("interleaved", form, id=f"interleaved-{form}")
    for form in FORMS
]


def test_rating_and_rating_class():
    assert rating("aclImdb/train/pos/10_7.txt") == 7
    assert rating("3_10.txt") == 10
    assert [rating_class(s) for s in (1, 2, 3, 4, 7, 8, 9, 10)] == ["1-2", "1-2", "3-4", "3-4", "7-8", "7-8", "9-10", "9-10"]
    for name in ("3_11.txt", "3_0.txt", "x_3.txt", "3.txt", "readme.txt"):
        with pytest.raises(ValueError):
            rating(name)
    for stars in (0, 5, 6, 11):
        with pytest.raises(ValueError):
            rating_class(stars)
    assert list(RATING_CLASSES) == ["1-2", "3-4", "7-8", "9-10"]
    with pytest.raises(ValueError, match="unknown form"):
        write_task({}, "unused", "xlsx")


def test_rating_task_labels_by_file_name(tmp_path):
    acl = write_files(tmp_path / "data" / "aclImdb", rated_reviews("interleaved"))
    for source in (acl, tmp_path / "data", make_tar(tmp_path / "aclImdb_v1.tar.gz", acl, "aclImdb")):
        splits = rating_task(source, verbose=False)
        assert set(splits) == {"train", "test"}
        for split, records in splits.items():
            assert [rating_class(rating(str(p))) for p in records.positions] == records.labels
            found = Counter(zip(map(lambda t: tuple(tokenize(t)), records.texts), records.labels))
            assert found == expected_rated(split)
        assert "\ufffd" in "".join(splits["train"].texts)  # the bytes that are not UTF-8, replaced
    (tmp_path / "plain").mkdir()
    with pytest.raises(DatasetError, match="aclImdb layout"):
        rating_task(write_files(tmp_path / "plain", {"neg/1_1.txt": "bad", "pos/2_9.txt": "good"}), verbose=False)


@pytest.mark.parametrize("layout, form", FORM_CASES)
def test_rating_task_loads_the_same_in_every_form(rating_forms, layout, form, tmp_path):
    written = rating_forms(layout)
    assert len(written[form]) == (1 if form in ("folder", "tar.gz") else 2)
    for num_words in (10000, 12):
        reference = load_form(written["csv"], tmp_path / "cache-csv", num_words=num_words)
        data = load_form(written[form], tmp_path / f"cache-{num_words}", num_words=num_words)
        assert data.classes == ["1-2", "3-4", "7-8", "9-10"]
        assert_same(data, reference)
    # Against the reviews themselves: every text with its class, training words only in the index.
    data = load_form(written[form], tmp_path / "cache")
    assert Counter(decoded(data)) == expected_rated("train")
    train_words = {t for words, _ in expected_rated("train") for t in words}
    assert set(data.word_index) == train_words and "zyzzyva" not in data.word_index
    oov = lambda words: tuple(w if w in train_words else None for w in words)  # noqa: E731
    assert Counter(decoded(data, "validation")) == Counter(
        {(oov(words), label): n for (words, label), n in expected_rated("test").items()})


# -------------------------------------------------------------- 2. tables, quoting, labels


def test_csv_as_spreadsheets_write_it(tmp_path):
    # A BOM, CRLF rows, extra columns in another order, and quoted commas, quotes and newlines.
    data = ("\ufeffid,Label,source,Text\r\n"
            '1,pos,web,"Good, very ""good"" film"\r\n'
            '2,neg,web,"Bad film\nwith a line break"\r\n'
            '3,pos,mail,"Great\r\nfilm, two lines"\r\n'
            "4, neg ,mail,Awful film\r\n")
    path = tmp_path / "reviews.csv"
    path.write_bytes(data.encode("utf-8"))
    (records,) = open_source(path, text_column="Text", label_column="Label").read(verbose=False).values()
    assert records.texts == ['Good, very "good" film', "Bad film\nwith a line break", "Great\r\nfilm, two lines", "Awful film"]
    assert records.labels == ["pos", "neg", "pos", "neg"]
    assert records.positions == [2, 3, 5, 7]  # the line each row starts on
    validation = tmp_path / "validation.csv"
    validation.write_bytes(b'Text,Label\r\n"good, good",pos\r\nbad,neg\r\n')
    data = load(path, tmp_path / "cache", text_column="Text", label_column="Label", validation_data=validation)
    assert data.classes == ["neg", "pos"]
    assert Counter(decoded(data)) == Counter([
        (("good", ",", "very", '"', "good", '"', "film"), "pos"), (("bad", "film", "with", "a", "line", "break"), "neg"),
        (("great", "film", ",", "two", "lines"), "pos"), (("awful", "film"), "neg")])
    assert Counter(decoded(data, "validation")) == Counter([(("good", ",", "good"), "pos"), (("bad",), "neg")])
    with pytest.raises(DatasetError) as error:
        load(path, tmp_path / "cache", validation_data=validation)  # the default names: text, label
    assert str(path) in str(error.value) and "'id', 'Label', 'source', 'Text'" in str(error.value)


def test_tsv_as_pandas_writes_it(tmp_path):
    # pandas' to_csv(sep="\t"): fields with tabs, quotes or newlines quoted, quotes doubled.
    path = tmp_path / "reviews.tsv.gz"
    text = ('review\tstars\tuser\n'
            '"tab\tinside"\t9\tann\n'
            '"a ""quoted"" word"\t10\tbob\n'
            '"two\nlines"\t2\tcid\n'
            'plain, with a comma\t9\tdee\n')
    path.write_bytes(gzip.compress(("\ufeff" + text).encode("utf-8")))
    records = read_table(path, "review", "stars")
    assert records.texts == ["tab\tinside", 'a "quoted" word', "two\nlines", "plain, with a comma"]
    assert records.labels == ["9", "10", "2", "9"]
    assert records.positions == [2, 3, 4, 6]
    assert open_source(path, text_column="review", label_column="stars").kind == "table"


@pytest.mark.parametrize("suffix", ["csv", "tsv", "jsonl", "csv.gz", "tsv.gz", "jsonl.gz"])
def test_write_table_reads_back(tmp_path, suffix):
    texts = ['comma, "quotes"', "tab\there", "line\nbreak", "crlf\r\nbreak", "  spaces  ", "café ☕ \U0001f600", '"opening quote"']
    labels = ["a", "b", "a", "b", "10", "9", "a"]
    path = tmp_path / f"table.{suffix}"
    write_table(path, texts, labels, text_column="body", label_column="tag")
    assert path.read_bytes().startswith(b"\x1f\x8b") == suffix.endswith(".gz")
    records = read_table(path, "body", "tag")
    assert records.texts == texts and records.labels == labels


def test_jsonl_labels_integers_and_strings(tmp_path):
    lines = ['{"text": "ten stars", "label": 10}', '{"text": "nine stars", "label": 9}',
             '{"label": 2, "text": "two stars", "extra": [1, 2]}', "",
             '{"text": "nine again", "label": "9"}']
    train = write_files(tmp_path, {"train.jsonl": "\n".join(lines) + "\n"}) / "train.jsonl"
    validation = tmp_path / "val.jsonl"  # CRLF lines; "10" a string where training has the integer
    validation.write_bytes(b'{"text": "two", "label": 2}\r\n{"text": "ten", "label": "10"}\r\n')
    assert read_table(train).positions == [1, 2, 3, 5]
    data = load(train, tmp_path / "cache", validation_data=validation)
    assert data.classes == ["2", "9", "10"]  # numerically, not "10" < "2" < "9"
    number = {"ten": "10", "nine": "9", "two": "2"}
    for words, label in decoded(data) + decoded(data, "validation"):
        assert number[words[0]] == label
    assert len(data.x_train) == 4 and len(data.x_validation) == 2
    strings = write_files(tmp_path, {"s.jsonl": '{"text": "b", "label": "b"}\n{"text": "a", "label": "a"}\n'
                                                '{"text": "c", "label": "C"}\n{"text": "ten", "label": 10}\n'}) / "s.jsonl"
    data = load(strings, tmp_path / "cache", validation_data=strings)
    assert data.classes == ["10", "C", "a", "b"]  # not all integers: as strings
    assert sorted(decoded(data)) == [(("a",), "a"), (("b",), "b"), (("c",), "C"), (("ten",), "10")]


def test_jsonl_with_other_field_names(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"review": "good", "stars": "pos"}\n{"review": "bad", "stars": "neg"}\n', encoding="utf-8")
    data = load(path, tmp_path / "cache", text_column="review", label_column="stars", validation_data=path)
    assert data.classes == ["neg", "pos"] and sorted(decoded(data)) == [(("bad",), "neg"), (("good",), "pos")]
    with pytest.raises(DatasetError, match=r"line 1: no field 'text'.*--text-column"):
        load(path, tmp_path / "cache", validation_data=path)


def test_class_order():
    assert class_order(["10", "9", "2"]) == ["2", "9", "10"]
    assert class_order(["10", "-1", "2", "2"]) == ["-1", "2", "10"]
    assert class_order(["b", "a", "10", "9"]) == ["10", "9", "a", "b"]
    assert class_order(["pos", "neg", "pos"]) == ["neg", "pos"]
    assert class_order([]) == []


def test_class_order_does_not_depend_on_the_hash_seed():
    code = ("from __future__ import annotations\nfrom collections.abc import Sequence\n"
            + inspect.getsource(class_order) + "\nprint(class_order(['1', '01', '+1']))\n")
    outputs = {
        subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": str(seed)},
                       capture_output=True, text=True, check=True).stdout
        for seed in range(8)
    }
    assert len(outputs) == 1, outputs


def test_open_source_tells_the_forms_apart(tmp_path):
    folder = write_files(tmp_path / "split", {"train/a/1.txt": "x", "train/b/1.txt": "y", "test/a/1.txt": "z"})
    flat = write_files(tmp_path / "flat", {"a/1.txt": "x", "b/1.txt": "y"})
    assert open_source(folder).kind == "folder" and set(open_source(folder).read(verbose=False)) == {"train", "test"}
    assert set(open_source(flat).read(verbose=False)) == {files.NO_SPLIT}
    archive = make_tar(tmp_path / "flat.tar.gz", flat, "flat")
    disguised = tmp_path / "data.bin"
    disguised.write_bytes(archive.read_bytes())
    for path in (archive, disguised):
        source = open_source(path)
        assert source.kind == "archive"
        (records,) = source.read(verbose=False).values()
        assert sorted(zip(records.texts, records.labels)) == [("x", "a"), ("y", "b")]
    for name in ("T.CSV", "t.tab", "t.ndjson", "t.jsonl.gz"):
        (tmp_path / name).write_text("")
        assert open_source(tmp_path / name).kind == "table"
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="is not a form of labelled texts"):
        open_source(tmp_path / "notes.txt")


# ------------------------------------------------------------------------ 3. validation


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


# ------------------------------------------------------------------------ 4. vocabulary


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


# -------------------------------------------------------------------------- 5. bad data


def _table(tmp_path, name, data: str | bytes) -> Path:
    return write_files(tmp_path, {name: data}) / name


def _good_validation(tmp_path) -> Path:
    return write_csv(tmp_path / "val.csv", [("nice", "pos"), ("ugly", "neg")])


def case_missing_column(tmp_path):
    p = _table(tmp_path, "t.csv", "review,label\ngood,pos\nbad,neg\n")
    return dict(source=p, validation_data=_good_validation(tmp_path)), [str(p), "'text'", "'review', 'label'", "--text-column"]


def case_missing_label_column(tmp_path):
    p = _table(tmp_path, "t.tsv", "text\tstars\ngood\tpos\nbad\tneg\n")
    return dict(source=p, validation_split=0.5, text_column="text"), [str(p), "'label'", "'text', 'stars'", "--label-column"]


def case_empty_text(tmp_path):
    p = _table(tmp_path, "t.csv", 'text,label\ngood,pos\n"  ",neg\nbad,neg\n')
    return dict(source=p, validation_data=_good_validation(tmp_path)), [str(p), "line 3", "empty"]


def case_empty_class_folder(tmp_path):
    root = write_files(tmp_path / "texts", {"pos/1.txt": "good", "pos/2.txt": "nice"})
    (root / "neg").mkdir()
    return dict(source=root, validation_split=0.5), [str(root / "neg"), "'neg'", "no examples"]


def case_one_class(tmp_path):
    p = _table(tmp_path, "t.csv", "text,label\ngood,pos\nnice,pos\n")
    return dict(source=p, validation_data=_good_validation(tmp_path)), [str(p), "only the class 'pos'", "two classes"]


def case_not_utf8_table(tmp_path):
    p = _table(tmp_path, "t.csv", b"text,label\ngood,pos\n\xff\xfe bad,neg\n")
    return dict(source=p, validation_data=_good_validation(tmp_path)), [str(p), "line 3", "UTF-8"]


def case_not_utf8_file(tmp_path):
    root = write_files(tmp_path / "texts", {"pos/1.txt": "good", "neg/1.txt": "bad", "neg/2.txt": b"fine\nstill\n\xff\xfe bad"})
    return dict(source=root, validation_split=0.5), [str(root / "neg" / "2.txt"), "line 3", "UTF-8"]


def case_not_utf8_archive_member(tmp_path):
    root = write_files(tmp_path / "texts", {"train/pos/1.txt": "good", "train/neg/1.txt": "bad",
                                            "test/pos/1.txt": "fine", "test/neg/1.txt": b"one\ntwo\n\xff\xfe"})
    archive = make_tar(tmp_path / "texts.tar.gz", root, "texts")
    return dict(source=archive), [str(archive), "texts/test/neg/1.txt", "line 3", "UTF-8"]


def case_unseen_validation_label(tmp_path):
    p = write_csv(tmp_path / "t.csv", [("good", "pos"), ("bad", "neg")])
    v = write_csv(tmp_path / "v.csv", [("nice", "pos"), ("so so", "meh")])
    return dict(source=p, validation_data=v), [str(v), "line 3", "'meh'", "never occurs"]


def case_malformed_json(tmp_path):
    p = _table(tmp_path, "t.jsonl", '{"text": "good", "label": "pos"}\n{"text": "bad", "label": neg}\n')
    return dict(source=p, validation_split=0.5), [str(p), "line 2", "JSON"]


def case_wrong_field_count(tmp_path):
    p = _table(tmp_path, "t.csv", "text,label\ngood,pos\nbad,neg,extra\n")
    return dict(source=p, validation_data=_good_validation(tmp_path)), [str(p), "line 3", "3 fields", "header has 2"]


def case_unterminated_quote(tmp_path):
    p = _table(tmp_path, "t.csv", 'text,label\ngood,pos\n"bad,neg\n')
    return dict(source=p, validation_split=0.5), [str(p), "CSV"]


def case_nonexistent_path(tmp_path):
    p = tmp_path / "nowhere" / "t.csv"
    return dict(source=p, validation_split=0.5), [str(p), "does not exist"]


def case_no_validation(tmp_path):
    p = write_csv(tmp_path / "t.csv", [("good", "pos"), ("bad", "neg")])
    return dict(source=p), [str(p), "--validation-split"]


def case_unknown_class_asked(tmp_path):
    p = write_csv(tmp_path / "t.csv", [("good", "pos"), ("bad", "neg")])
    return dict(source=p, validation_data=p, classes=["pos", "zzz"]), [str(p), "'zzz'", "no examples"]


BAD = {name.removeprefix("case_"): f for name, f in list(globals().items()) if name.startswith("case_")}


def cli_args(options: dict) -> list[str]:
    args = ["--data", str(options["source"])]
    for key, flag in (("validation_data", "--validation-data"), ("validation_split", "--validation-split"),
                      ("text_column", "--text-column"), ("label_column", "--label-column")):
        if key in options:
            args += [flag, str(options[key])]
    if "classes" in options:
        args += ["--classes", ",".join(options["classes"])]
    return args


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_data_is_a_dataset_error(case, tmp_path):
    options, expected = BAD[case](tmp_path)
    source = options.pop("source")
    with pytest.raises(DatasetError) as error:
        load(source, tmp_path / "cache", **options)
    message = str(error.value)
    assert "\n" not in message
    for part in expected:
        assert part in message, (part, message)


@pytest.fixture(scope="module")
def train_text():
    spec = importlib.util.spec_from_file_location("train_text", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PROGRESS = re.compile(r"\d+%\|")  # a tqdm bar of the data loader, also on stderr


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_data_through_train_text(case, tmp_path, train_text, capsys):
    options, expected = BAD[case](tmp_path)
    logdir = tmp_path / "logs"
    with pytest.raises(SystemExit) as exit_info:
        train_text.main(cli_args(options) + ["--logdir", str(logdir), "--cache-dir", str(tmp_path / "cache")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in re.split(r"[\r\n]", err) if line.strip() and not PROGRESS.search(line)]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{train_text.parser.prog}: error: ")
    for part in expected:
        assert part in lines[0], (part, lines[0])
    assert not logdir.exists() or not any(logdir.iterdir())


# --------------------------------------------------------------------------- 6. classes


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
            source = make_tar(tmp_path / "texts.tar.gz", source, "texts")
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


# ----------------------------------------------------------------------------- 7. cache


def _count_calls(monkeypatch, module, name) -> list:
    calls, real = [], getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def _forbid(monkeypatch, module, name):
    def forbidden(*args, **kwargs):
        raise AssertionError(f"{name} was called: the cache was not used")

    monkeypatch.setattr(module, name, forbidden)


def test_cache_skips_reading_and_tokenising(tmp_path, monkeypatch):
    train = write_csv(tmp_path / "train.csv", [("good film", "pos"), ("bad film", "neg"), ("great", "pos")])
    validation = write_csv(tmp_path / "val.csv", [("good", "pos"), ("awful", "neg")])
    cache_dir = tmp_path / "cache"
    first = load(train, cache_dir, validation_data=validation)
    fresh_small = load(train, tmp_path / "other-cache", validation_data=validation, num_words=5)
    assert len(list((cache_dir / CACHE_SUBDIR).glob("*.npz"))) == 1
    with monkeypatch.context() as m:
        _forbid(m, ranks, "rank_words")
        _forbid(m, tables, "read_table")
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
        _forbid(m, ranks, "rank_words")
        _forbid(m, files, "read_folder")
        assert_same(load(root, tmp_path / "cache"), first)
    calls = _count_calls(monkeypatch, ranks, "rank_words")
    (root / "train" / "pos" / "1.txt").write_text("good film, really good")
    changed = load(root, tmp_path / "cache")
    assert len(calls) == 1 and "really" in changed.word_index
    (root / "train" / "neg" / "2.txt").write_text("dull")
    assert "dull" in load(root, tmp_path / "cache").word_index and len(calls) == 2


# ------------------------------------------------------------------ 8. IMDB equivalence

# tests/test_imdb.py's fake aclImdb: review IDs out of lexical order (10 after 9).
from test_imdb import REVIEWS  # noqa: E402  (pytest puts tests/ on the path)


@pytest.mark.parametrize("dataset, num_words", [("reviews", 10), ("reviews", 1000), ("archive", 10), ("archive", 1000),
                                                ("tiny_imdb", 15), ("tiny_imdb", 1000)])
def test_two_class_imdb_equals_imdb_load_data(tmp_path, request, dataset, num_words):
    if dataset == "tiny_imdb":
        source = request.getfixturevalue("tiny_imdb")
    else:
        source = write_files(tmp_path / "aclImdb", {f"{s}/{c}/{n}": t for (s, c), f in REVIEWS.items() for n, t in f.items()})
        if dataset == "archive":
            source = make_tar(tmp_path / "aclImdb_v1.tar.gz", source, "aclImdb")
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


# --------------------------------------------------------------------- one training run


def test_train_text_trains_on_a_table(tmp_path, train_text, monkeypatch):
    cues = {"awful": ["awful", "terrible"], "meh": ["meh", "okay"], "good": ["good", "nice"], "great": ["great", "superb"]}
    rows = []
    for i in range(32):  # 8 texts per class
        label = list(cues)[i % 4]
        rows.append((" ".join(["the", "film"] + [cues[label][i % 2]] * (1 + i % 3)), label))
    table = write_csv(tmp_path / "texts.csv", rows)
    logdir, cache_dir = tmp_path / "logs", tmp_path / "cache"
    train_text.main(["--data", str(table), "--validation-split", "0.25", "--logdir", str(logdir),
                     "--cache-dir", str(cache_dir), "--num-epochs", "1", "--embedding-dim", "4", "--hidden-size", "2",
                     "--attention-size", "2", "--batch-size", "4", "--seed", "1"])
    (run,) = [p for p in logdir.iterdir() if p.is_dir()]
    config = json.loads((run / "run.json").read_text())
    assert config["status"] == "finished" and config["config"]["script"] == "train_text"
    assert config["config"]["data"] == str(table.resolve())
    # The script loads what the library loads with its defaults: the cache it wrote is found.
    _forbid(monkeypatch, ranks, "rank_words")
    data = load(table, cache_dir, validation_split=0.25)
    vocabulary = json.loads((run / "model.vocabulary.json").read_text())
    assert vocabulary["classes"] == data.classes == ["awful", "good", "great", "meh"]
    assert vocabulary["word_index"] == data.word_index and vocabulary["num_words"] == data.num_words
    report = config["results"]["validation_report"]
    assert list(report["classes"]) == data.classes
    assert [c["support"] for c in report["classes"].values()] == np.bincount(data.y_validation).tolist() == [2, 2, 2, 2]


def test_file_order_is_numeric_and_takes_any_name():
    from attention.data.sources.files import file_order

    names = ["10_7.txt", "9_3.txt", "readme.txt", "\u00b2_1.txt", "2.txt"]  # "²" is a digit to str.isdigit, not to int
    assert sorted(names, key=file_order) == ["2.txt", "9_3.txt", "10_7.txt", "readme.txt", "\u00b2_1.txt"]


def test_a_text_longer_than_the_csv_modules_default_field_limit(tmp_path):
    from attention.data.sources.tables import read_table

    path = tmp_path / "long.csv"
    long_text = "word " * 60_000  # 300,000 characters: the csv module's default limit is 131,072
    path.write_text(f'text,label\n"{long_text}",a\nshort,b\n', encoding="utf-8")
    records = read_table(path)
    assert records.texts == [long_text, "short"] and records.labels == ["a", "b"]

"""attention.data: labelled texts in every form it reads (class folders, archives, CSV, TSV,
JSON Lines, compressed or not) and the rating task written in each of them."""

from __future__ import annotations

import gzip
import inspect
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from attention.data import DatasetError, Labelled
from attention.data.labelled import class_order
from attention.data.ratings import (
    FORMS, RATING_CLASSES, rare_positive_task, rating, rating_class, rating_task, write_task,
)
from attention.data.sources import Records, files, open_source
from attention.data.sources import tables
from attention.data.sources.tables import read_table, table_rows, write_table
from attention.data.tokenizer import tokenize
from fake_data import assert_same, decoded, load, make_archive, write_files
from script_runs import load_script

pytestmark = pytest.mark.usefixtures("isolated_keras_home")


# ------------------------------------------------------------------ the rating task

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
    for source in (acl, tmp_path / "data", make_archive(tmp_path / "aclImdb_v1.tar.gz", acl, "aclImdb")):
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
    # A rating IMDB does not have names its file; a missing source names what the task reads.
    five = write_files(tmp_path / "five" / "aclImdb", {f"{split}/{label}/{n}_{stars}.txt": "text" for split in ("train", "test")
                                                       for label, n, stars in (("neg", 1, 1), ("pos", 2, 5))})
    with pytest.raises(DatasetError, match=r": train/pos/2_5\.txt: IMDB has no reviews of 5 stars"):
        rating_task(five, verbose=False)
    with pytest.raises(DatasetError, match=r"missing does not exist \(expected the aclImdb/ folder or the aclImdb_v1\.tar\.gz archive\)\.$"):
        rating_task(tmp_path / "missing", verbose=False)


def test_the_rare_positive_task_keeps_every_negative_and_a_seeded_share_of_the_positives():
    stars = ["1-2", "7-8", "3-4", "9-10"] * 10
    splits = {split: Records([f"{split} {i}" for i in range(40)], stars, split, list(range(40))) for split in ("train", "test")}
    task = rare_positive_task(splits, 0.25, seed=3)
    assert list(task) == ["train", "test"]
    for split, records in task.items():
        assert Counter(records.labels) == {"negative": 20, "positive": 5}
        assert records.positions == sorted(records.positions) and records.origin == split
        assert records.texts == [f"{split} {i}" for i in records.positions]
        assert records.labels == ["negative" if stars[i] in ("1-2", "3-4") else "positive" for i in records.positions]
    assert task == rare_positive_task(splits, 0.25, seed=3)
    assert task["train"].positions != task["test"].positions  # each split draws its own
    assert task["train"].positions != rare_positive_task(splits, 0.25, seed=4)["train"].positions
    with pytest.raises(ValueError, match="fraction"):
        rare_positive_task(splits, 0.0)
    # A share too small for the split still draws one positive text; the whole share keeps them all.
    assert [Counter(r.labels)["positive"] for r in rare_positive_task(splits, 0.001).values()] == [1, 1]
    assert [Counter(r.labels)["positive"] for r in rare_positive_task(splits, 1.0).values()] == [20, 20]


def test_make_rating_task_writes_the_rare_positive_task(tmp_path, capsys):
    acl = write_files(tmp_path / "aclImdb", rated_reviews("interleaved"))
    load_script("make_rating_task").main(["--data", str(acl), "--output", str(tmp_path / "out"), "--positive-fraction", "0.5"])
    for split in ("train", "test"):
        labels = read_table(tmp_path / "out" / f"{split}.csv", "text", "label").labels
        positives = sum(rating_class(s) in ("7-8", "9-10") for s, _ in RATED[split])
        assert Counter(labels) == {"negative": len(RATED[split]) - positives, "positive": round(positives / 2)}
    with pytest.raises(SystemExit):
        load_script("make_rating_task").main(["--data", str(acl), "--output", str(tmp_path / "x"), "--positive-fraction", "1.5"])
    assert "expected a share above 0 and at most 1, got 1.5" in capsys.readouterr().err
    load_script("make_rating_task").main(["--data", str(acl), "--output", str(tmp_path / "all"), "--positive-fraction", "1"])
    labels = read_table(tmp_path / "all" / "train.csv", "text", "label").labels
    assert Counter(labels)["positive"] == sum(rating_class(s) in ("7-8", "9-10") for s, _ in RATED["train"])


def test_ctrl_c_ends_make_rating_task_with_one_line(tmp_path, capsys, monkeypatch):
    script = load_script("make_rating_task")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as Ctrl-C would, while the reviews are read

    monkeypatch.setattr(script, "rating_task", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        script.main(["--data", str(tmp_path), "--output", str(tmp_path / "out")])
    assert exit_info.value.code == 130 and capsys.readouterr().err.endswith(": error: interrupted\n")
    assert not (tmp_path / "out").exists()


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


# -------------------------------------------------------------- tables, quoting, labels


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


def test_quotes_escaped_with_a_backslash_as_kaggles_imdb_tsv_files(tmp_path):
    # labeledTrainData.tsv of Kaggle's "Bag of Words Meets Bags of Popcorn": \" inside quoted fields.
    path = tmp_path / "labeledTrainData.tsv"
    path.write_text('id\tsentiment\treview\n'
                    '"5814_8"\t1\t"I\\"ve watched \\"Moonwalker\\" again.<br /><br />Great."\n'
                    '"2381_9"\t1\t"\\"The Classic War of the Worlds\\" is entertaining."\n'
                    '"7759_3"\t0\t"Dull: \\"no\\", and a tab\there."\n', encoding="utf-8")
    records = read_table(path, "review", "sentiment")
    assert records.texts == ['I"ve watched "Moonwalker" again.<br /><br />Great.',
                             '"The Classic War of the Worlds" is entertaining.', 'Dull: "no", and a tab\there.']
    assert records.labels == ["1", "1", "0"] and records.positions == [2, 3, 4]
    # A backslash before a doubled quote, in a file that reads as spreadsheets write it, stays as it is.
    path = tmp_path / "standard.csv"
    path.write_text('text,label\n"C:\\dir\\"" is a path",a\n"say \\""hi""",b\n', encoding="utf-8")
    assert read_table(path).texts == ['C:\\dir\\" is a path', 'say \\"hi"']


@pytest.mark.parametrize("layout", ["", "   \n", "  \n  \n  \n"])
def test_how_quotes_are_escaped_is_told_from_the_rows_as_they_are_read(tmp_path, layout):
    # Lines of spaces are layout (no row), whatever the file's escapes; a field that ends in a
    # backslash reads as spreadsheets write it; a short file read whole is not "cut".
    standard = tmp_path / "standard.csv"
    standard.write_text(f'text,label\n"my folder C:\\temp\\",pos\n{layout}second review,neg\n{layout}', encoding="utf-8")
    assert read_table(standard).texts == ["my folder C:\\temp\\", "second review"]
    merged = tmp_path / "merged.csv"  # read the backslash way, its rows ran into one
    merged.write_text(f'text,label\n"C:\\",pos\n{layout}hello",neg\n', encoding="utf-8")
    assert read_table(merged).texts == ["C:\\", 'hello"']
    kaggle = tmp_path / "kaggle.tsv"
    kaggle.write_text(f'id\treview\n"1"\t"a \\"good\\" one"\n{layout}"2"\t"7\\10, settings\\costumes, a \\\\ and a\\\\"\n',
                      encoding="utf-8")
    # A backslash before a quote or a backslash escapes it; any other stays (R's write.table escapes quotes only).
    assert read_table(kaggle, "review", "id").texts == ['a "good" one', "7\\10, settings\\costumes, a \\ and a\\"]


def test_the_lines_that_tell_the_escapes_are_at_most_a_mib(tmp_path, monkeypatch):
    seen = []
    original = tables._backslash_quoted
    monkeypatch.setattr(tables, "_backslash_quoted", lambda lines, *a, **k: seen.append(len(lines)) or original(lines, *a, **k))
    path = tmp_path / "long.csv"
    write_table(path, ["x" * 300_000] * 10, ["a"] * 10)
    assert len(read_table(path).texts) == 10 and seen == [5]  # the header and four rows: past 1 MiB


def test_rows_before_a_line_that_is_not_utf8_are_read_first(tmp_path):
    # Among the first lines, which are read ahead to tell how quotes are escaped; past the
    # decoder's first read of the file (so that the rows before it can be read).
    path = tmp_path / "t.tsv"
    path.write_bytes(b"text\tlabel\n" + b"".join(b"good text %d\tpos\n" % n for n in range(900)) + b"\xff bad\tneg\n")
    rows = table_rows(path)
    assert next(rows) == ("good text 0", "pos", 2)
    with pytest.raises(DatasetError, match="line 902: not UTF-8"):
        list(rows)


@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_rows_with_nothing_in_any_field_are_layout(tmp_path, delimiter):
    # A line of spaces, and a spreadsheet's empty row, are skipped as blank lines are; a row
    # with a label but no text is still an error.
    path = tmp_path / ("t.csv" if delimiter == "," else "t.tsv")
    rows = ["text", "label", "good", "pos", "   ", " ", "", "", "bad", "neg"]
    path.write_text("".join(f"{a}{delimiter}{b}\n" for a, b in zip(rows[::2], rows[1::2])) + "  \n", encoding="utf-8")
    records = read_table(path)
    assert records.texts == ["good", "bad"] and records.positions == [2, 5]
    only_texts = tmp_path / "texts.csv"
    only_texts.write_text("text\ngood\n   \nbad\n", encoding="utf-8")
    assert [row[0] for row in table_rows(only_texts, label_column=None)] == ["good", "bad"]
    path.write_text(f"text{delimiter}label\n  {delimiter}neg\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="line 2: the text is empty"):
        load(path, tmp_path / "cache", validation_split=0.5)


@pytest.mark.parametrize("suffix", ["csv", "tsv", "jsonl", "csv.gz", "tsv.gz", "jsonl.gz"])
def test_write_table_reads_back(tmp_path, suffix):
    texts = ['comma, "quotes"', "tab\there", "line\nbreak", "crlf\r\nbreak", "  spaces  ", "café ☕ \U0001f600", '"opening quote"']
    labels = ["a", "b", "a", "b", "10", "9", "a"]
    path = tmp_path / f"table.{suffix}"
    write_table(path, texts, labels, text_column="body", label_column="tag")
    assert path.read_bytes().startswith(b"\x1f\x8b") == suffix.endswith(".gz")
    records = read_table(path, "body", "tag")
    assert records.texts == texts and records.labels == labels


@pytest.mark.parametrize("suffix", ["csv", "jsonl.gz"])
def test_table_rows_are_read_as_they_are_asked_for(tmp_path, suffix):
    path, texts = tmp_path / f"table.{suffix}", ["first", "second\nover two lines", "third"]
    write_table(path, texts, ["a", "b", "a"])
    data = gzip.decompress(path.read_bytes()) if suffix.endswith(".gz") else path.read_bytes()
    # A broken last row: the rows before it come first, then its error.
    broken = data + (b"1,2,3\n" if suffix == "csv" else b"[1, 2]\n")
    path.write_bytes(gzip.compress(broken) if suffix.endswith(".gz") else broken)
    rows = table_rows(path, label_column=None)
    lines = [2, 3, 5] if suffix == "csv" else [1, 2, 3]  # after the header; the second text spans two lines
    assert [next(rows) for _ in texts] == [(text, "", line) for text, line in zip(texts, lines)]
    with pytest.raises(DatasetError, match=f"line {lines[-1] + 1}: "):
        next(rows)
    # The header is checked when the table is opened, before any row is asked for.
    write_table(tmp_path / "other.csv", ["text"], ["a"])
    with pytest.raises(DatasetError, match="has no column 'body'"):
        table_rows(tmp_path / "other.csv", text_column="body")


def test_a_table_that_is_not_utf8_is_named_by_its_first_bad_line(tmp_path):
    # Past the decoder's first read of the file, so that the line comes from reading it again.
    text = "text,label\n" + "".join(f"good text {n},a\n" for n in range(2000))
    path = tmp_path / "table.csv.gz"
    path.write_bytes(gzip.compress(text.encode() + "caf\u00e9,a\n".encode("latin-1") + b"more,b\n"))
    with pytest.raises(DatasetError, match=rf"^{path}, line 2002: not UTF-8 text \(byte 0xe9\); save the file as UTF-8\.$"):
        read_table(path)
    assert read_table(path, strict=False).texts[-2] == "caf\ufffd"


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
    archive = make_archive(tmp_path / "flat.tar.gz", flat, "flat")
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

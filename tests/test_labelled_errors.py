"""attention.data and scripts/train_text.py on bad data: one `DatasetError`, one line on the
command line, that says what is wrong and where."""

from __future__ import annotations

import bz2
import re
from pathlib import Path

import pytest

from attention.data import DatasetError
from fake_data import load, make_archive, write_csv, write_files
from script_runs import load_script

pytestmark = pytest.mark.usefixtures("isolated_keras_home")


# -------------------------------------------------------------------------- bad data


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
    archive = make_archive(tmp_path / "texts.tar.gz", root, "texts")
    return dict(source=archive), [str(archive), "texts/test/neg/1.txt", "line 3", "UTF-8"]


def case_not_utf8_after_lone_cr_line_ends(tmp_path):  # old Mac line ends: \r alone
    p = _table(tmp_path, "t.csv", b"text,label\rgood,pos\r\xff\xfe bad,neg\r")
    return dict(source=p, validation_data=_good_validation(tmp_path)), [str(p), "line 3", "UTF-8"]


def case_not_utf8_file_after_lone_cr_line_ends(tmp_path):
    root = write_files(tmp_path / "texts", {"pos/1.txt": "good", "neg/1.txt": "bad", "neg/2.txt": b"fine\rstill\r\xff\xfe"})
    return dict(source=root, validation_split=0.5), [str(root / "neg" / "2.txt"), "line 3", "UTF-8"]


def case_lone_surrogate_in_jsonl(tmp_path):  # valid JSON, but no Unicode text
    p = _table(tmp_path, "t.jsonl", '{"text": "good", "label": "pos"}\n{"text": "bad \\ud800 film", "label": "neg"}\n')
    return dict(source=p, validation_data=_good_validation(tmp_path)), [str(p), "line 2", "'text'", "surrogate"]


def case_lone_surrogate_label_in_jsonl(tmp_path):
    p = _table(tmp_path, "t.jsonl", '{"text": "good", "label": "pos"}\n{"text": "bad", "label": "n\\udc80"}\n')
    return dict(source=p, validation_data=_good_validation(tmp_path)), [str(p), "line 2", "'label'", "surrogate"]


def case_table_compressed_other_than_gzip(tmp_path):
    p = _table(tmp_path, "t.csv.bz2", bz2.compress(b"text,label\ngood,pos\nbad,neg\n"))
    return dict(source=p, validation_split=0.5), [str(p), "gzip", ".bz2", "decompress"]


def case_unterminated_quote_in_the_header(tmp_path):
    p = _table(tmp_path, "t.csv", '"text,label\ngood,pos\nbad,neg\n')
    return dict(source=p, validation_split=0.5), [str(p), "line 1", "CSV", "never closed"]


def case_not_an_archive(tmp_path):
    p = _table(tmp_path, "texts.tar.gz", b"hello")  # tarfile's error lists each method it tried, a line each
    return dict(source=p, validation_split=0.5), [str(p), "ReadError"]


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


def case_unterminated_quote(tmp_path):  # named where it opens, not at the end of the file it swallowed
    p = _table(tmp_path, "t.csv", 'text,label\ngood,pos\n"bad,neg\nfine,pos\nok,neg\n')
    return dict(source=p, validation_split=0.5), [str(p), "line 3", "CSV", "never closed"]


def case_nonexistent_path(tmp_path):
    p = tmp_path / "nowhere" / "t.csv"
    return dict(source=p, validation_split=0.5), [str(p), "does not exist"]


def case_no_validation(tmp_path):
    p = write_csv(tmp_path / "t.csv", [("good", "pos"), ("bad", "neg")])
    return dict(source=p), [str(p), "--validation-split"]


def case_empty_folder(tmp_path):
    (tmp_path / "texts").mkdir()
    return dict(source=tmp_path / "texts"), [str(tmp_path / "texts"), "holds no texts"]


def case_empty_archive(tmp_path):
    (tmp_path / "texts" / "aclImdb").mkdir(parents=True)
    archive = make_archive(tmp_path / "texts.tar.gz", tmp_path / "texts", "texts")
    return dict(source=archive, validation_split=0.5), [str(archive), "holds no texts"]


def case_header_only_table(tmp_path):
    p = _table(tmp_path, "t.csv", "text,label\n")
    return dict(source=p), [str(p), "holds no texts"]


def case_test_split_only(tmp_path):
    root = write_files(tmp_path / "texts", {"test/pos/1.txt": "good", "test/neg/1.txt": "bad"})
    return dict(source=root), [str(root), "test/ but no train/"]


def case_columns_named_for_folders(tmp_path):
    root = write_files(tmp_path / "texts", {"pos/1.txt": "good", "neg/1.txt": "bad"})
    return dict(source=root, validation_split=0.5, text_column="body"), [str(root), "folder of class folders",
                                                                         "--text-column"]


def case_columns_named_for_an_archive(tmp_path):
    root = write_files(tmp_path / "texts", {"pos/1.txt": "good", "neg/1.txt": "bad"})
    archive = make_archive(tmp_path / "texts.tar.gz", root, "texts")
    return dict(source=archive, validation_data=archive, label_column="stars"), [str(archive), "archive of class"]


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
    return load_script("train_text")


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



"""python -m attention.predict: a trained model's answers, with the words it attended to.

`trained` is one tiny training run (conftest.py).
"""

import argparse
import csv
import gzip
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from attention import defaults, embeddings, evaluation, predict, serving
from attention import trained as trained_module
from attention.arguments import clean_exit
from attention.predict import main as predict_main
from attention.trained import shorten
from attention.visualize import attention_scorer
from script_runs import fails, load_script
from test_docs_examples import readme_example

ROOT = Path(__file__).resolve().parents[1]


def test_predict_from_arguments(trained, capsys):
    predict_main(["--model", str(trained[0]), "--top-k", "2", "great wonderful film", 'awful "boring" <b>movie</b>'])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    for number, (head, words) in enumerate(zip(lines[::2], lines[1::2]), start=1):
        fields = head.split("\t")
        assert fields[0] == str(number) and 0.0 <= float(fields[1]) <= 1.0
        if fields[1] != "0.5000":  # too close to call from the printed digits
            assert fields[2] == ("positive" if float(fields[1]) > 0.5 else "negative")
        assert words.startswith("\ttop words: ") and words.count(",") == 1
    assert lines[2].endswith('awful "boring" <b>movie</b>')


def test_predict_from_stdin(trained):
    result = subprocess.run(
        [sys.executable, "-m", "attention.predict", "--model", str(trained[0]), "--top-k", "1"],
        input="great film\n\nawful plot\n", capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines[::2]] == ["1", "2"]  # the blank line is skipped
    assert lines[0].endswith("\tgreat film") and lines[2].endswith("\tawful plot")
    assert re.fullmatch(r"\ttop words: (great|film) \d\.\d{3}", lines[1])


def test_predict_writes_json_lines_for_programs(trained, capsys):
    texts = ["great film", "awful plot, \u00e9t\u00e9"]
    predict_main(["--model", str(trained[0]), "--top-k", "2", *texts])
    lines = capsys.readouterr().out.splitlines()
    predict_main(["--model", str(trained[0]), "--top-k", "2", "--format", "jsonl", *texts])
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [a["number"] for a in answers] == [1, 2] and [a["text"] for a in answers] == texts
    for answer, line in zip(answers, lines[::2]):
        probabilities = answer["probabilities"]
        assert list(probabilities) == ["negative", "positive"] and sum(probabilities.values()) == pytest.approx(1)
        assert answer["predicted"] == max(probabilities, key=probabilities.get) == line.split("\t")[2]
        assert f"{probabilities['positive']:.4f}" == line.split("\t")[1]  # the text format's probability
        weights = [w["weight"] for w in answer["top_words"]]
        assert len(weights) == 2 and weights == sorted(weights, reverse=True)
    assert {w["word"]: w["position"] for w in answers[0]["top_words"]} == {"great": 0, "film": 1}


def test_predict_shows_a_progress_bar_past_one_batch(trained, capsys):
    # Texts run in batches of the training's size (on a CPU 1.2x to 1.3x as fast as in batches of 64).
    predict_main(["--model", str(trained[0]), *(f"great film {n}" for n in range(defaults.BATCH_SIZE))])
    captured = capsys.readouterr()
    assert captured.err == "" and len(captured.out.splitlines()) == 2 * defaults.BATCH_SIZE
    texts = defaults.BATCH_SIZE + 6  # one batch and a few texts
    predict_main(["--model", str(trained[0]), *(f"great film {n}" for n in range(texts))])
    captured = capsys.readouterr()
    assert re.search(rf"\b0/{texts} \[", captured.err) and len(captured.out.splitlines()) == 2 * texts


def test_predict_answers_standard_input_a_chunk_at_a_time(trained, capsys, monkeypatch):
    monkeypatch.setattr(predict, "CHUNK_TEXTS", 2)
    # One scoring model for all chunks: on TensorFlow each new one is traced anew (2.2x the time).
    built = []
    monkeypatch.setattr(predict, "attention_scorer", lambda model: built.append(attention_scorer(model)) or built[-1])
    texts = ["great film", "awful plot", "dull", "wonderful", "great acting"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("\n".join(texts).encode())))
    predict_main(["--model", str(trained[0])])
    chunked = capsys.readouterr().out.splitlines()
    assert len(built) == 1
    predict_main(["--model", str(trained[0]), *texts])
    whole = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in chunked[::2]] == ["1", "2", "3", "4", "5"]
    for a, b in zip(chunked[::2], whole[::2]):
        (n, p, _, text), (m, q, _, same) = a.split("\t"), b.split("\t")
        assert (n, text) == (m, same) and abs(float(p) - float(q)) <= 2e-4
    # An error comes after the answers to every text before it, in its chunk too.
    for data, error in ((b"great film\nawful plot\ndull\n\xff\nwonderful\n", "line 4 of standard input is not UTF-8 text"),
                        (b"great film\nawful plot\ndull\nzzzq\nwonderful\n",
                         "text 4 (standard input, line 4) has no word the model knows: 'zzzq'")):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        with pytest.raises(SystemExit):
            predict_main(["--model", str(trained[0])])
        captured = capsys.readouterr()
        assert [line.split("\t")[0] for line in captured.out.splitlines()[::2]] == ["1", "2", "3"]
        assert captured.err.splitlines()[-1].endswith(f"error: {error}")
    # From a terminal, each line is answered as it comes.
    class Terminal(io.TextIOWrapper):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdin", Terminal(io.BytesIO(b"great film\n\xff\n")))
    with pytest.raises(SystemExit):
        predict_main(["--model", str(trained[0])])
    assert [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()[::2]] == ["1"]
    # Texts are numbered through the whole input (blank lines skipped), and named by their line too.
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"great film\nawful plot\n\ndull\nzzzq\n")))
    fails(predict_main, ["--model", trained[0]], capsys, "text 4 (standard input, line 5) has no word the model knows")
    # A byte-order mark (as Windows tools write) is no part of the first text.
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("\ufeffgreat film\n".encode())))
    predict_main(["--model", str(trained[0]), "--format", "jsonl"])
    assert json.loads(capsys.readouterr().out)["text"] == "great film"

def test_predict_errors(trained, capsys, monkeypatch):
    fails(predict_main, ["--model", trained[0], "great", ""], capsys, "text 2 is empty")
    fails(predict_main, ["--model", trained[0], "zzzq"], capsys, "has no word the model knows")
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n  \n"))
    fails(predict_main, ["--model", trained[0]], capsys, "no text given")


@pytest.mark.parametrize("second, message", [("   ", "text 2 is empty"), ("zzzq", "text 2 has no word the model knows")])
def test_the_first_text_that_fails_stops_after_the_answers_before_it(trained, capsys, second, message):
    # A text that is not UTF-8 after it (as Python passes such an argument) was found first: a traceback.
    not_utf8 = b"bad \xff plot".decode("utf-8", "surrogateescape")
    err = fails(predict_main, ["--model", trained[0], "great film", second, not_utf8], capsys, message)
    assert "not valid UTF-8" not in err


def test_known_words_past_what_the_model_reads_are_named(trained, loaded, capsys):
    length = loaded[1].sequence_length
    fails(predict_main, ["--model", trained[0], "zzzq " * (length - 2) + "great"], capsys,
          f"text 1 has no word the model knows in the first {length - 2} words, all that it reads: 'zzzq zzzq")
    predict_main(["--model", str(trained[0]), "zzzq " * (length - 3) + "great"])  # the last word it reads
    assert capsys.readouterr().out.startswith("1\t")


@pytest.mark.parametrize("text, shown", [
    ("a great  film\n", "a great film"),
    ("the plot is dull and the acting is worse", "the plot is dull..."),
    ("中立" * 30, "中立" * 8 + "中..."),  # no space to cut at: cut inside the "word"
    ("a " + "x" * 40, "a " + "x" * 15 + "..."),
])
def test_shorten(text, shown):
    assert shorten(text, 20) == shown and len(shown) <= 20


def test_predict_refuses_text_that_is_not_utf8(trained, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"great film\n\xff\xfe awful\n")))
    fails(predict_main, ["--model", trained[0]], capsys, "line 2 of standard input is not UTF-8 text")
    # How Python passes an argument that is not UTF-8 (surrogate escapes).
    fails(predict_main, ["--model", trained[0], "great", b"awful \xff".decode("utf-8", "surrogateescape")], capsys,
          "text 2 is not valid UTF-8")



def test_predict_reads_the_texts_of_a_table(trained, capsys, monkeypatch, tmp_path):
    texts = ['great film, "truly"\nwonderful', "awful plot", "dull acting", "great acting"]
    table = tmp_path / "tickets.csv"
    with open(table, "w", newline="", encoding="utf-8") as f:  # a text over two lines, a blank row, other columns
        f.write("id,body,queue\n")
        csv.writer(f).writerows([[n, text, "x"] for n, text in enumerate(texts[:2])])
        f.write("\n")
        csv.writer(f).writerows([[n, text, "x"] for n, text in enumerate(texts[2:], start=2)])
    predict_main(["--model", str(trained[0]), "--format", "jsonl", *texts])
    from_arguments = capsys.readouterr().out
    predict_main(["--model", str(trained[0]), "--format", "jsonl", "--input", str(table), "--text-column", "body"])
    assert capsys.readouterr().out == from_arguments
    lines = tmp_path / "tickets.jsonl.gz"
    lines.write_bytes(gzip.compress("".join(json.dumps({"text": t, "id": n}) + "\n" for n, t in enumerate(texts)).encode()))
    monkeypatch.setattr(predict, "CHUNK_TEXTS", 3)  # numbered on through the chunks
    predict_main(["--model", str(trained[0]), "--format", "jsonl", "--input", str(lines)])
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [a["number"] for a in answers] == [1, 2, 3, 4] and [a["text"] for a in answers] == texts
    # A text the model cannot read, or a broken row (the table is read a chunk at a time), stops the
    # command where it lies, after the answers to every text before it.
    for content, error in [
        ("body\ngreat film\nawful plot\ndull\ngreat\n\n\"zzzq\nqqqz\"\n",
         f"text 5 ({table}, line 7) has no word the model knows: 'zzzq qqqz'"),
        ("id,body\n1,great film\n2,awful plot\n3,dull\n4,great\n5,awful,extra\n",
         f"{table}, line 6: 3 fields where the header has 2."),
    ]:
        table.write_text(content, encoding="utf-8")
        with pytest.raises(SystemExit):
            predict_main(["--model", str(trained[0]), "--input", str(table), "--text-column", "body"])
        captured = capsys.readouterr()
        assert [line.split("\t")[0] for line in captured.out.splitlines()[::2]] == ["1", "2", "3", "4"]
        assert captured.err.splitlines()[-1].endswith(f"error: {error}")


def test_predict_answers_carry_the_id_column(trained, capsys, tmp_path):
    # Kaggle's testData.tsv: an id and a review, quotes escaped with a backslash.
    table = tmp_path / "testData.tsv"
    table.write_text('id\treview\n"12311_10"\t"A \\"great\\" film"\n\n"8348_2"\t"awful plot"\n', encoding="utf-8")
    args = ["--model", str(trained[0]), "--input", str(table), "--text-column", "review", "--id-column", "id"]
    predict_main(args + ["--format", "jsonl"])
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(a["number"], a["id"], a["text"]) for a in answers] == [(1, "12311_10", 'A "great" film'), (2, "8348_2", "awful plot")]
    predict_main(args)
    lines = capsys.readouterr().out.splitlines()[::2]
    assert [line.split("\t")[0] for line in lines] == ["12311_10", "8348_2"]
    predict_main(["--model", str(trained[0]), "--input", str(table), "--text-column", "review"])
    assert [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()[::2]] == ["1", "2"]
    fails(predict_main, args[:-1] + ["key"], capsys,
          f"{table} has no column 'key' (its columns: 'id', 'review'); name the right one with --id-column")
    fails(predict_main, ["--model", trained[0], "--id-column", "id", "great"], capsys,
          "--id-column names a column of --input, which is not given")
    lines = tmp_path / "texts.jsonl"
    lines.write_text('{"text": "great film", "id": 7}\n{"text": "dull", "id": null}\n', encoding="utf-8")
    with pytest.raises(SystemExit):
        predict_main(["--model", str(trained[0]), "--input", str(lines), "--id-column", "id", "--format", "jsonl"])
    captured = capsys.readouterr()
    assert [json.loads(line)["id"] for line in captured.out.splitlines()] == ["7"]  # as a string, as a label is read
    assert captured.err.splitlines()[-1].endswith(f"{lines}, line 2: the field 'id' must be a string or an integer.")


def test_predict_table_errors(trained, capsys, tmp_path):
    table = tmp_path / "texts.csv"
    table.write_text("id,body\n1,great film\n", encoding="utf-8")
    # The table is read before the model (a missing model would fail second).
    fails(predict_main, ["--model", tmp_path / "missing.keras", "--input", table], capsys,
          f"{table} has no column 'text' (its columns: 'id', 'body'); name the right one with --text-column")
    fails(predict_main, ["--model", trained[0], "--input", table, "--text-column", "body", "great"], capsys,
          "pass texts as arguments or --input, not both")
    fails(predict_main, ["--model", trained[0], "--text-column", "body", "great"], capsys,
          "--text-column names a column of --input, which is not given")
    table.write_text("id,body\n", encoding="utf-8")
    fails(predict_main, ["--model", trained[0], "--input", table, "--text-column", "body"], capsys, f"{table}: no texts")
    fails(predict_main, ["--model", trained[0], "--input", tmp_path / "texts.txt"], capsys, "unknown format")
    table.write_text("id,body\n1,\n", encoding="utf-8")
    fails(predict_main, ["--model", trained[0], "--input", table, "--text-column", "body"], capsys,
          f"text 1 ({table}, line 2) is empty")


def test_readme_python_example_classifies_texts(trained, capsys, monkeypatch, tmp_path):
    (tmp_path / "logdir").mkdir()
    (tmp_path / "logdir" / "RUN").symlink_to(trained[0].parent)  # the example's path to a run
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_example("load_trained("), "README.md example (load_trained)", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    predict_main(["--model", str(trained[0]), "--format", "jsonl", "--top-k", "3", "A great film.", "Not bad at all."])
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(printed) == len(answers) == 2
    for line, answer in zip(printed, answers):
        assert line.startswith(answer["predicted"] + " [")
        words = [f"'{w['word']}'" for w in answer["top_words"]]
        assert all(word in line for word in words) and len(words) == 3


def test_predict_stops_quietly_when_its_reader_does(trained, tmp_path):
    # As `... | head -1`: the answers outgrow the pipe's buffer, and the reader goes after one line.
    table = tmp_path / "many.csv"
    table.write_text("text\n" + "great film\n" * 3000, encoding="utf-8")
    command = [sys.executable, "-m", "attention.predict", "--model", str(trained[0]), "--input", str(table)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT) as proc:
        first = proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode()
        status = proc.wait(timeout=300)
    assert first.startswith(b"1\t") and status == 1 and "Traceback" not in err and "BrokenPipe" not in err, err[-3000:]


COMMANDS_ON_A_MODEL = {  # each command that reads a trained model: its main, and its arguments
    "attention.predict": (lambda: predict_main, ["--model", "{model}", "great film"]),
    "attention.evaluation": (lambda: evaluation.main, ["--model", "{model}"]),
    "attention.embeddings": (lambda: embeddings.main, ["--model", "{model}", "--output", "{tmp}/vectors.txt"]),
    "attention.serving": (lambda: serving.main, ["{model}", "--output", "{tmp}/export"]),
    "visualize_attention.py": (lambda: load_script("visualize_attention").main,
                               ["--model", "{model}", "--output", "{tmp}/page.html"]),
}


@pytest.mark.parametrize("command", sorted(COMMANDS_ON_A_MODEL))
def test_ctrl_c_ends_a_command_with_one_line_and_leaves_nothing(command, trained, capsys, monkeypatch, tmp_path):
    if command == "attention.serving" and keras.backend.backend() != "tensorflow":
        pytest.skip("a SavedModel is written by TensorFlow")
    main, args = COMMANDS_ON_A_MODEL[command]
    main = main()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as Ctrl-C would, while the model loads

    monkeypatch.setattr(trained_module, "load_trained", interrupted)
    monkeypatch.setattr(serving, "load_trained", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        main([a.format(model=trained[0], tmp=tmp_path) for a in args])
    err = capsys.readouterr().err
    assert exit_info.value.code == 130 and err.endswith(": error: interrupted\n") and err.count("\n") == 1, err
    assert not list(tmp_path.iterdir())


def test_a_closed_pipe_ends_a_command_quietly(capsys):
    parser = argparse.ArgumentParser(prog="command")
    with pytest.raises(SystemExit) as exit_info, clean_exit(parser):
        raise BrokenPipeError  # as print() raises once the reader has gone
    assert exit_info.value.code == 1 and capsys.readouterr().err == ""


def test_predict_stops_on_ctrl_c_with_one_line(trained, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as Ctrl-C would, while the texts run

    monkeypatch.setattr(predict, "attend", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        predict_main(["--model", str(trained[0]), "great film"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 130 and err == "python -m attention.predict: error: interrupted\n"

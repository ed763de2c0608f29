"""Pre-trained word vectors (`--embeddings`) and a trained model's vectors written out (`python -m attention.embeddings`).

`trained` is one tiny training run of train_imdb.py (conftest.py).
"""

import gzip
import re
import json

import keras
import numpy as np
import pytest

from attention import build_model, training
from attention.data.errors import DatasetError
from attention.embeddings import main as embeddings_main, read_vectors, set_embeddings, word_vectors, \
    write_projector
from attention.vocabulary import Vocabulary, vocabulary_path
from fake_data import write_csv
from script_runs import SMALL, fails, load_script, only_run


def write_text(path, lines, compress=False):
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_reads_the_wanted_words_of_glove_and_word2vec_files(tmp_path, compress):
    glove = write_text(tmp_path / ("v.txt.gz" if compress else "v.txt"),
                       ["the 0.1 0.2 0.3", "film 1 2 3", "unwanted x y z", "Great 7 8 9", "great 4 5 6",
                        "Good 1e-1 -2 3.5", "GOOD 0 0 0", "new york 5 5 5", "film 9 9 9"], compress)
    vectors = read_vectors(glove, ["film", "great", "good", "absent"], 3)
    assert set(vectors) == {"film", "great", "good"}  # "unwanted" is not even parsed as numbers
    np.testing.assert_array_equal(vectors["great"], [4, 5, 6])  # its own vector, not "Great"'s
    np.testing.assert_allclose(vectors["good"], [0.1, -2, 3.5])  # the first cased form
    assert vectors["film"].dtype == np.float32
    np.testing.assert_array_equal(vectors["film"], [1, 2, 3])  # listed twice: the first, as gensim reads it
    assert set(read_vectors(glove, ["new york"], 3)) == {"new york"}  # a word with a space
    spaced = write_text(tmp_path / "spaced.txt", ["the 1 2 3", "chapter 1 4 5 6", ". . . 7 8 9"])  # ending in a number too
    assert {w: v.tolist() for w, v in read_vectors(spaced, ["chapter 1", ". . ."], 3).items()} == {
        "chapter 1": [4, 5, 6], ". . .": [7, 8, 9]}
    word2vec = write_text(tmp_path / "w2v.txt", ["2 3", "film 1 2 3", "great 4 5 6"])
    assert set(read_vectors(word2vec, ["film", "great"], 3)) == {"film", "great"}


@pytest.mark.parametrize("lines, message", [
    (["film 1 2 3 4"], "line 1: a vector of 4 numbers, but the model's embeddings have 3 (--embedding-dim 4"),
    (["film 1 2 3", "great 1 2"], "line 2: a vector of 2 numbers, where the lines before have 3"),
    (["film 1 2 3", "great 1 two 3"], "line 2: the vector of 'great' is not all numbers"),
    (["film 1 2 3", "great 1 nan 3"], "line 2: the vector of 'great' has a number that is not finite in float32"),
    (["film 1 2 3", "great 1 1e40 3"], "line 2: the vector of 'great' has a number that is not finite in float32"),
    (["other 1 2 3", "film 1 2 3 4", "great 1 2 3 4"], "none of the vocabulary's 2 words (2 of its lines have more than 3 numbers)"),
    (["other 1 2 3"], "has a vector for none of the vocabulary's 2 words"),
])
def test_bad_vectors_say_where(tmp_path, lines, message):
    with pytest.raises(DatasetError, match=re.escape(message)):
        read_vectors(write_text(tmp_path / "v.txt", lines), ["film", "great"], 3)


def test_only_ascii_spaces_and_tabs_part_a_line(tmp_path):
    # GloVe's 840B file has words holding U+00A0; str.split() made "film\u00a0" the word "film".
    nbsp, ideographic = "\u00a0", "\u3000"
    path = write_text(tmp_path / "v.txt", [f"film{nbsp} 0 0 0", f"{nbsp}great 0 0 0", f"{ideographic} 0 0 0",
                                          "film 1 2 3", "great\t4\t5\t6 ", "fine  7 8 9"])
    vectors = read_vectors(path, ["film", "great", "fine", f"film{nbsp}"], 3)
    assert {w: v.tolist() for w, v in vectors.items()} == {
        "film": [1, 2, 3], "great": [4, 5, 6], "fine": [7, 8, 9], f"film{nbsp}": [0, 0, 0]}


@pytest.mark.parametrize("header", [[], ["2 3"]])
def test_a_byte_order_mark_is_not_part_of_the_first_word(tmp_path, header):
    path = tmp_path / "v.txt"
    path.write_bytes("\n".join([*header, "film 1 2 3", "great 4 5 6"]).encode("utf-8-sig"))
    assert set(read_vectors(path, ["film", "great"], 3)) == {"film", "great"}


def test_unreadable_files_are_data_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        read_vectors(tmp_path / "absent.txt", ["film"], 3)
    (tmp_path / "latin1.txt").write_bytes(b"film 1 2 3\ncaf\xe9 1 2 3\n")
    with pytest.raises(DatasetError, match="line 2: not UTF-8 text"):
        read_vectors(tmp_path / "latin1.txt", ["film"], 3)
    (tmp_path / "w2v.bin").write_bytes(b"2 3\nfilm \x00\x00\x80\x3f\xff\xfe\n")  # word2vec's binary format
    with pytest.raises(DatasetError, match="binary format is not read"):
        read_vectors(tmp_path / "w2v.bin", ["film"], 3)
    write_text(tmp_path / "V.TXT.GZ", ["film 1 2 3"], compress=True)  # gzip, whatever the case of its name
    assert set(read_vectors(tmp_path / "V.TXT.GZ", ["film"], 3)) == {"film"}


def test_vectors_go_to_their_words_rows():
    vocabulary = Vocabulary({"the": 1, "film": 2, "great": 3, "rare": 40}, num_words=50, index_from=3)
    model = build_model(vocabulary_size=10, embedding_dim=3, hidden_size=2, attention_size=2)
    before = model.get_layer("embedding").get_weights()[0]
    vectors = {"film": np.array([1, 2, 3], "float32"), "great": np.array([4, 5, 6], "float32"),
               "rare": np.array([7, 8, 9], "float32")}
    assert set_embeddings(model, vocabulary, vectors) == 2  # "rare" (id 43) has no row in 10
    after = model.get_layer("embedding").get_weights()[0]
    np.testing.assert_array_equal(after[[5, 6]], [[1, 2, 3], [4, 5, 6]])  # rank + index_from
    untouched = [i for i in range(10) if i not in (5, 6)]
    np.testing.assert_array_equal(after[untouched], before[untouched])


def test_a_vocabulary_without_words_writes_no_projector(tmp_path):
    # IMDB data without its word index trains on ids alone: nothing names the vectors.
    model = build_model(vocabulary_size=10, embedding_dim=3, hidden_size=2, attention_size=2)
    assert write_projector(model, Vocabulary(None), tmp_path) == 0 and not any(tmp_path.iterdir())
    words, vectors = word_vectors(model, Vocabulary({"film": 1}, num_words=10))
    assert words == ["film"] and vectors.shape == (1, 3)


WORDS = ["the", "film", "was", "great", "superb", "awful", "dull"]


def texts_and_vectors(folder):
    """Sixteen short labelled texts in `folder`/texts.csv, and a 4-number vector for each of their
    words in `folder`/vectors.txt: (the table's path, the vectors' path, the vectors)."""
    rows = [(f"the film was {w} {w}", label) for w, label in
            [("great", "pos"), ("superb", "pos"), ("awful", "neg"), ("dull", "neg")] * 4]
    given = {w: np.random.default_rng(i).normal(size=4).round(3) for i, w in enumerate(WORDS)}
    vectors = write_text(folder / "vectors.txt", [f"{w} " + " ".join(map(str, v)) for w, v in given.items()])
    return write_csv(folder / "texts.csv", rows), vectors, given


def test_training_starts_from_the_vectors_and_writes_them_back(tmp_path, capsys, monkeypatch):
    table, vectors, given = texts_and_vectors(tmp_path)
    # With a negligible learning rate, the trained rows are still the given vectors.
    monkeypatch.chdir(tmp_path)
    load_script("train_text").main([str(a) for a in [
        "--data", table, "--validation-split", "0.25", "--logdir", tmp_path / "logs", "--cache-dir", tmp_path / "cache",
        *SMALL, "--embedding-dim", "4", "--learning-rate", "1e-9", "--embeddings", "vectors.txt"]])
    assert "Word vectors for 7 of the 7 words from vectors.txt" in capsys.readouterr().out
    run = only_run(tmp_path / "logs")
    assert json.loads((run / "run.json").read_text())["config"]["embeddings"] == str(vectors.resolve())  # absolute
    embeddings_main(["--model", str(run / "model.keras"), "--output", str(tmp_path / "out.txt")])
    written = read_vectors(tmp_path / "out.txt", WORDS, 4)
    assert set(written) == set(WORDS)
    for word in WORDS:
        np.testing.assert_allclose(written[word], given[word], atol=1e-4)
    assert "Wrote 7 word vectors of 4 numbers" in capsys.readouterr().out
    # A .gz name is written compressed, and reads back (it was plain text under that name).
    embeddings_main(["--model", str(run / "model.keras"), "--output", str(tmp_path / "out.txt.gz")])
    assert gzip.decompress((tmp_path / "out.txt.gz").read_bytes()) == (tmp_path / "out.txt").read_bytes()
    assert {w: v.tolist() for w, v in read_vectors(tmp_path / "out.txt.gz", WORDS, 4).items()} == \
        {w: v.tolist() for w, v in written.items()}


def test_frozen_embeddings_keep_the_given_vectors_while_the_rest_trains(tmp_path, capsys, monkeypatch):
    table, _, given = texts_and_vectors(tmp_path)
    monkeypatch.chdir(tmp_path)
    started = []  # the output layer's weights as each run builds its model

    def build_model_and_keep_its_start(*args, **kwargs):
        model = build_model(*args, **kwargs)
        started.append(model.get_layer("output").get_weights())
        return model

    monkeypatch.setattr(training, "build_model", build_model_and_keep_its_start)
    for frozen in (True, False):  # a learning rate that moves every trained weight
        logs = tmp_path / f"logs-{frozen}"
        load_script("train_text").main([str(a) for a in [
            "--data", table, "--validation-split", "0.25", "--logdir", logs, "--cache-dir", tmp_path / "cache",
            *SMALL, "--embedding-dim", "4", "--learning-rate", "0.05", "--embeddings", "vectors.txt",
            "--freeze-embeddings" if frozen else "--no-freeze-embeddings"]])
        run = only_run(logs)
        model = keras.saving.load_model(run / "model.keras")
        assert model.get_layer("embedding").trainable is not frozen
        vectors = dict(zip(*word_vectors(model, Vocabulary.load(vocabulary_path(run / "model.keras")))))
        for word in WORDS:
            if frozen:
                np.testing.assert_allclose(vectors[word], given[word], rtol=0, atol=1e-6)
            else:
                assert np.abs(vectors[word] - given[word]).max() > 1e-2
        for start, end in zip(started[-1], model.get_layer("output").get_weights()):
            assert np.abs(end - start).max() > 1e-2  # the rest of the network trains either way
    capsys.readouterr()


def test_bad_vectors_stop_training_before_a_run_starts(tmp_path, capsys):
    table = write_csv(tmp_path / "texts.csv", [("great film", "pos"), ("awful film", "neg")] * 4)
    vectors = write_text(tmp_path / "vectors.txt", ["great 1 2 3"])
    args = ["--data", table, "--validation-split", "0.25", "--logdir", tmp_path / "logs", "--cache-dir",
            tmp_path / "cache", *SMALL, "--embeddings", vectors]
    fails(load_script("train_text").main, args, capsys, "a vector of 3 numbers, but the model's embeddings have 8")
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").iterdir())


def test_vectors_only_for_words_the_model_has_no_row_for_are_an_error(tmp_path, capsys):
    # --max-samples keeps the rows of the words its texts hold: a rarer word has no row to set.
    table = write_csv(tmp_path / "texts.csv", [("great film", "pos"), ("awful film", "neg")] * 20 + [("dull", "neg")])
    vectors = write_text(tmp_path / "vectors.txt", ["dull 1 2 3"])
    args = ["--data", table, "--validation-data", table, "--cache-dir", tmp_path / "cache", *SMALL,
            "--embedding-dim", "3", "--embeddings", vectors]
    load_script("train_text").main([str(a) for a in [*args, "--logdir", tmp_path / "all"]])
    assert "Word vectors for 1 of the 4 words" in capsys.readouterr().out
    fails(load_script("train_text").main, [*args, "--logdir", tmp_path / "logs", "--max-samples", "2"], capsys,
          "has a vector for none of the vocabulary's")
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").iterdir())


def test_a_model_without_vectors_keeps_the_run_key_of_before():
    # Runs interrupted before --embeddings existed still resume: an unused option is not in the key.
    from attention.runs import Run

    config = {"num_words": 10, "seed": 1}
    assert Run.config_key({**config, "embeddings": None}) == Run.config_key(config)
    assert Run.config_key({**config, "embeddings": "v.txt"}) != Run.config_key(config)
    assert Run.config_key({**config, "freeze_embeddings": False}) == Run.config_key(config)
    assert Run.config_key({**config, "freeze_embeddings": True}) != Run.config_key(config)


def test_writing_needs_a_writable_output(trained, tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    fails(embeddings_main, ["--model", trained[0], "--output", tmp_path / "a_file" / "v.txt"], capsys, "--output: cannot write")
    # A folder is refused before the model loads, not replaced once the vectors are written.
    fails(embeddings_main, ["--model", tmp_path / "absent.keras", "--output", tmp_path], capsys,
          f"--output: {str(tmp_path)!r} is a folder: name a file")


def test_a_finished_run_shows_its_word_vectors_in_tensorboards_projector(trained, loaded):
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    run_dir = trained[0].parent
    config = text_format.Parse((run_dir / "projector_config.pbtxt").read_text(), ProjectorConfig())
    (embedding,) = config.embeddings
    words = (run_dir / embedding.metadata_path).read_text(encoding="utf-8").splitlines()
    vectors = np.loadtxt(run_dir / embedding.tensor_path, delimiter="\t", ndmin=2)
    model, vocabulary = loaded
    expected_words, expected = word_vectors(model, vocabulary)
    assert words == expected_words and len(words) > 10 and vectors.shape == (len(words), 8)  # SMALL's embedding
    np.testing.assert_allclose(vectors, expected, rtol=1e-4, atol=1e-5)
    index = {word: rank for word, rank in vocabulary.word_index.items()}
    np.testing.assert_allclose(vectors[words.index("the")],
                               model.get_layer("embedding").get_weights()[0][index["the"] + vocabulary.index_from],
                               rtol=1e-4, atol=1e-5)

"""Pre-trained word vectors (`--embeddings`) and a trained model's vectors written out (`python -m attention.embeddings`).

`trained` is one tiny training run of train_imdb.py (conftest.py).
"""

import gzip
import json

import numpy as np
import pytest

from attention import build_model
from attention.data.errors import DatasetError
from attention.embeddings import main as embeddings_main, read_vectors, set_embeddings, word_vectors, \
    write_projector
from attention.vocabulary import Vocabulary
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
                        "Good 1e-1 -2 3.5", "GOOD 0 0 0", "new york 5 5 5"], compress)
    vectors = read_vectors(glove, ["film", "great", "good", "absent"], 3)
    assert set(vectors) == {"film", "great", "good"}  # "unwanted" is not even parsed as numbers
    np.testing.assert_array_equal(vectors["great"], [4, 5, 6])  # its own vector, not "Great"'s
    np.testing.assert_allclose(vectors["good"], [0.1, -2, 3.5])  # the first cased form
    assert vectors["film"].dtype == np.float32
    assert set(read_vectors(glove, ["new york"], 3)) == {"new york"}  # a word with a space
    word2vec = write_text(tmp_path / "w2v.txt", ["2 3", "film 1 2 3", "great 4 5 6"])
    assert set(read_vectors(word2vec, ["film", "great"], 3)) == {"film", "great"}


@pytest.mark.parametrize("lines, message", [
    (["film 1 2 3 4"], "line 1: a vector of 4 numbers, but the model's embeddings have 3 (--embedding-dim 4"),
    (["film 1 2 3", "great 1 2"], "line 2: a vector of 2 numbers"),
    (["film 1 2 3", "great 1 two 3"], "line 2: the vector of 'great' is not all numbers"),
    (["film 1 2 3", "great 1 nan 3"], "line 2: the vector of 'great' is not finite"),
    (["other 1 2 3"], "has a vector for none of the vocabulary's 2 words"),
])
def test_bad_vectors_say_where(tmp_path, lines, message):
    with pytest.raises(DatasetError, match=message.replace("(", r"\(")):
        read_vectors(write_text(tmp_path / "v.txt", lines), ["film", "great"], 3)


def test_unreadable_files_are_data_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        read_vectors(tmp_path / "absent.txt", ["film"], 3)
    (tmp_path / "latin1.txt").write_bytes(b"film 1 2 3\ncaf\xe9 1 2 3\n")
    with pytest.raises(DatasetError, match="line 2: not UTF-8 text"):
        read_vectors(tmp_path / "latin1.txt", ["film"], 3)


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


def test_training_starts_from_the_vectors_and_writes_them_back(tmp_path, capsys, monkeypatch):
    rows = [(f"the film was {w} {w}", label) for w, label in
            [("great", "pos"), ("superb", "pos"), ("awful", "neg"), ("dull", "neg")] * 4]
    table = write_csv(tmp_path / "texts.csv", rows)
    words = ["the", "film", "was", "great", "superb", "awful", "dull"]
    given = {w: np.random.default_rng(i).normal(size=4).round(3) for i, w in enumerate(words)}
    vectors = write_text(tmp_path / "vectors.txt", [f"{w} " + " ".join(map(str, v)) for w, v in given.items()])
    # With a negligible learning rate, the trained rows are still the given vectors.
    monkeypatch.chdir(tmp_path)
    load_script("train_text").main([str(a) for a in [
        "--data", table, "--validation-split", "0.25", "--logdir", tmp_path / "logs", "--cache-dir", tmp_path / "cache",
        *SMALL, "--embedding-dim", "4", "--learning-rate", "1e-9", "--embeddings", "vectors.txt"]])
    assert "Word vectors for 7 of the 7 words from vectors.txt" in capsys.readouterr().out
    run = only_run(tmp_path / "logs")
    assert json.loads((run / "run.json").read_text())["config"]["embeddings"] == str(vectors.resolve())  # absolute
    embeddings_main(["--model", str(run / "model.keras"), "--output", str(tmp_path / "out.txt")])
    written = read_vectors(tmp_path / "out.txt", words, 4)
    assert set(written) == set(words)
    for word in words:
        np.testing.assert_allclose(written[word], given[word], atol=1e-4)
    assert "Wrote 7 word vectors of 4 numbers" in capsys.readouterr().out


def test_bad_vectors_stop_training_before_a_run_starts(tmp_path, capsys):
    table = write_csv(tmp_path / "texts.csv", [("great film", "pos"), ("awful film", "neg")] * 4)
    vectors = write_text(tmp_path / "vectors.txt", ["great 1 2 3"])
    args = ["--data", table, "--validation-split", "0.25", "--logdir", tmp_path / "logs", "--cache-dir",
            tmp_path / "cache", *SMALL, "--embeddings", vectors]
    fails(load_script("train_text").main, args, capsys, "a vector of 3 numbers, but the model's embeddings have 8")
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").iterdir())


def test_a_model_without_vectors_keeps_the_run_key_of_before():
    # Runs interrupted before --embeddings existed still resume: an unused option is not in the key.
    from attention.runs import Run

    config = {"num_words": 10, "seed": 1}
    assert Run.config_key({**config, "embeddings": None}) == Run.config_key(config)
    assert Run.config_key({**config, "embeddings": "v.txt"}) != Run.config_key(config)


def test_writing_needs_a_writable_output(trained, tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    fails(embeddings_main, ["--model", trained[0], "--output", tmp_path / "a_file" / "v.txt"], capsys, "--output: cannot write")


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

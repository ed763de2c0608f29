"""The documentation's code runs as written: README.md's Python examples and the package's docstring examples."""

from __future__ import annotations

import doctest
import importlib
import re
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

from attention import AttentionLayer

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```", README, re.M | re.S)


def readme_example(phrase: str) -> str:
    """The one Python block of README.md that holds `phrase`."""
    (block,) = [block for block in PYTHON_BLOCKS if phrase in block]
    return block


def run_readme_example(phrase: str, **data) -> dict:
    """Runs the block as a reader would, after the first example's imports, with `data` as the
    reader's own names; returns its names."""
    names = {"keras": keras, "AttentionLayer": AttentionLayer, **data}
    exec(compile(readme_example(phrase), f"README.md example ({phrase})", "exec"), names)
    return names


def ids(*rows: list[int], width: int) -> np.ndarray:
    """Rows of word ids padded with 0 to `width`."""
    return np.array([row + [0] * (width - len(row)) for row in rows], dtype="int32")


def predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Eager on TensorFlow and PyTorch (TensorFlow would trace a graph per shape, slower here);
    compiled on JAX, where each eager op compiles anew."""
    if keras.backend.backend() == "jax":
        return model.predict_on_batch(x)
    return keras.ops.convert_to_numpy(model(x))


def test_readme_drop_in_example_saves_and_loads_without_custom_objects(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the example writes model.keras where it runs
    x = ids([5, 17, 300, 2], [9, 4], width=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # what the example shows runs cleanly, and loads without a warning
        names = run_readme_example("keras.Sequential", x_train=x, y_train=np.array([1.0, 0.0]))
    expected = predict(names["model"], x)
    restored = keras.models.load_model(tmp_path / "model.keras")
    assert any(isinstance(layer, AttentionLayer) for layer in restored.layers)
    np.testing.assert_allclose(predict(restored, x), expected, rtol=1e-6, atol=1e-6)
    # "padding ignored": more padding changes nothing.
    wider = np.pad(x, ((0, 0), (0, 5)))
    np.testing.assert_allclose(predict(restored, wider), expected, rtol=1e-5, atol=1e-6)


def test_readme_hierarchical_example_reads_documents_of_padded_sentences():
    model = run_readme_example("sentence_encoder")["model"]
    # 30 sentences of up to 4 words (few steps: TensorFlow runs the GRUs' loops op by op here)
    documents = np.zeros((2, 30, 4), dtype="int32")
    documents[0, :3, :3] = np.random.default_rng(0).integers(1, 20000, (3, 3))
    documents[1, :1, :2] = [[12, 7]]
    scores = predict(model, documents)
    assert scores.shape == (2, 5) and np.isfinite(scores).all()
    # Padded words and padded sentences are masked at both levels.
    wider = np.pad(documents, ((0, 0), (0, 0), (0, 2)))
    np.testing.assert_allclose(predict(model, wider), scores, rtol=1e-5, atol=1e-6)


def test_readme_bidirectional_gru_example_gives_both_directions():
    names = run_readme_example("BidirectionalGRU(")
    forward, backward = names["rnn"](np.ones((2, 5, 3), "float32"))
    assert tuple(forward.shape) == tuple(backward.shape) == (2, 5, 64)


def test_every_python_example_of_the_readme_is_run_here_or_by_the_serving_tests():
    run_here = ["keras.Sequential", "sentence_encoder", "BidirectionalGRU("]
    # These need a finished run: test_serving.py loads an export the same way, test_predict.py
    # runs the Python example on its run.
    elsewhere = ["tf.saved_model.load", "load_trained("]
    assert PYTHON_BLOCKS and all(sum(p in block for p in run_here + elsewhere) == 1 for block in PYTHON_BLOCKS)


def modules_with_examples() -> list[str]:
    """The package's modules whose docstrings hold examples that doctest runs (not all `+SKIP`)."""
    return sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in (ROOT / "attention").rglob("*.py")
        if any(">>>" in line and "+SKIP" not in line for line in path.read_text(encoding="utf-8").splitlines())
    )


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    # As in Keras's own docstrings, `np` and `keras` are taken as imported.
    runner, report = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS), []
    for test in doctest.DocTestFinder().find(module, globs={**vars(module), "np": np, "keras": keras}):
        runner.run(test, out=report.append)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0 and results.failed == 0, "".join(report)

"""The suite on JAX and PyTorch too, and `.keras` files that travel between backends.

Keras picks its backend once per process, so each backend's tests run in a
process of their own, with TensorFlow made unimportable there: the package,
the scripts and their tests must run where TensorFlow is not installed.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("jax", "torch")
# Everything that does not test TensorFlow itself (the TF1 parity and benchmark tests do), in
# groups that take a few minutes each on JAX: each group is a test of its own per backend, which
# pytest-xdist runs beside the rest of the suite.
PORTABLE = {
    "layer": ["test_layer.py", "test_layer_properties.py", "test_docs_examples.py", "test_metrics.py"],
    "recurrence": ["test_gru.py", "test_bidirectional.py", "test_graphed_loop.py", "test_torch_compiled.py",
                   "test_torch_fused.py"],
    "data_and_scripts": ["test_preprocessing.py", "test_pipeline.py", "test_ragged.py", "test_imdb.py",
                         "test_imdb_cache.py", "test_imdb_errors.py", "test_labelled.py", "test_labelled_forms.py",
                         "test_labelled_errors.py", "test_labelled_layouts.py", "test_runs.py", "test_train.py",
                         "test_train_text.py", "test_visualize.py", "test_predict.py", "test_evaluation.py",
                         "test_trained.py", "test_embeddings.py", "test_baselines.py"],
}
# What tests TensorFlow, or runs other backends in processes of its own.
TENSORFLOW_ONLY = {"test_backends.py", "test_benchmark.py", "test_compile_cache.py", "test_docs_references.py",
                   "test_parity.py", "test_serving.py",
                   "test_tokenizer.py"}
HIDDEN = ("tensorflow", "tf_keras")  # what a JAX or PyTorch machine may not have


def installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


@pytest.fixture(scope="module")
def without_tensorflow(tmp_path_factory) -> Path:
    """A folder of links to every installed package but TensorFlow's: a site-packages without it."""
    folder = tmp_path_factory.mktemp("site-packages-without-tensorflow")
    for site_packages in {Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()}:
        for entry in site_packages.iterdir():
            name = entry.name.lower()
            if not name.startswith(HIDDEN) and not (folder / entry.name).exists():
                (folder / entry.name).symlink_to(entry)
    return folder


def run_python(code: str, backend: str, site_packages: Path | None = None, timeout: int = 900,
               env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs `code` with `backend`; other backends run without TensorFlow on the path at all."""
    env = {**os.environ, **(env or {}), "KERAS_BACKEND": backend}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    command = [sys.executable, "-c", code]
    if backend != "tensorflow":
        # -S: no site-packages but the one given (the project itself is the working folder).
        command = [sys.executable, "-S", "-c", code]
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(site_packages)])
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("group", PORTABLE)
@pytest.mark.parametrize("backend", BACKENDS)
def test_suite_passes_without_tensorflow(backend, group, without_tensorflow, tmp_path):
    if not installed(backend):
        pytest.skip(f"{backend} is not installed (pip install -e '.[test]')")
    files = [str(ROOT / "tests" / name) for name in PORTABLE[group]]
    # -n 0: in this process itself. xdist's workers would start without -S, where TensorFlow is.
    code = "import importlib.util, sys, pytest\nassert importlib.util.find_spec('tensorflow') is None\n"
    if backend == "jax":
        # The group's tests build the same tiny models over and over, and on JAX compiling them is
        # most of its time: JAX's compilation cache, new for this run of the group, keeps each
        # program for the tests after it (data_and_scripts: 230 s without it, 162 s with it). Set
        # in JAX's config, not by JAX_COMPILATION_CACHE_DIR, which conftest.py empties.
        code += ("import jax\n"
                 f"jax.config.update('jax_compilation_cache_dir', {str(tmp_path / 'jax-cache')!r})\n"
                 "jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)\n")
    code += f"sys.exit(pytest.main({['-q', '-p', 'no:cacheprovider', '-n', '0', *files]!r}))\n"
    # The suite's models are tiny, so on JAX XLA's optimising compiles are most of its time
    # (test_runs, test_train and test_bidirectional: 92 s at level 0, 152 s without). The .keras
    # test below keeps XLA's default level.
    env = {"XLA_FLAGS": "--xla_backend_optimization_level=0"} if backend == "jax" else {}
    result = run_python(code, backend, without_tensorflow, env=env)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout


def test_each_test_file_is_portable_or_tensorflow_only():
    portable = [name for names in PORTABLE.values() for name in names]
    assert len(portable) == len(set(portable)) and not set(portable) & TENSORFLOW_ONLY
    assert set(portable) | TENSORFLOW_ONLY == {path.name for path in (ROOT / "tests").glob("test_*.py")}


SAVE = """
import sys, keras, numpy as np
import attention
keras.utils.set_random_seed(7)
model = attention.build_model(60, 8, 6, 4)
x = np.random.default_rng(0).integers(1, 60, (5, 9)).astype("int32")
x[1, 4:] = 0
x[2, 1:] = 0
model.fit(x, np.array([0, 1, 1, 0, 1], "float32"), epochs=1, verbose=0)
model.save(sys.argv[1])
np.save(sys.argv[2], x)
"""

PREDICT = """
import json, sys, keras, numpy as np
import attention
results = {}
own = attention.build_model(60, 8, 6, 4).jit_compile  # how this backend compiles a new model
for source, (path, data) in json.loads(sys.argv[1]).items():
    x = np.load(data)
    model = keras.models.load_model(path)
    logits = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
    _, _, alphas = attention.inspection_model(model).predict(x, verbose=0)
    # It trains on, from the saved optimizer state: one step after the saved one.
    model.fit(x, np.array([0, 1, 1, 0, 1], "float32"), epochs=1, verbose=0)
    results[source] = {"logits": logits.tolist(), "alphas": np.asarray(alphas).tolist(),
                       "jit_compile": [model.jit_compile, own],
                       "steps": int(keras.ops.convert_to_numpy(model.optimizer.iterations))}
print(json.dumps(results))
"""


def test_keras_files_load_and_predict_the_same_on_every_backend(tmp_path, without_tensorflow):
    backends = ["tensorflow", *(b for b in BACKENDS if installed(b))]
    if len(backends) == 1:
        pytest.skip("no other backend installed (pip install -e '.[test]')")
    files = {}
    for source in backends:
        model, data = tmp_path / f"{source}.keras", tmp_path / f"{source}.npy"
        saved = run_python(SAVE.replace("sys.argv[1]", repr(str(model))).replace("sys.argv[2]", repr(str(data))), source,
                           without_tensorflow)
        assert saved.returncode == 0, saved.stderr[-3000:]
        files[source] = (str(model), str(data))
    # One process per backend loads every backend's file: starting a backend is most of the time.
    results = {}
    for target in backends:
        loaded = run_python(PREDICT.replace("sys.argv[1]", repr(json.dumps(files))), target, without_tensorflow)
        assert loaded.returncode == 0, f"-> {target}: {loaded.stderr[-3000:]}"
        for source, got in json.loads(loaded.stdout.strip().splitlines()[-1]).items():
            results[source, target] = got
    assert len(results) == len(backends) ** 2
    for (source, target), got in results.items():
        expected = results[source, source]
        np.testing.assert_allclose(got["logits"], expected["logits"], atol=1e-5, err_msg=f"{source} -> {target}")
        np.testing.assert_allclose(got["alphas"], expected["alphas"], atol=1e-5, err_msg=f"{source} -> {target}")
        # Compiled as the loading backend compiles its own models: a file from JAX once ran
        # under torch.compile on PyTorch (135 s for these 5 rows), one from TensorFlow op by op on JAX.
        loaded, own = got["jit_compile"]
        assert loaded == own, f"{source} -> {target}: jit_compile {loaded}, a new model there has {own}"
        assert got["steps"] == 2, f"{source} -> {target}: {got['steps']} optimizer steps"

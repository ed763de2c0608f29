import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# No compiled programs kept between the suite's runs, nor in the user's cache. Where the cache is
# on, it is a fresh folder: test_compile_cache.py tests it, and test_backends.py's JAX groups share
# each program among their tests.
os.environ["JAX_COMPILATION_CACHE_DIR"] = ""

import attention  # noqa: E402,F401  (first: it quiets TensorFlow's start-up logging)

import signal
from pathlib import Path

import pytest

from fake_data import make_archive, make_folder, write_aclimdb  # pytest puts tests/ on the path
from script_runs import SMALL, load_script


@pytest.fixture(scope="session")
def tiny_imdb(tmp_path_factory) -> Path:
    """A tiny aclImdb/ folder: 48 training and 48 test reviews."""
    return write_aclimdb(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def trained(tiny_imdb, tmp_path_factory) -> tuple[Path, Path, Path]:
    """One tiny training run of train_imdb.py on `tiny_imdb`: (model path, data folder, cache folder).

    Shared by the tests of the training script, the views, `attention.predict` and `attention.trained`,
    which only read it.
    """
    logdir, cache = tmp_path_factory.mktemp("logdir"), tmp_path_factory.mktemp("cache")
    load_script("train_imdb").main([str(a) for a in ["--data", tiny_imdb, "--logdir", logdir, "--cache-dir", cache, *SMALL]])
    (model_path,) = Path(logdir).glob("*/model.keras")
    return model_path, tiny_imdb, cache


@pytest.fixture(scope="session")
def loaded(trained):
    """`trained`'s model and vocabulary, as `attention.trained.load_trained` gives them."""
    from attention.trained import load_trained

    return load_trained(trained[0])


@pytest.fixture
def isolated_keras_home(tmp_path_factory, monkeypatch) -> Path:
    """An empty KERAS_HOME, which keeps every default cache out of the real ~/.keras."""
    home = tmp_path_factory.mktemp("keras_home")
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


@pytest.fixture
def folder(tmp_path) -> Path:
    """`fake_data.REVIEWS` as an aclImdb folder."""
    return make_folder(tmp_path / "aclImdb")


@pytest.fixture
def archive(tmp_path, folder) -> Path:
    """`fake_data.REVIEWS` as an aclImdb .tar.gz."""
    return make_archive(tmp_path / "aclImdb_v1.tar.gz", folder)


@pytest.fixture
def cache(tmp_path) -> Path:
    """A cache folder for the loaders, not made yet."""
    return tmp_path / "cache"


@pytest.fixture
def python_sigint_handler():
    """Python's own SIGINT handler in force, whatever the test runner set."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)

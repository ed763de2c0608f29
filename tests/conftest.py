import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# No compiled programs kept between the tests' runs (nor in the user's cache): each test
# compiles what it runs. tests/test_compile_cache.py turns the cache on where it tests it.
os.environ["JAX_COMPILATION_CACHE_DIR"] = ""

import attention  # noqa: E402,F401  (first: it quiets TensorFlow's start-up logging)

from pathlib import Path

import pytest

from fake_data import make_archive, make_folder, write_aclimdb  # pytest puts tests/ on the path


@pytest.fixture(scope="session")
def tiny_imdb(tmp_path_factory) -> Path:
    """A tiny aclImdb/ folder: 48 training and 48 test reviews."""
    return write_aclimdb(tmp_path_factory.mktemp("data"))


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

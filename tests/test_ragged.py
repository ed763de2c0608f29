"""Ragged rows: what load_labelled returns, and the original's pre-processing on them."""

import numpy as np
import pytest

from attention.data.ragged import Ragged
from attention.preprocessing import fit_in_vocabulary, get_vocabulary_size, zero_pad

RNG = np.random.default_rng(0)
ROWS = [list(map(int, RNG.integers(1, 60, RNG.integers(0, 15)))) for _ in range(257)] + [[]]


@pytest.fixture
def rows():
    return Ragged.from_rows(ROWS)


def test_rows_read_back_as_lists(rows):
    assert len(rows) == len(ROWS) and list(rows) == ROWS
    assert rows[3] == ROWS[3] and rows[-1] == [] and rows[-2] == ROWS[-2]
    assert rows.to_lists().tolist() == ROWS and rows.to_lists().dtype == object
    np.testing.assert_array_equal(rows.lengths, [len(r) for r in ROWS])
    with pytest.raises(IndexError):
        rows[len(ROWS)]


@pytest.mark.parametrize("key", [slice(5, 40), slice(None, 3), slice(250, None), slice(10, 5), slice(None, None, 3),
                                 slice(40, 5, -2), np.array([7, 0, 7, 200]), np.arange(len(ROWS)) % 3 == 0])
def test_selecting_rows(rows, key):
    expected = [ROWS[i] for i in np.arange(len(ROWS))[key]]
    assert list(rows[key]) == expected


def test_take_with_a_prefix(rows):
    taken = rows.take(np.array([2, 0, 257]), prefix=1)
    assert list(taken) == [[1] + ROWS[2], [1] + ROWS[0], [1]]


def test_inconsistent_offsets_are_refused():
    with pytest.raises(ValueError):
        Ragged(np.arange(5), np.array([0, 3, 2, 5]))
    with pytest.raises(ValueError):
        Ragged(np.arange(5), np.array([0, 3]))


@pytest.mark.parametrize("seq_len", [1, 2, 5, 15, 16, 40])
def test_zero_pad_equals_the_original_on_lists(rows, seq_len):
    np.testing.assert_array_equal(zero_pad(rows, seq_len), zero_pad(ROWS, seq_len))


def test_zero_pad_in_chunks(rows, monkeypatch):
    import attention.preprocessing as preprocessing

    monkeypatch.setattr(preprocessing, "_PAD_CHUNK", 10)  # rows across several chunks
    np.testing.assert_array_equal(zero_pad(rows, 9), zero_pad(ROWS, 9))


def test_vocabulary_helpers_equal_the_original(rows):
    assert get_vocabulary_size(rows) == get_vocabulary_size(ROWS)
    assert get_vocabulary_size(Ragged.from_rows([[], []])) == get_vocabulary_size([[], []]) == 1
    fitted = fit_in_vocabulary(rows, 30)
    assert isinstance(fitted, Ragged) and list(fitted) == fit_in_vocabulary(ROWS, 30)

"""The ported utils.py helpers against the original's behaviour."""

import numpy as np
import pytest

from attention import batch_generator, fit_in_vocabulary, get_vocabulary_size, zero_pad


def original_zero_pad(X, seq_len):
    return np.array([x[: seq_len - 1] + [0] * max(seq_len - len(x), 1) for x in X])


def test_zero_pad_matches_original():
    X = [[5, 6, 7], [1, 2, 3, 4, 5], [9] * 12, [], [4, 4, 4, 4]]
    for seq_len in (1, 2, 5, 6, 10):
        np.testing.assert_array_equal(zero_pad(X, seq_len), original_zero_pad(X, seq_len))


def test_zero_pad_always_ends_with_zero():
    padded = zero_pad([[1, 2, 3, 4]], 4)
    np.testing.assert_array_equal(padded, [[1, 2, 3, 0]])
    assert padded.dtype == np.int32


def test_zero_pad_rejects_bad_length():
    with pytest.raises(ValueError, match="at least 1"):
        zero_pad([[1, 2]], 0)


def test_get_vocabulary_size():
    assert get_vocabulary_size([[1, 5, 2], [9, 3], []]) == 10
    assert get_vocabulary_size(np.array([[0, 4], [3, 1]])) == 5


def test_fit_in_vocabulary_drops_rare_words():
    assert fit_in_vocabulary([[1, 10, 3, 11], [12]], 11) == [[1, 10, 3], []]


def test_batch_generator_shuffles_and_drops_last_incomplete_batch():
    X, y = np.arange(10), np.arange(10) * 2
    gen = batch_generator(X, y, 3, rng=np.random.default_rng(0))
    first_pass = [next(gen) for _ in range(3)]
    seen = np.concatenate([xb for xb, _ in first_pass])
    assert len(set(seen)) == 9  # one sample left out of the pass
    for xb, yb in first_pass:
        assert xb.shape == (3,)
        np.testing.assert_array_equal(yb, xb * 2)
    second_pass = np.concatenate([next(gen)[0] for _ in range(3)])
    assert len(set(second_pass)) == 9 and not np.array_equal(seen, second_pass)


def test_batch_generator_rejects_batch_larger_than_data():
    with pytest.raises(ValueError, match="batch_size"):
        next(batch_generator(np.arange(3), np.arange(3), 4))
    with pytest.raises(ValueError, match="same length"):
        next(batch_generator(np.arange(3), np.arange(2), 1))

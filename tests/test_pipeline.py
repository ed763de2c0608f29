"""The input pipeline: every review once per epoch, batches of similar length, trimmed padding."""

import keras
import numpy as np
import pytest

from attention import build_model, pipeline
from attention.evaluation import predict_probabilities
from attention.pipeline import (
    CHUNK_BATCHES, batch_indices, class_weights, fill_batch, make_dataset, num_batches, sequence_lengths,
)
from attention.preprocessing import zero_pad


def reviews(count, width=30, seed=0):
    """Post-padded rows with distinct first words (the row number + 1), random lengths."""
    rng = np.random.default_rng(seed)
    rows = [[i + 1, *rng.integers(1, 50, rng.integers(0, width + 5))] for i in range(count)]
    return zero_pad(rows, width), (np.arange(count) % 2).astype("float32")


def epochs(dataset, count):
    """Each pass over `dataset` as a list of `(x, y)` NumPy batches."""
    return [[(np.asarray(batch[0]), np.asarray(batch[1])) for batch in dataset] for _ in range(count)]


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("bucketing", [True, False])
def test_each_review_once_per_epoch_with_its_label(shuffle, bucketing):
    x, y = reviews(45)
    dataset = make_dataset(x, y, 8, shuffle=shuffle, bucketing=bucketing, seed=1)
    assert len(dataset) == num_batches(45, 8) == 6
    for batches in epochs(dataset, 2):
        assert sorted(len(bx) for bx, _ in batches) == [5, 8, 8, 8, 8, 8]
        firsts = np.concatenate([bx[:, 0] for bx, _ in batches])
        labels = np.concatenate([by for _, by in batches])
        assert sorted(firsts) == list(range(1, 46))
        np.testing.assert_array_equal(labels, y[firsts - 1])


def test_bucketed_batches_are_trimmed_to_their_longest_review():
    x, y = reviews(60, width=40)
    for bx, _ in epochs(make_dataset(x, y, 8, seed=2, width_step=1), 1)[0]:
        full = x[bx[:, 0] - 1]
        width = bx.shape[1]
        assert width == sequence_lengths(full).max()
        np.testing.assert_array_equal(bx, full[:, :width])
        assert not full[:, width:].any()  # only padding was cut


def test_widths_rounded_to_a_step_keep_every_word():
    x, y = reviews(100)
    for bx, by in epochs(make_dataset(x, y, 8, seed=2, width_step=8), 1)[0]:
        longest = np.count_nonzero(bx, axis=1).max()
        assert bx.shape[1] == min(-(-longest // 8) * 8, x.shape[1])
    with pytest.raises(ValueError, match="width_step"):
        make_dataset(x, y, 8, width_step=0)


def test_default_batch_shapes_per_backend_and_device(monkeypatch):
    x, y = reviews(100, width=130)
    if keras.backend.backend() != "jax":
        assert pipeline.default_width_step(x) == 1
        assert not pipeline.default_fixed_batch()
        return
    import jax

    # JAX compiles each new shape: a few widths on a CPU (where a compile is cheap), and batches
    # of their own size; on a GPU one shape, the last batch filled up to the others' size.
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert pipeline.default_width_step(x) == pipeline.JAX_CPU_WIDTH_STEP
    assert not pipeline.default_fixed_batch()
    widths = {bx.shape[1] for batches in epochs(make_dataset(x, y, 8, seed=2), 2) for bx, _ in batches}
    assert widths <= {*range(pipeline.JAX_CPU_WIDTH_STEP, 130, pipeline.JAX_CPU_WIDTH_STEP), 130} and len(widths) > 1
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert pipeline.default_width_step(x) == 130
    assert pipeline.default_fixed_batch()
    shapes = {tuple(np.shape(t) for t in batch) for batch in make_dataset(x, y, 8, seed=2)}
    assert shapes == {((8, 130), (8,), (8,))}


def test_unbucketed_batches_keep_the_full_width():
    x, y = reviews(20, width=30)
    assert {bx.shape[1] for bx, _ in epochs(make_dataset(x, y, 8, bucketing=False), 1)[0]} == {30}


def test_training_order_changes_each_epoch_evaluation_order_does_not():
    x, y = reviews(64)
    first, second = epochs(make_dataset(x, y, 8, shuffle=True, seed=3), 2)
    assert [b[0][:, 0].tolist() for b in first] != [b[0][:, 0].tolist() for b in second]
    first, second = epochs(make_dataset(x, y, 8, shuffle=False), 2)
    assert [b[0][:, 0].tolist() for b in first] == [b[0][:, 0].tolist() for b in second]


def test_same_seed_same_batches():
    x, y = reviews(40)
    runs = [epochs(make_dataset(x, y, 8, seed=4), 2) for _ in range(2)]
    for a, b in zip(*runs):
        for (ax, _), (bx, _) in zip(a, b):
            np.testing.assert_array_equal(ax, bx)


def test_a_resumed_epoch_draws_the_batches_of_the_uninterrupted_one():
    x, y = reviews(100)
    second = epochs(make_dataset(x, y, 8, seed=4), 2)[1]
    resumed = epochs(make_dataset(x, y, 8, seed=4, first_epoch=1), 1)[0]
    for (a, la), (b, lb) in zip(second, resumed):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(la, lb)


def test_bucketing_groups_reviews_of_similar_length():
    rng = np.random.default_rng(5)
    lengths = rng.integers(1, 250, 8 * CHUNK_BATCHES * 3)
    plain = batch_indices(lengths, 8, True, False, np.random.default_rng(0))
    bucketed = batch_indices(lengths, 8, True, True, np.random.default_rng(0))
    assert sorted(np.concatenate(bucketed).tolist()) == list(range(len(lengths)))
    spread = lambda batches: np.mean([np.ptp(lengths[b]) for b in batches])  # noqa: E731
    assert spread(bucketed) < spread(plain) / 4


def test_bad_arguments():
    x, y = reviews(4)
    with pytest.raises(ValueError, match="same length"):
        make_dataset(x, y[:3], 2)
    with pytest.raises(ValueError, match="zero samples"):
        make_dataset(x[:0], y[:0], 2)
    with pytest.raises(ValueError, match="batch_size"):
        make_dataset(x, y, 0)


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("bucketing", [True, False])
def test_a_fixed_batch_size_fills_the_last_batch_with_weightless_copies(shuffle, bucketing):
    x, y = reviews(45)
    dataset = make_dataset(x, y, 8, shuffle=shuffle, bucketing=bucketing, seed=1, fixed_batch=True)
    for _ in range(2):
        own = []
        for batch in dataset:
            bx, by, weights = (np.asarray(t) for t in batch)
            assert len(bx) == len(by) == len(weights) == 8
            rows = int(np.count_nonzero(weights))
            assert (weights[:rows] > 0).all()
            np.testing.assert_allclose(weights[:rows], 8 / rows)
            firsts = bx[:, 0]
            assert set(firsts[rows:]) <= set(firsts[:rows])
            np.testing.assert_array_equal(by, y[firsts - 1])
            own.append(firsts[:rows])
        assert sorted(len(rows) for rows in own) == [5, 8, 8, 8, 8, 8]
        assert sorted(np.concatenate(own)) == list(range(1, 46))


def test_fill_batch_rejects_a_batch_larger_than_the_size():
    x, y = reviews(5)
    with pytest.raises(ValueError, match="5 rows up to 4"):
        fill_batch(x, y, 4)


def sgd_model():
    # SGD moves each weight by its gradient itself (Adam's first steps would hide its scale),
    # and without dropout nothing else draws random numbers.
    keras.utils.set_random_seed(0)
    model = build_model(60, 4, 3, 2, keep_prob=1.0)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  weighted_metrics=[keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)])
    return model


@pytest.mark.parametrize("classes", [2, 3])
def test_a_filled_batch_has_the_loss_and_metrics_of_the_batch_itself(classes):
    x, _ = reviews(5, width=12)
    y = np.array([0, 1, 1, 0, 1] if classes == 2 else [0, 2, 1, 1, 2], dtype="float32")
    keras.utils.set_random_seed(0)
    model = build_model(60, 4, 3, 2, num_classes=classes)
    plain = model.test_on_batch(x, y, return_dict=True)
    filled = model.test_on_batch(*fill_batch(x, y, 8), return_dict=True)
    assert plain.keys() == filled.keys() == {"loss", "accuracy", "macro_f1"}
    for name in plain:
        assert float(filled[name]) == pytest.approx(float(plain[name]), rel=1e-6, abs=1e-7)


def test_a_filled_batch_has_the_gradient_of_the_batch_itself():
    x, y = reviews(5, width=12)
    weights = []
    for batch in ((x, y), fill_batch(x, y, 8)):
        model = sgd_model()
        model.train_on_batch(*batch)
        weights.append(model.get_weights())
    for plain, filled in zip(*weights):
        np.testing.assert_allclose(filled, plain, rtol=1e-5, atol=1e-6)


def test_fit_takes_one_optimizer_step_per_batch_the_same_on_filled_batches():
    # A data set of unknown length makes Keras take one extra (empty) step per
    # epoch, which would shift Adam's bias correction and the TensorBoard steps.
    x, y = reviews(21, width=12)
    weights = []
    for fixed in (False, True):
        model = sgd_model()
        model.fit(make_dataset(x, y, 8, seed=0, fixed_batch=fixed), epochs=1, shuffle=False, verbose=0,
                  validation_data=make_dataset(x, y, 8, shuffle=False, fixed_batch=fixed))
        assert int(model.optimizer.iterations.numpy()) == num_batches(21, 8)
        weights.append(model.get_weights())
    for plain, filled in zip(*weights):
        np.testing.assert_allclose(filled, plain, rtol=1e-5, atol=1e-6)


def test_predictions_leave_out_the_copies_that_fill_the_last_batch(monkeypatch):
    x, _ = reviews(45)
    model = build_model(60, 4, 3, 2)
    expected = predict_probabilities(model, x, 8)
    monkeypatch.setattr(pipeline, "default_fixed_batch", lambda: True)
    np.testing.assert_allclose(predict_probabilities(model, x, 8), expected, rtol=1e-6, atol=1e-7)


def test_class_weights_balanced_or_named():
    y = np.array([0, 0, 0, 1, 2, 2], "float32")
    np.testing.assert_allclose(class_weights("balanced", y, ["a", "b", "c"]), [6 / 9, 2, 1])
    np.testing.assert_array_equal(class_weights({"c": 3, "a": 0.5}, y, ["a", "b", "c"]), [0.5, 1, 3])
    for spec, names, message in [({"d": 2}, ["a", "b", "c"], "no class 'd'; the classes are a, b, c"),
                                 ("balanced", ["a", "b", "c", "d"], "no training text of class 'd'"),
                                 ({"a": 0, "b": 0, "c": 0}, ["a", "b", "c"], "every training text would weigh 0")]:
        with pytest.raises(ValueError, match=message):
            class_weights(spec, y, names)


@pytest.mark.parametrize("fixed_batch", [False, True])
def test_class_weights_weigh_each_row_by_its_class(fixed_batch):
    x, y = reviews(21, width=12)
    weights = np.array([0.25, 3.0], "float32")
    dataset = make_dataset(x, y, 8, seed=0, fixed_batch=fixed_batch, class_weight=weights)
    plain = make_dataset(x, y, 8, seed=0, fixed_batch=fixed_batch)
    for (bx, by, bw), unweighted in zip(dataset, plain):
        np.testing.assert_array_equal(np.asarray(bx), np.asarray(unweighted[0]))
        fill = np.asarray(unweighted[2]) if fixed_batch else 1.0
        np.testing.assert_array_equal(np.asarray(bw), fill * weights[np.asarray(by).astype(int)])


def test_class_weights_train_as_keras_class_weight_does():
    """The weights the pipeline gives each batch make the same steps as `fit(class_weight=...)` on arrays."""
    x, y = reviews(21, width=12)
    weights = np.array([0.25, 3.0], "float32")
    trained = []
    for ours in (True, False):
        model = sgd_model()
        if ours:
            data = make_dataset(x, y, 8, shuffle=False, bucketing=False, class_weight=weights)
            history = model.fit(data, epochs=1, shuffle=False, verbose=0)
        else:
            history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0,
                                class_weight={0: 0.25, 1: 3.0})
        trained.append((history.history, model.get_weights()))
    (ours, our_weights), (keras_history, keras_weights) = trained
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(ours[key], keras_history[key], rtol=1e-5)
    for a, b in zip(our_weights, keras_weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_sequence_lengths_reach_the_last_word_of_each_row():
    x = np.array([[4, 5, 0, 0], [0, 0, 4, 5], [4, 0, 5, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(sequence_lengths(x), [2, 4, 3, 0])
    assert sequence_lengths(np.zeros((2, 0), "int32")).tolist() == [0, 0]

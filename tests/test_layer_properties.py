"""Properties of AttentionLayer's masking, checked with hypothesis.

Whatever a masked (padded) step holds - NaN, infinities, huge numbers - it must reach
neither the outputs, nor the attention weights, nor any gradient; all-masked rows give
zeros. Plus plain tests for the mask-shape error and for empty (0-row, 0-step) batches.
"""

from __future__ import annotations

import dataclasses
import functools

import keras
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradients import layer_gradients

from attention import AttentionLayer

DEPTHS = (2, 5)
SIZES = (1, 4)
POLICIES = ("float32", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16")
GARBAGE = (np.nan, np.inf, -np.inf, 3e38, -3e38, 1e5)
# JAX compiles every eager op anew for each shape, which makes an example there ten times
# as slow: fewer examples keep the suite within its time (the three tests below: 72 s on JAX
# with 50 examples); the math is the same keras.ops, checked with 150 on the other backends.
SETTINGS = settings(deadline=None, max_examples=25 if keras.backend.backend() == "jax" else 150, database=None)


def tolerance(policy: str) -> float:
    """Of a sum of `time` weights that were rounded to the compute dtype."""
    return {"float32": 1e-5, "float16": 3e-3, "bfloat16": 2e-2}[keras.DTypePolicy(policy).compute_dtype]


@functools.lru_cache(maxsize=None)
def built_layer(depth: int, size: int, policy: str, time_major: bool) -> AttentionLayer:
    """One layer per configuration: building Keras layers is slow."""
    # A context vector of stddev 1 gives sharp, far-from-uniform weights.
    layer = AttentionLayer(
        size,
        time_major=time_major,
        return_alphas=True,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.5, seed=depth),
        bias_initializer=keras.initializers.RandomNormal(stddev=0.5, seed=size),
        context_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=depth * size),
        dtype=policy,
    )
    layer.build((None, None, depth))
    return layer


@dataclasses.dataclass
class Case:
    x: np.ndarray  # (batch, time, depth) float32, the unmasked values
    mask: np.ndarray  # (batch, time) bool
    garbage: np.ndarray  # (batch, time, depth), what masked steps hold
    size: int = 1
    policy: str = "float32"
    time_major: bool = False
    split: int | None = None  # None: one tensor; else the pair (x[..., :split], x[..., split:])
    mask_as_list: bool = False
    seed: int = 0

    @property
    def layer(self) -> AttentionLayer:
        return built_layer(self.x.shape[-1], self.size, self.policy, self.time_major)

    def inputs(self, dirty: bool = True) -> list:
        """The input tensors in the layer's compute dtype: masked steps hold garbage, or 0."""
        x = np.where(self.mask[..., None], self.x, self.garbage if dirty else 0.0)
        if self.time_major:
            x = x.transpose(1, 0, 2)
        parts = [x] if self.split is None else [x[..., : self.split], x[..., self.split :]]
        with np.errstate(over="ignore"):
            return [keras.ops.cast(keras.ops.convert_to_tensor(p.astype("float32")), self.layer.compute_dtype) for p in parts]

    def call(self, parts: list) -> tuple:
        mask = self.mask.T if self.time_major else self.mask
        if self.split is not None and self.mask_as_list:
            mask = [mask, mask]
        return self.layer(parts[0] if self.split is None else parts, mask=mask)


def numpy32(t) -> np.ndarray:
    return keras.ops.convert_to_numpy(keras.ops.cast(t, "float32"))


@st.composite
def cases(draw) -> Case:
    batch, time = draw(st.integers(1, 4)), draw(st.integers(1, 7))
    depth, size = draw(st.sampled_from(DEPTHS)), draw(st.sampled_from(SIZES))
    policy = draw(st.sampled_from(POLICIES))
    # float16 gradients of inputs near 100 can overflow float16 itself, whatever the layer.
    bound = 10.0 if "float16" in policy else 100.0
    x = draw(hnp.arrays("float32", (batch, time, depth), elements=st.floats(-bound, bound, width=32)))
    mask = draw(hnp.arrays(bool, (batch, time)))
    # Rows all masked and rows without a masked step are both likely.
    rows = draw(hnp.arrays(np.int8, (batch,), elements=st.sampled_from([0, 1, 2])))
    mask[rows == 1] = False
    mask[rows == 2] = True
    garbage = draw(hnp.arrays("float32", (batch, time, depth), elements=st.sampled_from(GARBAGE)))
    return Case(
        x=x,
        mask=mask,
        garbage=garbage,
        size=size,
        policy=policy,
        time_major=draw(st.booleans()),
        split=draw(st.none() | st.integers(1, depth - 1)),
        mask_as_list=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
    )


def _regression() -> Case:
    """NaN at a padded step of row 0; row 1 has padding too, row 2 is all padding."""
    x = np.random.default_rng(0).normal(size=(3, 4, 5)).astype("float32")
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0]], dtype=bool)
    garbage = np.zeros_like(x)
    garbage[0, 3, 1] = np.nan
    garbage[1, 3, 0] = np.inf
    garbage[2, 0, 2] = -np.inf
    return Case(x=x, mask=mask, garbage=garbage, size=4)


REGRESSIONS = (_regression(), dataclasses.replace(_regression(), split=2, policy="mixed_float16", time_major=True))


@SETTINGS
@given(cases())
@example(REGRESSIONS[0])
@example(REGRESSIONS[1])
def test_masked_steps_change_nothing(case):
    """(a) The outputs are those of the same input with the masked steps set to 0."""
    out, alphas = case.call(case.inputs(dirty=True))
    clean_out, clean_alphas = case.call(case.inputs(dirty=False))
    np.testing.assert_array_equal(numpy32(out), numpy32(clean_out))
    np.testing.assert_array_equal(numpy32(alphas), numpy32(clean_alphas))


@SETTINGS
@given(cases())
@example(REGRESSIONS[0])
@example(REGRESSIONS[1])
def test_outputs_are_finite(case):
    """(b) Finite unmasked inputs give finite outputs and weights, whatever is masked."""
    out, alphas = case.call(case.inputs())
    assert out.shape == (len(case.mask), case.x.shape[-1]) and alphas.shape == case.mask.shape
    assert np.isfinite(numpy32(out)).all() and np.isfinite(numpy32(alphas)).all()


@SETTINGS
@given(cases())
@example(REGRESSIONS[0])
@example(REGRESSIONS[1])
def test_weights_are_a_distribution_over_unmasked_steps(case):
    """(c) Zero weight at masked steps, weights summing to 1 elsewhere, zeros for empty rows."""
    out, alphas = (numpy32(t) for t in case.call(case.inputs()))
    assert (alphas[~case.mask] == 0).all()
    assert (alphas >= 0).all()
    some = case.mask.any(axis=1)
    np.testing.assert_allclose(alphas[some].sum(axis=1), 1.0, atol=tolerance(case.policy), rtol=0)
    assert (out[~some] == 0).all()


def gradients(case: Case, dirty: bool) -> tuple:
    """Gradients of a random linear function of both outputs, w.r.t. the inputs and weights."""
    import tensorflow as tf

    layer, parts = case.layer, case.inputs(dirty)
    rng = np.random.default_rng(case.seed)
    out_coef = rng.uniform(-1, 1, (len(case.mask), case.x.shape[-1])).astype("float32")
    alpha_coef = rng.uniform(-1, 1, case.mask.shape).astype("float32")
    with tf.GradientTape() as tape:
        tape.watch(parts)
        out, alphas = case.call(parts)
        loss = tf.reduce_sum(tf.cast(out, "float32") * out_coef) + tf.reduce_sum(tf.cast(alphas, "float32") * alpha_coef)
    grads = tape.gradient(loss, parts + layer.trainable_weights)
    return [numpy32(g) for g in grads[: len(parts)]], [numpy32(g) for g in grads[len(parts) :]]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="gradients of every dtype through tf.GradientTape")
@SETTINGS
@given(cases())
@example(REGRESSIONS[0])
@example(REGRESSIONS[1])
def test_gradients_ignore_masked_steps(case):
    """(d) Finite gradients, zero at masked steps, and the same as with zeros there."""
    input_grads, weight_grads = gradients(case, dirty=True)
    clean_input_grads, clean_weight_grads = gradients(case, dirty=False)
    mask = case.mask.T if case.time_major else case.mask
    for g in input_grads + weight_grads:
        assert np.isfinite(g).all()
    for g in input_grads:
        assert (g[~mask] == 0).all()
    for got, clean in zip(input_grads + weight_grads, clean_input_grads + clean_weight_grads):
        np.testing.assert_array_equal(got, clean)


# Plain tests: mask shapes and empty batches.


@pytest.mark.parametrize(
    "shape, mask_shape, time_major",
    [
        ((2, 5, 4), (2, 4), False),
        ((2, 5, 4), (3, 5), False),
        ((2, 5, 4), (2, 5, 1), False),
        ((2, 5, 4), (10,), False),
        ((5, 2, 4), (2, 5), True),  # batch-major mask for time-major input
    ],
)
def test_mask_of_the_wrong_shape_is_a_clear_error(shape, mask_shape, time_major):
    layer = AttentionLayer(3, time_major=time_major)
    with pytest.raises(ValueError, match=r"mask must have the .* shape \(\d, \d\) of the inputs, got a mask of shape"):
        layer(np.zeros(shape, "float32"), mask=np.ones(mask_shape, bool))


def test_mask_of_the_wrong_shape_for_a_pair_is_a_clear_error():
    parts = [np.zeros((2, 5, 3), "float32")] * 2
    with pytest.raises(ValueError, match=r"shape \(2, 5\) of the inputs, got a mask of shape \(2, 6\)"):
        AttentionLayer(3)(parts, mask=[np.ones((2, 6), bool)] * 2)


def test_mask_of_the_wrong_static_shape_is_an_error_when_symbolic():
    inputs, mask = keras.Input(shape=(5, 4)), keras.Input(shape=(6,), dtype="bool")
    with pytest.raises(ValueError, match=r"got a mask of shape \(None, 6\)"):
        AttentionLayer(3)(inputs, mask=mask)


@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("pair", [False, True])
@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_batch_of_zero_rows(with_mask, pair, policy):
    layer = AttentionLayer(3, return_alphas=True, dtype=policy)
    x = np.zeros((0, 5, 4), "float32")
    inputs = [x[..., :1], x[..., 1:]] if pair else x
    out, alphas = layer(inputs, mask=np.zeros((0, 5), bool) if with_mask else None)
    assert tuple(out.shape) == (0, 4) and tuple(alphas.shape) == (0, 5)
    assert keras.backend.standardize_dtype(out.dtype) == layer.compute_dtype


@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_batch_of_zero_steps(with_mask, time_major, policy):
    layer = AttentionLayer(3, return_alphas=True, time_major=time_major, dtype=policy)
    x = np.zeros((0, 2, 4) if time_major else (2, 0, 4), "float32")
    mask = np.zeros((0, 2) if time_major else (2, 0), bool) if with_mask else None
    out, alphas = layer(x, mask=mask)
    assert tuple(out.shape) == (2, 4) and tuple(alphas.shape) == (2, 0)
    assert not numpy32(out).any()
    grads = layer_gradients(layer, lambda outputs: keras.ops.sum(keras.ops.cast(outputs[0], "float32")), [x], mask=mask)
    assert all(np.isfinite(g).all() for g in grads)

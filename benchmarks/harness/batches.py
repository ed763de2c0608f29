"""The batches a benchmark times: real or synthetic lengths, full-length and bucketed sets, one `.npz` for all workers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


# Synthetic lengths: log-normal fitted to Keras's imdb.npz (median ~173 tokens, ~30 %
# of the reviews cut at 249 by zero_pad).
SYNTHETIC_MEDIAN, SYNTHETIC_SIGMA = 173.0, 0.70

def load_padded(data: str | os.PathLike | None, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """Training reviews as the original pads them: `(x, y, description)`.

    The real IMDB training split when `data` exists, otherwise synthetic reviews
    with IMDB's length distribution.
    """
    from attention import defaults

    if data is not None and Path(data).exists():
        from attention import imdb
        from attention.preprocessing import zero_pad

        (x, y), _ = imdb.load_data(data, num_words=defaults.NUM_WORDS, index_from=defaults.INDEX_FROM, verbose=False)
        return zero_pad(x, defaults.SEQUENCE_LENGTH), np.asarray(y, "float32"), f"IMDB training split ({data})"
    rng = np.random.default_rng(seed)
    n = 25000
    lengths = np.clip(np.round(rng.lognormal(np.log(SYNTHETIC_MEDIAN), SYNTHETIC_SIGMA, n)), 10, defaults.SEQUENCE_LENGTH - 1)
    x = np.zeros((n, defaults.SEQUENCE_LENGTH), "int32")
    steps = np.arange(defaults.SEQUENCE_LENGTH)[None, :]
    x[:] = np.where(steps < lengths[:, None], rng.integers(4, defaults.NUM_WORDS, x.shape), 0)
    x[:, 0] = 1
    return x, rng.integers(0, 2, n).astype("float32"), "synthetic" if data is None else f"synthetic ({data} not found)"


def random_batches(x, y, batch_size: int, count: int, rng) -> list[tuple[np.ndarray, np.ndarray]]:
    """Full-width batches in random order, as the original's `batch_generator`."""
    order = np.concatenate([rng.permutation(len(x)) for _ in range(-(-count * batch_size // len(x)))])
    return [(x[i], y[i]) for i in np.split(order[: count * batch_size], count)]


def bucketed_batches(x, y, batch_size: int, warmup: int, steps: int, rng) -> list[tuple[np.ndarray, np.ndarray]]:
    """Batches of the port's default pipeline, each trimmed to its longest review.

    `batch_indices(..., bucketing=True)` then trimming, exactly as `make_dataset`. Of one
    epoch's full batches, `warmup` random ones come first (of different widths, so that
    retracing is over before timing), then `steps` batches taken at evenly spaced
    quantiles of width, so that a few steps represent the whole epoch's lengths. More batches than
    the epoch has are a `ValueError` (its message names the options that ask for them).
    """
    from attention.pipeline import batch_indices, sequence_lengths

    lengths = sequence_lengths(x)
    epoch = [b for b in batch_indices(lengths, batch_size, True, True, rng) if len(b) == batch_size]
    if not epoch:
        raise ValueError(f"--batch-size {batch_size} is more than the {len(x)} reviews; at most {len(x)}")
    if warmup + steps > len(epoch):
        raise ValueError(f"--warmup {warmup} + --steps {steps} is more than the {len(epoch)} full batches of "
                         f"{batch_size} that an epoch of {len(x)} reviews has; at most {len(epoch)} in all")
    widths = np.array([lengths[b].max() for b in epoch])
    by_width = np.argsort(widths, kind="stable")
    timed = by_width[((np.arange(steps) + 0.5) * len(epoch) / steps).astype(int)]
    rest = np.setdiff1d(np.arange(len(epoch)), timed)
    chosen = list(rng.choice(rest, warmup, replace=False)) + list(rng.permutation(timed))
    return [(x[epoch[i], : widths[i]], y[epoch[i]]) for i in chosen]


def save_batches(path: Path, sets: dict[str, list]) -> None:
    arrays = {}
    for name, batches in sets.items():
        for i, (bx, by) in enumerate(batches):
            arrays[f"{name}/x/{i:04d}"], arrays[f"{name}/y/{i:04d}"] = bx, by
    np.savez(path, **arrays)


def load_batches(path: Path) -> dict[str, list]:
    sets: dict[str, list] = {}
    with np.load(path) as data:
        for key in sorted(k for k in data.files if "/x/" in k):
            name = key.split("/")[0]
            sets.setdefault(name, []).append((data[key], data[key.replace("/x/", "/y/")]))
    return sets


def warm_every_shape(batches: list, warmup: int) -> tuple[list, int]:
    """`(batches, warmup)` with one more warm-up batch for each shape the timed batches have and
    the first `warmup` lack, so that no compile is timed."""
    seen, extra = {b[0].shape for b in batches[:warmup]}, []
    for b in batches[warmup:]:
        if b[0].shape not in seen:
            seen.add(b[0].shape)
            extra.append(b)
    return extra + batches, warmup + len(extra)


def widen(x: np.ndarray, y: np.ndarray, step: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A bucketed batch padded to a multiple of `step` steps (default: the width the JAX pipeline
    gives it on this device, `default_width_step`), at most the full length."""
    from attention.defaults import SEQUENCE_LENGTH
    from attention.pipeline import default_width_step

    step = step or default_width_step(np.zeros((1, SEQUENCE_LENGTH)))
    width = min(-(-x.shape[1] // step) * step, SEQUENCE_LENGTH)
    return np.pad(x, ((0, 0), (0, width - x.shape[1]))), y

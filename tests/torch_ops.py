"""Which PyTorch ops a piece of code runs, and a stand-in for a CUDA graph capture that checks them."""

from __future__ import annotations

import contextlib

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# A tensor made from Python data (copied to the device) and a value read back from it: on a
# GPU each one waits for the device, and a CUDA graph capture refuses both.
HOST_ROUND_TRIPS = frozenset({"lift_fresh.default", "_local_scalar_dense.default"})


def recurrence_arguments(masked: bool, steps: int = 5, units: int = 2) -> tuple:
    """`attention.torch_loop.recurrence`'s arguments in float64 for two directions and three rows, drawn
    with a fixed seed: inputs and recurrent kernels that require gradients, and (`masked`) masks
    that skip steps anywhere, not only at the end as padding does."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(steps, 2, 3, 3 * units, dtype=torch.float64, generator=generator, requires_grad=True)
    recurrent = torch.randn(2, units, 3 * units, dtype=torch.float64, generator=generator, requires_grad=True)
    masks = torch.rand(steps, 2, 3, 1, generator=generator) > 0.4 if masked else None
    assert masks is None or (masks.any() and not masks.all())
    return inputs, recurrent, masks


class OpsSeen(TorchDispatchMode):
    """A context in which every op's name is added to `names`."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.add(func.__name__)
        return func(*args, **(kwargs or {}))


class Captures:
    """Stands in for `torch.cuda.make_graphed_callables`: records the sample shapes, checks that a
    stream capture could take the function (no tensor made from Python data, nothing read back),
    and returns the function. With `check_ops=False` it runs the function without that check:
    `torch.compile` refuses to run under the dispatch mode that sees the ops."""

    def __init__(self, check_ops: bool = True):
        self.shapes = []
        self.check_ops = check_ops

    def __call__(self, function, sample):
        assert torch.is_grad_enabled() and sample[0].requires_grad
        self.shapes.append(tuple(sample[0].shape))
        with OpsSeen() if self.check_ops else contextlib.nullcontext(OpsSeen()) as ops:
            outputs = function(*sample)
            torch.autograd.grad(outputs, [sample[0], *sample[2:]], [torch.ones_like(o) for o in outputs])
        assert not self.check_ops or "bmm.default" in ops.names and not HOST_ROUND_TRIPS & ops.names
        return function

"""Which PyTorch ops a piece of code runs: to check that a loop never waits on the device."""

from __future__ import annotations

from torch.utils._python_dispatch import TorchDispatchMode

# A tensor made from Python data (copied to the device) and a value read back from it: on a
# GPU each one waits for the device, and a CUDA graph capture refuses both.
HOST_ROUND_TRIPS = frozenset({"lift_fresh.default", "_local_scalar_dense.default"})


class OpsSeen(TorchDispatchMode):
    """A context in which every op's name is added to `names`."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.add(func.__name__)
        return func(*args, **(kwargs or {}))

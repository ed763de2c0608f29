"""The stacked GRU on a PyTorch GPU, replayed as CUDA graphs (`BidirectionalGRU(loop="graphed")`).

On a GPU each step of the loop is a few small kernels, each launched from
Python (and again on the way back), and launching them takes longer than
running them: on an H200 the hoisted loop with its hand-written gradient
(`attention.torch_loop`) trained 2,460 samples/s launched op by op and 7,054
as CUDA graphs (BENCHMARKS.md). `torch.cuda.make_graphed_callables` captures
the whole loop, forward and backward, once per input shape, and then replays
each as one launch.
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import torch
from keras import ops

WIDTH_STEP = 32
"""Widths are rounded up to a multiple of this, so that a bucketed epoch has few shapes to capture."""


def cuda_graphed(loop: Callable, width_step: int = WIDTH_STEP, make_graphed: Callable | None = None,
                 device_type: str = "cuda") -> Callable:
    """`loop` (`attention.bidirectional.stacked_gru`'s signature) replayed as CUDA graphs, one per input shape.

    Widths are rounded up to `width_step` with masked steps, which change
    neither the state nor the outputs that are kept. The layers' weights go
    in as arguments (`keras.StatelessScope` maps the variables to them), so
    their gradients come out of the backward graph. Each graph keeps its own
    buffers for the loop's activations: a few hundred MB for a full-width
    batch of 256 with the default model. Off `device_type` (a CPU, or the
    symbolic "meta" tensors Keras builds with) `loop` runs as it is.

    Args:
        loop: `loop(x, mask, forward, backward, hoisted)` returning the two
            directions' outputs; it must not read anything back from the
            device (a stream capture refuses that).
        width_step: Widths are rounded up to a multiple of this.
        make_graphed: Default `torch.cuda.make_graphed_callables`.
        device_type: Where the graphs run. `make_graphed` and `device_type`
            let the tests run the same path on a CPU without graphs.

    Returns:
        A function with `loop`'s signature. Its graphs live as long as it does.
    """
    make_graphed = make_graphed or torch.cuda.make_graphed_callables
    graphs = {}

    def run(x: Any, mask: Any, forward: Any, backward: Any, hoisted: bool = False) -> tuple:
        x = ops.convert_to_tensor(x)
        if x.device.type != device_type:
            return loop(x, mask, forward, backward, hoisted)
        width = x.shape[1]
        mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if mask is None else mask.bool()
        padding = -width % width_step
        x, mask = torch.nn.functional.pad(x, (0, 0, 0, padding)), torch.nn.functional.pad(mask, (0, padding))
        variables = [*forward.weights, *backward.weights]
        weights = [v.value for v in variables]
        key = (id(forward), id(backward), hoisted, tuple(x.shape), x.dtype, tuple(w.requires_grad for w in weights))
        if key not in graphs:
            def captured(x: Any, mask: Any, *values: Any) -> tuple:
                with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                    return tuple(loop(x, mask, forward, backward, hoisted))

            # Captured with gradients, whatever this first call needs: the same graphs serve
            # training and (forward only) prediction.
            sample = (x.detach().clone().requires_grad_(True), mask.clone(), *weights)
            with torch.enable_grad():
                graphs[key] = make_graphed(captured, sample)
        y, y_rev = graphs[key](x, mask, *weights)
        # The graph's outputs live in its static memory, overwritten by the next replay.
        return y[:, :width].clone(), y_rev[:, :width].clone()

    return run

"""Ctrl-C that stops Keras's loops (training, prediction) even where they would swallow it."""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

import keras


class KeepInterrupts(keras.callbacks.Callback):
    """Raises again, at the end of the batch, a Ctrl-C that Keras's loop swallowed.

    After each batch Keras turns the logs into numbers inside a bare `except:`
    (`pythonify_logs`). On JAX the main thread spends most of a step waiting
    there for the device, so a Ctrl-C mostly landed inside it and was lost: the
    run trained on to its end. Inside `with KeepInterrupts() as keep:`, each
    Ctrl-C is noted as it is raised; `keep`, as the last of `fit`'s callbacks,
    raises a noted one that did not get through at the end of the batch or
    epoch it was lost in, and the block raises one lost after the last callback
    as it ends. A Ctrl-C that gets through is not raised twice.

    The handler is set only where Python's own (or another `KeepInterrupts`'s)
    is in force, in the main thread: a program that handles or ignores SIGINT
    itself keeps its way.

    Example:

    ```python
    with KeepInterrupts() as keep:
        model.fit(x, y, callbacks=[..., keep])
    ```
    """

    def __init__(self) -> None:
        super().__init__()
        self.pending = False
        self._previous = None

    def __enter__(self) -> "KeepInterrupts":
        self.pending = False
        handler = signal.getsignal(signal.SIGINT)
        # Inside another one's block (a prediction in a training callback), this one takes over till it ends.
        ours = handler is signal.default_int_handler or isinstance(getattr(handler, "__self__", None), KeepInterrupts)
        if ours and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._interrupt)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        if kind is None:
            self.raise_lost()
        self.pending = False

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        self.pending = True
        raise KeyboardInterrupt

    def raise_lost(self, *args: object, **kwargs: object) -> None:
        """Raises `KeyboardInterrupt` if a Ctrl-C was noted and has not got through."""
        if self.pending:
            self.pending = False
            # Keras's JAX loops hold the variables until they end: put them back, or the model
            # stopped here cannot be used again (a notebook's).
            if hasattr(self.model, "jax_state_sync"):
                self.model.jax_state_sync()
            raise KeyboardInterrupt

    on_train_batch_end = on_test_batch_end = on_predict_batch_end = raise_lost
    on_epoch_end = on_test_end = on_predict_end = raise_lost

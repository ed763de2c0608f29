"""Quiets TensorFlow's start-up logging; call ``quiet()`` before Keras or TensorFlow is imported.

Measured with TensorFlow 2.21 / Keras 3.15 on a Linux CPU, no GPU. What ``import keras`` and a
first ``fit`` print, and what removes each line:

* ``WARNING: All log messages before absl::InitializeLog() is called are written to STDERR``,
  ``I... port.cc] oneDNN custom operations are on...`` and ``I... cudart_stub.cc] Could not find
  cuda drivers on your machine, GPU will not be used.``, each twice (two shared libraries). Abseil
  logs them while ``import tensorflow`` loads those libraries, before TensorFlow reads any setting:
  no environment variable (TF_CPP_MIN_LOG_LEVEL, GLOG_*, ABSL_*, GRPC_VERBOSITY,
  CUDA_VISIBLE_DEVICES) nor Python call removes them. So file descriptor 2 goes to a temporary
  file while TensorFlow's import runs; afterwards what it caught is written back to stderr, less
  these INFO / WARNING lines (an error line or a Python warning printed then still shows).
* ``I... cpu_feature_guard.cc] This TensorFlow binary is optimized...`` (2 lines, at import),
  ``E... cuda_platform.cc] failed call to cuInit...`` (first op) and ``E... util.cc] oneDNN
  supports DT_BOOL only on platforms with AVX-512...`` (first masked GRU step): TF_CPP_MIN_LOG_LEVEL=3
  (2 keeps the two ERROR lines). TensorFlow reads it once, at import: setting it later does nothing.

TF_ENABLE_ONEDNN_OPTS=0 would also drop the oneDNN lines, but it changes speed and numerics.
Python exceptions (and their tracebacks) are untouched. ``import attention`` calls ``quiet()``
before it imports Keras. ATTENTION_VERBOSE=1, or a TF_CPP_MIN_LOG_LEVEL of the user's own of 0
or 2, turns all of this off (the way to see why an import crashes, or why no GPU is used). A
level of 1 is taken as unset: ``import jax`` sets it wherever it is unset, in its process and so
in every process that one starts.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
from typing import Any, Sequence

# Abseil's INFO / WARNING lines ("I0000 00:00:...", "W0000 ...") and its pre-InitializeLog banner.
_NOISE = re.compile(rb"^([IW]\d{4} \d\d:\d\d:\S+ +\d+ |WARNING: All log messages before absl::InitializeLog)")


def quiet(verbose: bool = False) -> None:
    """Quiets TensorFlow's logging, unless ``verbose``, ATTENTION_VERBOSE or a TF_CPP_MIN_LOG_LEVEL of 0 or 2 is set."""
    # 1 is JAX's: `import jax` sets it where it is unset, and the processes it starts inherit it.
    if verbose or os.environ.get("ATTENTION_VERBOSE", "0") not in ("", "0") or \
            os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3") not in ("1", "3"):
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    # On every backend: Keras imports TensorFlow wherever it is installed, even on JAX.
    hooked = any(isinstance(f, _QuietImport) for f in sys.meta_path)
    if "tensorflow" not in sys.modules and not hooked:
        sys.meta_path.insert(0, _QuietImport())  # only ever hooks an import someone else makes


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as usual, but runs its import with stderr caught.

    It stays in place until TensorFlow is imported: a mere look-up
    (``importlib.util.find_spec``, as PyTorch makes) imports nothing.
    """

    _looking = False

    def find_spec(self, name: str, path: Sequence[str] | None, target: Any = None) -> Any:
        if name != "tensorflow" or self._looking:
            return None
        self._looking = True
        try:
            spec = importlib.util.find_spec(name)  # the usual look-up, past this finder
        finally:
            self._looking = False
        if spec is not None and spec.loader is not None:
            run = spec.loader.exec_module

            def exec_module(module: Any) -> None:
                if self in sys.meta_path:
                    sys.meta_path.remove(self)
                _without_noise(run, module)

            spec.loader.exec_module = exec_module
        return spec


def _without_noise(run: Any, module: Any) -> None:
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to catch
        return run(module)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            run(module)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = b"".join(line for line in caught if not _NOISE.match(line))
            if kept:
                os.write(2, kept)

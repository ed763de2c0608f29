"""TensorBoard event files written with the `tensorboard` package alone, on any Keras backend.

`tf.summary` needs TensorFlow, which a JAX or PyTorch machine may not have; the
`tensorboard` package holds the record format and the summary protos that
TensorBoard reads, so the same files are written whatever the backend. (Its
`EventFileWriter` goes through `tf.io.gfile`, which imports TensorFlow wherever
it is installed: the file is opened here instead.)
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time
import zlib
from pathlib import Path

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.histogram.summary import histogram_pb
from tensorboard.plugins.hparams import api_pb2 as hparams_api
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.hparams import plugin_data_pb2 as hparams_data
from tensorboard.plugins.hparams.summary_v2 import hparams_pb
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar.summary import scalar_pb
from tensorboard.summary.writer.record_writer import RecordWriter
from tensorboard.util import tensor_util


def png(rgb: np.ndarray) -> bytes:
    """Encodes a `(height, width, 3)` uint8 image as PNG (8-bit RGB, no filter)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a (height, width, 3) image, got shape {rgb.shape}")
    height, width, _ = rgb.shape
    rows = np.concatenate([np.zeros((height, 1), np.uint8), rgb.reshape(height, width * 3)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes())) + chunk(b"IEND", b"")


class SummaryWriter:
    """Writes scalars, histograms, images and a graph into one TensorBoard folder.

    Args:
        logdir: The folder (e.g. `RUN/train`); created if needed.
    """

    _files = itertools.count()

    def __init__(self, logdir: str | os.PathLike) -> None:
        os.makedirs(logdir, exist_ok=True)
        # TensorFlow's naming: a new file for each writer, never appended to by another.
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.{next(self._files)}.v2"
        self._writer = RecordWriter(open(os.path.join(logdir, name), "wb"))
        self._write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

    def _write(self, event: event_pb2.Event) -> None:
        self._writer.write(event.SerializeToString())

    def _add(self, summary: summary_pb2.Summary, step: int) -> None:
        self._write(event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

    def scalar(self, tag: str, value: float, step: int) -> None:
        self._add(scalar_pb(tag, np.float32(value)), step)

    def histogram(self, tag: str, values: np.ndarray, step: int) -> None:
        self._add(histogram_pb(tag, np.asarray(values, dtype=np.float64).ravel()), step)

    def image(self, tag: str, rgb: np.ndarray, step: int) -> None:
        """One `(height, width, 3)` uint8 image, as `tf.summary.image` writes it."""
        height, width = rgb.shape[:2]
        tensor = tensor_util.make_tensor_proto([str(width).encode(), str(height).encode(), png(rgb)])
        metadata = image_metadata.create_summary_metadata(display_name=tag, description="", converted_to_tensor=True)
        self._add(summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor)]), step)

    def graph(self, graph_def: bytes) -> None:
        """A serialised `GraphDef` (TensorFlow's op graph), shown in the Graphs tab."""
        self._write(event_pb2.Event(wall_time=time.time(), graph_def=graph_def))

    def mark_start(self, step: int) -> None:
        """Marks where a training session's steps start: `SessionLog.START` at `step`, as TF1's supervisor wrote it.

        TensorBoard takes each START after a folder's first as a restart, and
        drops the events of earlier files from `step` on: a resumed run logs
        again the steps its interrupted session logged after the last
        checkpoint, and they are then shown once.
        """
        start = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
        self._write(event_pb2.Event(wall_time=time.time(), step=int(step), session_log=start))

    def hparams(self, settings: dict, trial_id: str) -> None:
        """A run's settings for TensorBoard's HParams tab. A list (``--classes``) shows as its items
        joined by commas, as it was written; what is not a bool, a number or a string then (which
        the tab cannot show) is left out."""
        shown = {k: ",".join(map(str, v)) if isinstance(v, (list, tuple)) else v for k, v in settings.items()}
        shown = {k: v for k, v in shown.items() if isinstance(v, (bool, int, float, str))}
        self._add(hparams_pb(shown, trial_id=trial_id), step=0)

    def session_end(self, succeeded: bool) -> None:
        """How the run ended, for the HParams tab's Status filter (`Success` or `Failure`)."""
        # tensorboard's own `session_end_pb` imports TensorFlow: the same proto, built here.
        status = hparams_api.STATUS_SUCCESS if succeeded else hparams_api.STATUS_FAILURE
        info = hparams_data.HParamsPluginData(session_end_info=hparams_data.SessionEndInfo(
            status=status, end_time_secs=time.time()))
        value = summary_pb2.Summary.Value(tag=hparams_metadata.SESSION_END_INFO_TAG,
                                          metadata=hparams_metadata.create_summary_metadata(info),
                                          tensor=hparams_metadata.NULL_TENSOR)
        self._add(summary_pb2.Summary(value=[value]), step=0)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def record_settings(run_dir: str | os.PathLike, settings: dict, trial_id: str) -> None:
    """Writes a run's settings into its own folder, once, for TensorBoard's HParams tab.

    The tab then shows a row per run: its settings beside the metrics of its
    `train/` and `validation/` folders. A folder that already has events (a
    resumed run) keeps the settings it has.
    """
    if any(Path(run_dir).glob("events.out.tfevents.*")):
        return
    writer = SummaryWriter(run_dir)
    writer.hparams(settings, trial_id)
    writer.close()


def record_end(run_dir: str | os.PathLike, succeeded: bool) -> None:
    """Marks a run's row of the HParams tab as a success or a failure, once it has ended so.

    An interrupted run writes nothing: it is resumed, and TensorBoard keeps the
    first status a run records. A folder without settings has no row to mark.
    """
    if not any(Path(run_dir).glob("events.out.tfevents.*")):
        return
    writer = SummaryWriter(run_dir)
    writer.session_end(succeeded)
    writer.close()

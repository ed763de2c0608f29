"""Smoke tests of scripts/train_imdb.py on a tiny data set the tests make."""

import importlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from pathlib import Path

import keras
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.util import tensor_util

import attention
import attention.data.cache
import attention.training
from attention.atomic import save_model
from attention.callbacks import AttentionSummaries, EpochCheckpoint, TqdmProgress, latest_checkpoint
from attention.evaluation import predict_probabilities
from attention.interrupts import KeepInterrupts
from attention.model import inspection_model
from attention.summaries import SummaryWriter
from attention.visualize import attention_image
from attention.vocabulary import Vocabulary, vocabulary_path
from fake_data import write_keras_npz
from script_runs import SMALL, fails, load_script, run_dirs, run_ends, swallowed_ctrl_c

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_imdb.py"


@pytest.fixture(scope="module")
def train():
    main = load_script("train_imdb").main

    def run(*args):
        main([str(a) for a in args])

    return run


def event_tags(run_dir):
    """(tag, plugin) pairs and whether a graph was written, per sub-folder."""
    tags, graphs = defaultdict(set), set()
    for path in run_dir.glob("*/events.out.tfevents.*"):
        for event in EventFileLoader(str(path)).Load():
            if event.graph_def:
                graphs.add(path.parent.name)
            for value in event.summary.value:
                tags[path.parent.name].add((value.tag, value.metadata.plugin_data.plugin_name))
    return tags, graphs


def run_settings(run_dir):
    """What the run folder's own event files give TensorBoard's HParams tab: (run name, settings) per session."""
    sessions = []
    for path in run_dir.glob("events.out.tfevents.*"):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag == hparams_metadata.SESSION_START_INFO_TAG:
                    start = hparams_metadata.parse_session_start_info_plugin_data(value.metadata.plugin_data.content)
                    settings = {k: getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}
                    sessions.append((start.group_name, settings))
    return sessions


@pytest.fixture(scope="module")
def first_run(trained):
    """The tiny training run of conftest.py: (logdir, cache folder, run folder)."""
    model_path, _, cache = trained
    return model_path.parent.parent, cache, model_path.parent


def test_tensorboard_logs(first_run):
    _, _, run_dir = first_run
    tags, graphs = event_tags(run_dir)
    for split in ("train", "validation"):
        assert {("loss", "scalars"), ("accuracy", "scalars"), ("epoch_loss", "scalars"), ("epoch_accuracy", "scalars"),
                ("epoch_macro_f1", "scalars")} <= tags[split]
    for name in ("embeddings_var", "RNN_outputs", "alphas", "W"):
        assert (name, "histograms") in tags["train"]
    assert ("attention", "images") in tags["train"]
    assert ("train" in graphs) == (keras.backend.backend() == "tensorflow")  # only TensorFlow has an op graph


def test_run_records_its_settings_for_the_hparams_tab(first_run):
    _, _, run_dir = first_run
    record = json.loads((run_dir / "run.json").read_text())
    ((name, settings),) = run_settings(run_dir)
    assert name == run_dir.name and settings["seed"] == record["seed"] == 1
    assert settings["backend"] == keras.backend.backend() and settings["hidden_size"] == record["config"]["hidden_size"] == 6
    assert settings["learning_rate"] == pytest.approx(record["config"]["learning_rate"]) and settings["reset_after"] is False
    # Left out: what every run of the folder shares, and settings TensorBoard cannot show (None).
    assert "logdir" not in settings and record["config"]["model_path"] is None and "model_path" not in settings
    assert run_ends(run_dir) == ["STATUS_SUCCESS"]  # the tab's Status filter
    assert not (run_dir / ".lock").exists()  # a finished run is not held or resumed


def test_a_list_setting_shows_in_the_hparams_tab_as_written(tmp_path):
    writer = SummaryWriter(tmp_path)
    writer.hparams({"classes": ["pos", "neg"], "class_weight": "pos=2", "patience": None}, "run")
    writer.close()
    assert run_settings(tmp_path) == [("run", {"classes": "pos,neg", "class_weight": "pos=2"})]


def test_saved_model_loads_and_predicts(first_run, tiny_imdb):
    _, _, run_dir = first_run
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished" and 0.0 <= record["results"]["val_accuracy"] <= 1.0
    model = keras.models.load_model(run_dir / "model.keras")
    vocabulary = Vocabulary.load(vocabulary_path(run_dir / "model.keras"))
    ids = vocabulary.encode(["A great and wonderful film.", "Awful, boring."])
    assert ids.shape == (2, 250) and (ids[:, 0] == 1).all()
    assert vocabulary.decode(ids[0, :4]) == ["<start>", "a", "great", "and"]
    logits = model.predict(ids, verbose=0)
    assert logits.shape == (2, 1) and np.isfinite(logits).all()
    assert not list((run_dir / "checkpoints").glob("*.keras"))  # replaced by the final model


def test_the_report_pass_has_a_progress_bar(capsys):
    """After training, the validation texts are predicted once more for the per-class report: with a bar."""
    model = attention.build_model(20, 4, 3, 2)
    x = attention.zero_pad([[1, 5, 6], [1, 7], [1, 8, 9, 10]] * 12, 10)  # 36 texts: 3 batches of 16
    probabilities = predict_probabilities(model, x, 16, [TqdmProgress(train_batches=5, test_batches=3)])
    assert probabilities.shape == (36, 2)
    err = capsys.readouterr().err
    assert "validation report:" in err and "/3 [" in err


def test_second_run_leaves_first_alone(first_run, tiny_imdb, train, tmp_path, capsys):
    # In a copy: the first run is shared with other tests.
    logdir, cache = tmp_path / "logdir", first_run[1]
    shutil.copytree(first_run[0], logdir)
    run_dir = logdir / first_run[2].name
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}
    train("--data", tiny_imdb, "--logdir", logdir, "--cache-dir", cache, *SMALL)
    assert len(run_dirs(logdir)) == 2
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()} == before
    out = capsys.readouterr().out
    assert "loss: " in out and ", val_loss: " in out and ", val_acc: " in out
    assert f"Run 'tensorboard --logdir={logdir}' to checkout tensorboard logs." in out


def test_interrupted_run_resumes(tiny_imdb, tmp_path, train, monkeypatch, capsys):
    args = ["--data", tiny_imdb, "--logdir", tmp_path / "logs", "--cache-dir", tmp_path / "cache", *SMALL, "--num-epochs", "2"]
    save_epoch = EpochCheckpoint.on_epoch_end

    def interrupt_after_first_epoch(self, epoch, logs=None):
        save_epoch(self, epoch, logs)
        raise KeyboardInterrupt

    monkeypatch.setattr(EpochCheckpoint, "on_epoch_end", interrupt_after_first_epoch)
    with pytest.raises(SystemExit):
        train(*args)
    (run_dir,) = run_dirs(tmp_path / "logs")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    assert latest_checkpoint(run_dir / "checkpoints")[1] == 1
    assert run_ends(run_dir) == []  # neither a success nor a failure: it resumes
    assert not (run_dir / "model.keras").exists()

    monkeypatch.undo()
    capsys.readouterr()
    train(*args)
    assert "after epoch 1" in capsys.readouterr().out
    assert run_dirs(tmp_path / "logs") == [run_dir]
    assert len(run_settings(run_dir)) == 1  # the resumed run is the same row of the HParams tab
    assert run_ends(run_dir) == ["STATUS_SUCCESS"]
    history = [json.loads(line)["epoch"] for line in (run_dir / "checkpoints" / "history.jsonl").read_text().splitlines()]
    assert history == [1, 2]
    assert keras.models.load_model(run_dir / "model.keras").optimizer.iterations.numpy() == 2 * 3


def test_a_run_resumed_mid_epoch_shows_each_step_once_in_tensorboard(tiny_imdb, tmp_path, train, monkeypatch):
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

    args = ["--data", tiny_imdb, "--logdir", tmp_path / "logs", "--cache-dir", tmp_path / "cache", *SMALL, "--num-epochs", "2"]
    log_batch = AttentionSummaries.on_train_batch_end

    def interrupt_in_the_second_epoch(self, batch, logs=None):
        log_batch(self, batch, logs)
        if self._step(batch) == 5:  # 3 batches an epoch: the second batch of epoch 2
            raise KeyboardInterrupt

    monkeypatch.setattr(AttentionSummaries, "on_train_batch_end", interrupt_in_the_second_epoch)
    with pytest.raises(SystemExit):
        train(*args)
    monkeypatch.undo()
    train(*args)
    (run_dir,) = run_dirs(tmp_path / "logs")
    assert len(list((run_dir / "train").glob("events.out.tfevents.*"))) == 2
    events = EventAccumulator(str(run_dir / "train"))  # TensorBoard's reader with --load_fast=false
    events.Reload()
    for tag in ("loss", "accuracy"):
        # Steps 4 and 5 were logged by both sessions: the first session's are void.
        assert [event.step for event in events.Tensors(tag)] == [1, 2, 3, 4, 5, 6]
    assert [event.step for event in events.Tensors("epoch_loss")] == [0, 1]


def test_a_ctrl_c_keras_swallows_still_stops_the_run(tiny_imdb, tmp_path, train, monkeypatch, capsys,
                                                     python_sigint_handler):
    batches, show = [], TqdmProgress.on_train_batch_end

    def ctrl_c_in_the_first_batch(self, batch, logs=None):
        batches.append(batch)
        if len(batches) == 1:
            swallowed_ctrl_c()
        show(self, batch, logs)

    monkeypatch.setattr(TqdmProgress, "on_train_batch_end", ctrl_c_in_the_first_batch)
    with pytest.raises(SystemExit) as exit_info:
        train("--data", tiny_imdb, "--logdir", tmp_path / "logs", "--cache-dir", tmp_path / "cache", *SMALL)
    assert exit_info.value.code == 130 and "interrupted: run" in capsys.readouterr().err
    assert batches == [0]  # stopped at the end of the batch it was pressed in
    (run_dir,) = run_dirs(tmp_path / "logs")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Python's handler is back


def test_a_ctrl_c_keras_swallows_while_predicting_stops_it(python_sigint_handler):
    model = attention.build_model(20, 4, 3, 2)
    batches = []

    class Swallowing(keras.callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            batches.append(batch)
            swallowed_ctrl_c()

    with pytest.raises(KeyboardInterrupt):
        predict_probabilities(model, np.ones((40, 5), "int32"), 8, [Swallowing()])
    assert batches == [0]
    # The model stopped is whole: on JAX, Keras's loop had kept its variables.
    assert predict_probabilities(model, np.ones((4, 5), "int32"), 8).shape == (4, 2)
    model.fit(np.ones((8, 5), "int32"), np.zeros(8), batch_size=4, epochs=1, verbose=0)


def test_keep_interrupts_raises_each_ctrl_c_once_and_leaves_other_handlers_alone(python_sigint_handler):
    with KeepInterrupts() as keep:
        swallowed_ctrl_c()
        with pytest.raises(KeyboardInterrupt):
            keep.raise_lost()
        keep.raise_lost()  # raised once
    with pytest.raises(KeyboardInterrupt):
        with KeepInterrupts():
            swallowed_ctrl_c()  # lost after the last callback: raised as the block ends
    with pytest.raises(KeyboardInterrupt):
        with KeepInterrupts() as keep:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
    assert not keep.pending  # it got through: nothing left to raise
    with KeepInterrupts() as outer:  # a prediction inside a training run's block stops at its own batch's end
        with pytest.raises(KeyboardInterrupt):
            with KeepInterrupts() as inner:
                swallowed_ctrl_c()
                inner.raise_lost()
        assert signal.getsignal(signal.SIGINT) == outer._interrupt
    handler = lambda signum, frame: None  # noqa: E731
    signal.signal(signal.SIGINT, handler)
    with KeepInterrupts():
        assert signal.getsignal(signal.SIGINT) is handler
    assert signal.getsignal(signal.SIGINT) is handler


def test_model_path_option(tiny_imdb, tmp_path, train):
    target = tmp_path / "out" / "imdb.keras"
    train("--data", tiny_imdb, "--logdir", tmp_path / "logs", "--cache-dir", tmp_path / "cache", *SMALL,
          "--model-path", target, "--no-bucketing", "--reset-after", "--max-samples", "20")
    assert keras.models.load_model(target).get_layer("bi_gru").forward_layer.reset_after
    assert Vocabulary.load(tmp_path / "out" / "imdb.vocabulary.json").num_words == 10000


@pytest.mark.parametrize(
    "args, message",
    [
        (["--num-epochs", "0"], "positive integer"),
        (["--hidden-size", "-3"], "positive integer"),
        (["--keep-prob", "1.5"], "probability"),
        (["--learning-rate", "0"], "positive number"),
        (["--data", "/nonexistent/aclImdb"], "nonexistent"),
        (["--seed", "-1"], "seed from 0 to"),
        (["--seed", "x"], "expected an integer"),
        (["--intra-op-threads", "-3"], "0 or more"),
        (["--sequence-length", "2"], "3 or more"),  # a start id and a 0: no word
        (["--learning-rate", "inf"], "finite number"),
        (["--model-path", "model.h5"], "ending in .keras"),
        (["--patience", "0"], "positive integer"),
        (["--monitor", "loss"], "invalid choice"),
        (["--class-weight", "positive"], "expected 'balanced' or CLASS=WEIGHT,..."),
        (["--class-weight", "positive=-1"], "weights of 0 or more"),
        (["--index-from", "1"], "an integer of 2 or more"),
        (["--num-words", "4"], "--num-words 4 keeps no word: the first word's id is --index-from + 1 = 4, so "
                               "--num-words must be at least 5"),
        (["--num-words", "6", "--index-from", "5"], "--num-words must be at least 7"),
    ],
)
def test_clear_errors(args, message, train, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train("--logdir", tmp_path, *args)
    assert exit_info.value.code != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if "error" in line]) == 1
    assert not run_dirs(tmp_path)  # found before any run folder was made


def test_interrupting_the_first_data_load_says_so(tiny_imdb, tmp_path, train, capsys, monkeypatch):
    def interrupted(f, payload):
        f.write(b"PK\x03\x04 half of a cache file")
        raise KeyboardInterrupt

    monkeypatch.setattr(attention.data.cache, "save_arrays", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        train("--data", tiny_imdb, "--logdir", tmp_path / "logs", "--cache-dir", tmp_path / "cache", *SMALL)
    assert exit_info.value.code == 130
    err = capsys.readouterr().err
    assert "interrupted before training started; nothing was saved" in err and "Traceback" not in err
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert not (tmp_path / "logs").exists()


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the export is written on TensorFlow")
@pytest.mark.parametrize("error, status, message", [
    (KeyboardInterrupt, 130, "interrupted while writing the export that reads raw text; the model is saved to "),
    (RuntimeError("no space"), 0, "warning: the export that reads raw text failed (RuntimeError: no space)"),
])
def test_a_failed_export_keeps_the_finished_run(error, status, message, tiny_imdb, tmp_path, train, capsys, monkeypatch):
    def failing_export(*args, **kwargs):
        raise error

    monkeypatch.setattr(attention.training, "export_text_model", failing_export)
    args = ["--data", tiny_imdb, "--logdir", tmp_path / "logs", "--cache-dir", tmp_path / "cache", *SMALL]
    if status:
        with pytest.raises(SystemExit) as exit_info:
            train(*args)
        assert exit_info.value.code == status
    else:
        train(*args)
    (run_dir,) = run_dirs(tmp_path / "logs")
    err = capsys.readouterr().err
    assert message + (str(run_dir / "model.keras") if status else "") in err and "Traceback" not in err
    assert f"python -m attention.serving {run_dir / 'model.keras'}" in err
    assert "nothing was saved" not in err
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"
    keras.models.load_model(run_dir / "model.keras")


def test_data_without_a_word_index_trains_and_says_why_there_is_no_export(tmp_path, train, capsys):
    # A Keras imdb.npz alone: ids without words, so nothing can encode raw text or name a vector.
    train("--data", write_keras_npz(tmp_path / "imdb.npz"), "--logdir", tmp_path / "logs", "--cache-dir",
          tmp_path / "cache", *SMALL)
    captured = capsys.readouterr()
    assert "No export that reads raw text: the data had no word index" in captured.out
    assert "attention.serving" not in captured.out + captured.err and "Traceback" not in captured.err
    (run_dir,) = run_dirs(tmp_path / "logs")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"
    assert not (run_dir / "model_serving").exists() and not (run_dir / "projector_config.pbtxt").exists()


def test_unwritable_logdir(tiny_imdb, tmp_path, train, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit):
        train("--data", tiny_imdb, "--logdir", blocker / "logs", "--cache-dir", tmp_path / "cache", *SMALL)
    assert "cannot write to --logdir" in capsys.readouterr().err


def test_model_path_problems_are_found_before_training(tiny_imdb, tmp_path, train, capsys, monkeypatch):
    monkeypatch.setattr(attention.imdb, "load_data", lambda *a, **k: pytest.fail("the data was loaded"))
    (tmp_path / "folder.keras").mkdir()
    (tmp_path / "file").write_text("")
    for path, message in ((tmp_path / "folder.keras", "is a folder"), (tmp_path / "file" / "m.keras", "--model-path: cannot write")):
        with pytest.raises(SystemExit) as exit_info:
            train("--data", tiny_imdb, "--logdir", tmp_path / "logs", "--model-path", path)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def scalars(run_dir, split, tag):
    """The values of one scalar tag, by step."""
    values = {}
    for path in (run_dir / split).glob("events.out.tfevents.*"):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag == tag:
                    values[event.step] = float(tensor_util.make_ndarray(value.tensor))
    return [values[step] for step in sorted(values)]


def test_tensorboard_has_each_batch_own_loss(first_run):
    _, _, run_dir = first_run
    losses, accuracies = scalars(run_dir, "train", "loss"), scalars(run_dir, "train", "accuracy")
    assert len(losses) == len(accuracies) == 3  # 48 reviews in batches of 16
    # Keras's epoch loss is the mean over the epoch's (equal) batches; running
    # means would average to something else.
    history = json.loads((run_dir / "run.json").read_text())["results"]
    assert np.mean(losses) == pytest.approx(history["loss"], rel=1e-5)
    assert np.mean(accuracies) == pytest.approx(history["accuracy"], abs=1e-6)
    assert all(a in (0.0, 1 / 16, *(k / 16 for k in range(17))) for a in accuracies)


def test_attention_summaries_keep_one_inspection_model_up_to_date(tmp_path, monkeypatch):
    # A new inspection model each epoch is traced, and on JAX compiled, each epoch.
    built = []
    monkeypatch.setattr(attention.callbacks, "inspection_model", lambda m: built.append(inspection_model(m)) or built[-1])
    rng = np.random.default_rng(0)
    x = np.where(np.arange(12) < rng.integers(3, 12, (24, 1)), rng.integers(1, 40, (24, 12)), 0).astype("int32")
    y = (np.arange(24) % 2).astype("float32")
    keras.utils.set_random_seed(0)
    model = attention.build_model(40, 4, 3, 2, learning_rate=0.05)
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[AttentionSummaries(tmp_path, x[:4], 3)])
    assert len(built) == 1
    # Its attention twin has the last epoch's weights, not the first's.
    np.testing.assert_allclose(built[0].predict(x[:4], verbose=0)[2], inspection_model(model).predict(x[:4], verbose=0)[2],
                               rtol=1e-5, atol=1e-6)


def test_console_shows_only_the_runs_own_lines(tiny_imdb, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "ATTENTION_VERBOSE")}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(tiny_imdb), "--logdir", str(tmp_path / "logs"),
         "--cache-dir", str(tmp_path / "cache"), *SMALL],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in re.split(r"[\r\n]", result.stderr) if line.strip()]
    foreign = [line for line in lines if not re.match(r"(Reading |Tokenis|Cached |validation report: +\d+%\||\s*\d+%\|)", line)]
    assert foreign == []
    assert "Traceback" not in result.stderr and "val_acc" in result.stdout


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="TensorFlow is not installed")
@pytest.mark.parametrize("level, quiet", [(None, True), ("1", True), ("0", False)])
def test_tensorflows_start_up_logging_is_hidden_unless_asked_for(level, quiet):
    # 1: what a process that imported JAX (which sets it) passes on to the commands it starts.
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "ATTENTION_VERBOSE")}
    env.update({} if level is None else {"TF_CPP_MIN_LOG_LEVEL": level})
    result = subprocess.run([sys.executable, "-c", "import attention, tensorflow"], capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert ("absl::InitializeLog" not in result.stderr) == quiet, result.stderr


def test_help_explains_options():
    result = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for option in ("--data", "--logdir", "--model-path", "--seed", "--max-samples", "--strategy", "--reset-after", "--bucketing"):
        assert option in result.stdout


EMPTY_PATHS = [  # every option that takes a path, of every command line, given an empty one
    *[("train_imdb", [option, ""]) for option in ("--data", "--logdir", "--cache-dir", "--embeddings")],
    *[("train_text", ["--data", "x.csv", option, ""]) for option in ("--validation-data", "--cache-dir")],
    ("train_text", ["--data", ""]),
    ("baselines", ["--data", "x.csv", "--cache-dir", ""]),
    ("make_rating_task", ["--data", "", "--output", "out"]),
    ("make_rating_task", ["--data", "aclImdb", "--output", " "]),
    ("visualize_attention", ["--model", ""]),
    *[("visualize_attention", ["--model", "m.keras", option, ""]) for option in ("--data", "--cache-dir", "--output")],
    ("benchmark", ["--data", ""]),
    ("benchmark", ["--output", ""]),
    ("attention.predict", ["--model", "m.keras", "--input", ""]),
    *[("attention.evaluation", ["--model", "m.keras", option, ""]) for option in ("--test-data", "--output")],
    ("attention.embeddings", ["--model", "m.keras", "--output", ""]),
    ("attention.serving", [""]),
    ("attention.serving", ["m.keras", "--output", ""]),
]


@pytest.mark.parametrize("command, args", EMPTY_PATHS)
def test_an_empty_path_is_refused_not_read_as_the_current_folder(command, args, capsys):
    main = importlib.import_module(command).main if command.startswith("attention.") else load_script(command).main
    fails(main, args, capsys, "expected a path, got ")


@pytest.mark.parametrize("script", ["train_imdb", "train_text", "visualize_attention", "baselines"])
def test_help_shows_each_default_once(script):
    module = load_script(script, f"help_of_{script}")
    text = " ".join(module.parser.format_help().split())
    assert "(default: None)" not in text
    assert not re.search(r"\(default[^)]*\) \(default", text), "a default said twice"
    assert re.search(r"\(default: (?!None)", text), "defaults are still shown"


@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="tf.distribute runs there")
def test_mirrored_strategy_needs_tensorflow(train, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train("--logdir", tmp_path, "--strategy", "mirrored")
    assert exit_info.value.code == 2
    assert "needs the TensorFlow backend" in capsys.readouterr().err and not run_dirs(tmp_path)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.distribute")
def test_mirrored_strategy_on_two_logical_cpus(tiny_imdb, tmp_path):
    code = textwrap.dedent(
        f"""
        import runpy, sys
        import attention, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        sys.argv = ["train_imdb.py", "--data", {str(tiny_imdb)!r}, "--logdir", {str(tmp_path / "logs")!r},
                    "--cache-dir", {str(tmp_path / "cache")!r}, "--strategy", "mirrored", *{SMALL!r}]
        runpy.run_path({str(SCRIPT)!r}, run_name="__main__")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "val_acc" in result.stdout
    (run_dir,) = run_dirs(tmp_path / "logs")
    assert (run_dir / "model.keras").exists()


def test_save_model_never_leaves_half_a_file(tmp_path, monkeypatch):
    model = attention.build_model(50, 4, 3, 2)
    path = tmp_path / "m.keras"
    save_model(model, path)
    good = path.read_bytes()

    def broken_save(self, filepath, *args, **kwargs):
        Path(filepath).write_bytes(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_model(model, path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]


def test_a_loaded_model_is_compiled_as_this_backend_compiles_a_new_one(tmp_path):
    model = attention.build_model(50, 4, 3, 2)
    own = model.jit_compile
    # Saved where the other choice was made, as another backend makes it (JAX compiles with jax.jit,
    # PyTorch and TensorFlow on a CPU without torch.compile or XLA): Keras would load it with that one.
    model.compile(optimizer="adam", loss=model.loss, jit_compile=not own)
    model.optimizer.build(model.trainable_variables)  # its variables saved, as after training
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.jit_compile == own
    assert loaded.get_compile_config()["jit_compile"] == "auto"  # and saved again, it stays portable


def test_attention_image_colours():
    image = attention_image(np.array([[0.2, 0.8, 0.0], [0.5, 0.5, 0.0]]), np.array([3, 2]), row_height=2, cell_width=1)
    assert image.shape == (4, 3, 3) and image.dtype == np.uint8
    assert tuple(image[0, 1]) == (255, 255, 0)  # the row's strongest word: full yellow
    assert tuple(image[0, 2]) == (255, 255, 255)  # a real word with no weight: white
    assert tuple(image[2, 2]) == (160, 160, 160)  # padding: grey

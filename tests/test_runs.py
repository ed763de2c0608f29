"""Run folders: held by their process, resumed exactly, marked failed when training diverges."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

import attention.training
from attention.atomic import atomic_path, write_json
from attention.evaluation import evaluate
from attention.callbacks import EpochCheckpoint, best_epoch, epochs_without_improvement
from attention.runs import Run, RunStopped, data_digest
from script_runs import SMALL, load_script, run_dirs, run_ends

CONFIG = {"num_words": 100, "seed": 1}


def raise_keyboard_interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_a_held_run_is_never_shared(tmp_path):
    first = Run.open(tmp_path, CONFIG)
    second = Run.open(tmp_path, CONFIG)
    assert second.directory != first.directory
    assert second.skipped == [first.name]
    first.close()
    # The first run is free again (its process "died"): it is the one to resume,
    # the second, newer one being held.
    third = Run.open(tmp_path, CONFIG)
    assert third.directory == first.directory
    second.close()
    third.close()


def test_a_killed_process_leaves_no_lock(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys, time
        from attention.runs import Run, RunStopped, data_digest
        run = Run.open({str(tmp_path)!r}, {CONFIG!r})
        print(run.directory, flush=True)
        time.sleep(600)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        directory = Path(child.stdout.readline().strip())
        other = Run.open(tmp_path, CONFIG)
        assert other.skipped == [directory.name]  # held while the process lives
        other.stop("failed", "not to be resumed")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    assert Run.open(tmp_path, CONFIG).directory == directory


def test_finished_and_failed_runs_are_not_resumed(tmp_path):
    run = Run.open(tmp_path, CONFIG)
    run.stop("failed", "diverged")
    assert Run.open(tmp_path, CONFIG).directory != run.directory


def test_a_run_that_ends_while_another_process_opens_it_keeps_no_lock_file(tmp_path, monkeypatch):
    first = Run.open(tmp_path, CONFIG)
    running = dict(first.record)
    first.stop("failed", "diverged")
    assert not (first.directory / ".lock").exists()
    # The other process read the record while the run still ran, and takes its lock once it has ended.
    reads = iter([running])
    read_record = Run._read_record.__func__
    monkeypatch.setattr(Run, "_read_record", classmethod(lambda cls, d: next(reads, None) or read_record(cls, d)))
    second = Run.open(tmp_path, CONFIG)
    assert second.directory != first.directory and not (first.directory / ".lock").exists()
    second.close()


def test_options_added_since_leave_the_key_of_a_run_that_does_not_use_them():
    """A run started before --keep-best, --patience and --monitor resumes when they are left at their defaults."""
    defaults = {"embeddings": None, "keep_best": False, "patience": None, "monitor": "val_loss"}
    assert Run.config_key({**CONFIG, **defaults}) == Run.config_key(CONFIG)
    for changed in ({"keep_best": True}, {"patience": 2}, {"monitor": "val_accuracy"}, {"embeddings": "v.txt"}):
        assert Run.config_key({**CONFIG, **defaults, **changed}) != Run.config_key(CONFIG), changed


def test_a_run_resumes_only_on_the_backend_it_started_on(tmp_path):
    # A seed draws other numbers on another backend: resumed there, a run would not go on as it
    # would have. A TensorFlow run's key is that of the runs started before the backend was in it.
    assert Run.config_key({**CONFIG, "backend": "tensorflow"}) == Run.config_key(CONFIG)
    on_jax = Run.open(tmp_path, {**CONFIG, "backend": "jax"})
    on_jax.stop("interrupted", "Ctrl-C")
    on_torch = Run.open(tmp_path, {**CONFIG, "backend": "torch"})
    assert on_torch.directory != on_jax.directory
    on_torch.close()
    assert Run.open(tmp_path, {**CONFIG, "backend": "jax"}).directory == on_jax.directory


def test_a_run_resumes_only_over_the_data_it_started_on(tmp_path):
    first = Run.open(tmp_path, CONFIG, data=data_digest([np.arange(6).reshape(2, 3), np.array([0, 1])], ["a", "b"]))
    first.stop("interrupted", "Ctrl-C")
    for arrays, classes in (([np.array([[0, 1, 2], [3, 4, 6]]), np.array([0, 1])], ["a", "b"]),  # a word id
                            ([np.arange(6).reshape(2, 3), np.array([1, 1])], ["a", "b"]),  # a label
                            ([np.arange(6).reshape(3, 2), np.array([0, 1])], ["a", "b"]),  # the length
                            ([np.arange(6).reshape(2, 3), np.array([0, 1])], ["a", "c"])):  # a class name
        other = Run.open(tmp_path, CONFIG, data=data_digest(arrays, classes))
        assert other.directory != first.directory and other.other_data == [first.name]
        other.stop("failed", "not to be resumed")
    same = Run.open(tmp_path, CONFIG, data=data_digest([np.arange(6).reshape(2, 3), np.array([0, 1])], ["a", "b"]))
    assert same.directory == first.directory
    same.stop("interrupted", "Ctrl-C")
    # A run recorded before runs kept their data's fingerprint resumes as it did.
    record = json.loads((first.directory / "run.json").read_text())
    del record["data"]
    write_json(first.directory / "run.json", record)
    assert Run.open(tmp_path, CONFIG, data="another").directory == first.directory


def test_edited_data_starts_a_new_run(tmp_path, monkeypatch, capsys):
    table = tmp_path / "texts.csv"
    table.write_text("text,label\n" + "".join(f"{w} film,{y}\n" for w, y in [("good", "pos"), ("bad", "neg")] * 4))
    logdir = tmp_path / "my logs"
    args = ["--data", table, "--validation-split", "0.25", "--logdir", logdir, "--cache-dir", tmp_path / "cache", *SMALL]
    monkeypatch.setattr(EpochCheckpoint, "on_epoch_end", raise_keyboard_interrupt)
    with pytest.raises(SystemExit):
        train_text(*args)
    monkeypatch.undo()
    (interrupted,) = run_dirs(logdir)
    with open(table, "a") as f:  # the same arguments, more words: the checkpoint's ids would mean others
        f.write("splendid new words,pos\n")
    train_text(*args)
    out = capsys.readouterr().out
    assert f"Run {interrupted.name} read other data" in out
    assert len(run_dirs(logdir)) == 2
    assert f"Run 'tensorboard --logdir='{logdir}'' to checkout" in out  # a command to paste, space and all
    assert json.loads((interrupted / "run.json").read_text())["status"] == "interrupted"


@pytest.mark.parametrize("resume, again", [(True, "run the same command again to resume it"),
                                           (False, "run the same command without --no-resume to resume it")])
def test_an_interrupted_run_says_how_to_resume_it(tmp_path, resume, again):
    run = Run.open(tmp_path, CONFIG, resume=resume)
    with pytest.raises(RunStopped) as stopped, run.guard():
        raise KeyboardInterrupt
    assert stopped.value.status == 130 and str(stopped.value).endswith(again)
    assert Run.open(tmp_path, CONFIG).directory == run.directory  # and so it does


def test_the_best_epoch_is_the_lowest_loss_or_the_highest_accuracy_and_the_earliest_of_equals():
    history = [{"epoch": 1, "val_loss": 0.5, "val_accuracy": 0.7, "val_macro_f1": 0.6},
               {"epoch": 2, "val_loss": None, "val_accuracy": None},  # a non-finite value, as run.json holds it
               {"epoch": 3, "val_loss": 0.4, "val_accuracy": 0.7, "val_macro_f1": 0.65},
               {"epoch": 4, "val_loss": 0.4, "val_accuracy": 0.8, "val_macro_f1": 0.65}]
    assert best_epoch(history, "val_loss") == 3 and epochs_without_improvement(history, "val_loss") == 1
    assert best_epoch(history, "val_accuracy") == 4 and epochs_without_improvement(history, "val_accuracy") == 0
    assert best_epoch(history, "val_macro_f1") == 3 and epochs_without_improvement(history, "val_macro_f1") == 1
    assert best_epoch(history[:2], "val_accuracy") == 1 and epochs_without_improvement(history[:2], "val_accuracy") == 1
    assert best_epoch(history[1:2], "val_loss") is None and epochs_without_improvement(history[1:2], "val_loss") == 2
    assert best_epoch([], "val_loss") is None and epochs_without_improvement([], "val_loss") == 0


def test_run_json_stays_valid_json_with_non_finite_numbers(tmp_path):
    write_json(tmp_path / "r.json", {"loss": float("nan"), "acc": [float("inf"), 0.5]})
    assert json.loads((tmp_path / "r.json").read_text()) == {"loss": None, "acc": [None, 0.5]}


def test_atomic_path_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "x.json"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_atomic_path_gives_the_usual_file_mode(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "model.keras") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "model.keras").stat().st_mode & 0o777 == 0o644  # mkstemp alone gives 0600


@pytest.fixture(scope="module")
def train():
    main = load_script("train_imdb").main
    return lambda *args: main([str(a) for a in args])


def train_text(*args):
    load_script("train_text").main([str(a) for a in args])


def final_state(run_dir):
    model = keras.models.load_model(run_dir / "model.keras")
    history = [json.loads(line) for line in (run_dir / "checkpoints" / "history.jsonl").read_text().splitlines()]
    return model.get_weights(), history[-1]


def test_seeded_resume_is_exact(tiny_imdb, tmp_path, train, monkeypatch, capsys):
    args = ["--data", tiny_imdb, "--cache-dir", tmp_path / "cache", *SMALL, "--num-epochs", "2", "--keep-prob", "0.5"]
    train("--logdir", tmp_path / "whole", *args)
    (whole,) = run_dirs(tmp_path / "whole")

    save_epoch = EpochCheckpoint.on_epoch_end

    def interrupt_after_first_epoch(self, epoch, logs=None):
        save_epoch(self, epoch, logs)
        raise KeyboardInterrupt

    monkeypatch.setattr(EpochCheckpoint, "on_epoch_end", interrupt_after_first_epoch)
    with pytest.raises(SystemExit) as exit_info:
        train("--logdir", tmp_path / "parts", *args)
    assert exit_info.value.code == 130
    err = capsys.readouterr().err
    assert "keeps epoch 1" in err and "run the same command again to resume" in err and "Traceback" not in err
    (parts,) = run_dirs(tmp_path / "parts")
    assert json.loads((parts / "run.json").read_text())["status"] == "interrupted"
    monkeypatch.undo()
    train("--logdir", tmp_path / "parts", *args)
    assert "after epoch 1" in capsys.readouterr().out
    assert json.loads((parts / "run.json").read_text())["config"]["backend"] == keras.backend.backend()

    # One op graph a run (TensorFlow's), not one a start: TensorBoard warns of a second.
    graphs = sum(bool(event.graph_def) for path in (parts / "train").glob("events.out.tfevents.*")
                 for event in EventFileLoader(str(path)).Load())
    assert graphs == (keras.backend.backend() == "tensorflow")
    (whole_weights, whole_logs), (parts_weights, parts_logs) = final_state(whole), final_state(parts)
    assert parts_logs == whole_logs
    for a, b in zip(whole_weights, parts_weights):
        np.testing.assert_array_equal(a, b)


def test_a_diverging_run_stops_and_keeps_its_last_good_epoch(tiny_imdb, tmp_path, train, monkeypatch, capsys):
    def nan_after_first_epoch(self, epoch, logs=None):
        save_epoch(self, epoch, logs)
        # From now on, every step produces a non-finite loss.
        for weight in self.model.get_layer("output").weights:
            weight.assign(np.full(weight.shape, np.nan, dtype="float32"))

    save_epoch = EpochCheckpoint.on_epoch_end
    monkeypatch.setattr(EpochCheckpoint, "on_epoch_end", nan_after_first_epoch)
    with pytest.raises(SystemExit) as exit_info:
        train("--data", tiny_imdb, "--logdir", tmp_path / "logs", "--cache-dir", tmp_path / "cache", *SMALL, "--num-epochs", "3")
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "training diverged" in err and "epoch 2" in err and "Traceback" not in err
    (run_dir,) = run_dirs(tmp_path / "logs")
    record = json.loads((run_dir / "run.json").read_text())  # valid JSON: no NaN
    assert record["status"] == "failed" and "loss became nan" in record["reason"]
    assert [p.name for p in (run_dir / "checkpoints").glob("*.keras")] == ["epoch-001.keras"]
    good = keras.models.load_model(run_dir / "checkpoints" / "epoch-001.keras")
    assert all(np.isfinite(w).all() for w in good.get_weights())
    assert not (run_dir / "model.keras").exists()
    assert run_ends(run_dir) == ["STATUS_FAILURE"]  # TensorBoard's HParams tab: Status "Failure"
    assert not (run_dir / ".lock").exists()


def test_patience_stops_and_keeps_the_best_epoch_across_an_interruption(tiny_imdb, tmp_path, train, monkeypatch, capsys):
    """--patience 2 of 6 epochs, validation losses 0.5, 0.4, 0.6, 0.7: training stops after the fourth
    epoch and the model of the second is saved and scored, though the run was interrupted after the third."""
    val_loss = [0.5, 0.4, 0.6, 0.7, 0.3, 0.3]
    weights, interrupt = {}, True
    save_epoch = EpochCheckpoint.on_epoch_end

    def scripted(self, epoch, logs=None):
        weights[epoch + 1] = self.model.get_weights()
        save_epoch(self, epoch, {**logs, "val_loss": val_loss[epoch]})
        if interrupt and epoch + 1 == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(EpochCheckpoint, "on_epoch_end", scripted)
    args = ["--data", tiny_imdb, "--logdir", tmp_path / "logs", "--cache-dir", tmp_path / "cache", *SMALL,
            "--num-epochs", "6", "--patience", "2"]
    with pytest.raises(SystemExit):
        train(*args)
    (run_dir,) = run_dirs(tmp_path / "logs")
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("*.keras")) == ["epoch-002.keras", "epoch-003.keras"]
    interrupt = False
    # Stopped, then interrupted before the model was saved: the run resumes without training again.
    monkeypatch.setattr(attention.training, "evaluate", raise_keyboard_interrupt)
    with pytest.raises(SystemExit):
        train(*args)
    monkeypatch.setattr(attention.training, "evaluate", evaluate)
    capsys.readouterr()
    train(*args)
    out = capsys.readouterr().out
    assert "Stopped after 4 epochs: val_loss has not improved for the last 2." in out
    assert "Keeping the model as it was after 2 epochs: val_loss 0.4000, the best of the 4." in out
    assert sorted(weights) == [1, 2, 3, 4] and "Resuming run" in out and "epoch: " not in out
    for saved, kept in zip(keras.models.load_model(run_dir / "model.keras").get_weights(), weights[2]):
        np.testing.assert_array_equal(saved, kept)
    results = json.loads((run_dir / "run.json").read_text())["results"]
    assert results["epoch"] == 2 and results["epochs_trained"] == 4 and results["val_loss"] == 0.4
    # Scored with the kept model: the report's accuracy is the second epoch's validation accuracy.
    assert results["validation_report"]["accuracy"] == pytest.approx(results["val_accuracy"], abs=1e-6)
    history = [json.loads(line) for line in (run_dir / "checkpoints" / "history.jsonl").read_text().splitlines()]
    assert results["val_accuracy"] == history[1]["val_accuracy"] and [h["epoch"] for h in history] == [1, 2, 3, 4]

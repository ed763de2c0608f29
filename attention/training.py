"""The training both scripts share: the original script's loop, on any labelled texts, in a run folder."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from attention.arguments import check_num_words, check_writable, class_weight_values
from attention.backends import (
    cache_compiled_programs, check_strategy, configure_threads, distribution_scope, grow_gpu_memory,
    set_random_seed,
)
from attention.callbacks import (
    AttentionSummaries, StopOnNonFiniteLoss, StopWhenNotImproving, TqdmProgress, best_epoch, epochs_without_improvement,
)
from attention.data.errors import DatasetError
from attention.embeddings import read_vectors, set_embeddings, write_projector
from attention.evaluation import confusion_image, evaluate, format_report
from attention.interrupts import KeepInterrupts
from attention.model import build_model
from attention.pipeline import class_weights, make_dataset, num_batches
from attention.preprocessing import fit_in_vocabulary, get_vocabulary_size, zero_pad
from attention.runs import Run, RunError, RunStopped, data_digest
from attention.serving import export_text_model, serving_dir
from attention.summaries import SummaryWriter, record_settings
from attention.vocabulary import Vocabulary


def train_classifier(
    args: argparse.Namespace,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    vocabulary: Vocabulary,
    config: dict,
) -> Path:
    """The original script's training, for any labelled texts: the body both training scripts share.

    Pads the encoded texts as the original did, opens (or resumes) the run,
    trains with the checkpoints, TensorBoard summaries and progress bars, then
    scores the validation texts per class and saves the model, its vocabulary
    and (on TensorFlow) the export that reads raw strings (`attention.serving`).

    Args:
        args: The options of `arguments.add_training_arguments`.
        data: `(x_train, y_train, x_validation, y_validation)`: word index lists and
            labels `0..classes - 1`.
        vocabulary: How the texts were encoded, with the class names.
        config: What the run computes, recorded in `run.json` (a run resumes only a
            run of the same config).

    Returns:
        Where the model was saved.

    Raises:
        RunError: The run folder cannot be written.
        RunStopped: Training was interrupted or diverged.
    """
    x_train, y_train, x_test, y_test = data
    if args.max_samples:
        x_train, y_train = x_train[: args.max_samples], y_train[: args.max_samples]
        x_test, y_test = x_test[: args.max_samples], y_test[: args.max_samples]
    classes = vocabulary.class_names

    # Sequences pre-processing, as the original
    vocabulary_size = get_vocabulary_size(x_train)
    x_test = fit_in_vocabulary(x_test, vocabulary_size)
    x_train = zero_pad(x_train, args.sequence_length)
    x_test = zero_pad(x_test, args.sequence_length)
    # Read before the run starts, so that a bad file costs nothing.
    vectors = None
    if args.embeddings:
        if vocabulary.word_index is None:
            raise DatasetError("--embeddings: the data has no word index, so no word can be matched to a vector")
        # Only the words the model has rows for (fewer with --max-samples): a file with none of them is an error.
        words = [word for word, rank in vocabulary.word_index.items() if rank + vocabulary.index_from < vocabulary_size]
        vectors = read_vectors(args.embeddings, words, args.embedding_dim)

    weights = None
    if args.class_weight:
        try:
            weights = class_weights(class_weight_values(args.class_weight), y_train, classes)
        except ValueError as error:
            raise DatasetError(str(error)) from None
        print(f"Class weights: {', '.join(f'{name} {weight:.4g}' for name, weight in zip(classes, weights))}")

    # A seed draws other numbers on each backend: a run goes on only on the backend it started on.
    run = Run.open(args.logdir, {**config, "backend": keras.backend.backend()}, resume=args.resume, seed=args.seed,
                   data=data_digest((x_train, y_train, x_test, y_test), classes))
    for name in run.skipped:
        print(f"Run {name} is in progress in another process; starting a new run.")
    for name in run.other_data:
        print(f"Run {name} read other data (its texts, words or classes have changed since); starting a new run.")
    with run.guard():
        # Every run is seeded (with a random seed unless --seed, recorded in run.json),
        # so that a resumed run goes on exactly as the uninterrupted one would have.
        set_random_seed(run.seed)
        with distribution_scope(args.strategy):
            model, initial_epoch = run.restore()
            if model is None:
                model = build_model(vocabulary_size, args.embedding_dim, args.hidden_size, args.attention_size,
                                    args.keep_prob, args.learning_rate, reset_after=args.reset_after,
                                    num_classes=len(classes), trainable_embeddings=not args.freeze_embeddings)
                if vectors:
                    rows = set_embeddings(model, vocabulary, vectors)
                    print(f"Word vectors for {rows:,} of the {vocabulary_size - vocabulary.index_from - 1:,} words "
                          f"from {args.embeddings}")
        if initial_epoch:
            print(f"Resuming run {run.name} after epoch {initial_epoch}.")
        settings = {k: v for k, v in run.config.items() if k != "logdir"}
        record_settings(run.directory, {**settings, "seed": run.seed}, run.name)

        train_data = make_dataset(x_train, y_train, args.batch_size, shuffle=True, bucketing=args.bucketing,
                                  seed=run.seed, first_epoch=initial_epoch, class_weight=weights)
        test_data = make_dataset(x_test, y_test, args.batch_size, shuffle=False, bucketing=args.bucketing)
        train_batches = num_batches(len(x_train), args.batch_size)
        progress = TqdmProgress(train_batches, num_batches(len(x_test), args.batch_size))
        keep_best = args.monitor if args.keep_best or args.patience else None
        callbacks = [
            StopOnNonFiniteLoss(),
            progress,
            AttentionSummaries(run.directory, x_test[:32], train_batches),
            run.checkpoint_callback(keep_best),
        ]
        epochs = args.num_epochs
        if args.patience:
            callbacks.append(StopWhenNotImproving(run.checkpoint_dir, args.monitor, args.patience))
            if epochs_without_improvement(run.history(), args.monitor) >= args.patience:
                epochs = initial_epoch  # it had stopped before it was interrupted

        print("Start learning...")
        start = time.perf_counter()
        # Last, so that a Ctrl-C Keras's loop swallowed is raised after the epoch's checkpoint.
        with KeepInterrupts() as keep:
            model.fit(train_data, validation_data=test_data, epochs=epochs, initial_epoch=initial_epoch,
                      callbacks=[*callbacks, keep], shuffle=False, verbose=0)
        seconds = round(time.perf_counter() - start, 1)
        history = run.history()
        last = history[-1]["epoch"] if history else initial_epoch
        if args.patience and last < args.num_epochs:
            print(f"Stopped after {last} epochs: {args.monitor} has not improved for the last {args.patience}.")
        kept = (best_epoch(history, keep_best) or last) if keep_best else last
        if kept != last:
            with distribution_scope(args.strategy):
                model, _ = run.restore(kept)
        kept_logs = next((logs for logs in history if logs["epoch"] == kept), {})
        if keep_best and keep_best in kept_logs:
            print(f"Keeping the model as it was after {kept} epochs: {keep_best} {kept_logs[keep_best]:.4f}, "
                  f"the best of the {last}.")

        report = evaluate(model, x_test, y_test, classes, args.batch_size, [progress])
        print(format_report(report))
        writer = SummaryWriter(run.directory / "validation")
        step = kept * train_batches
        writer.scalar("macro_f1", report["macro_f1"], step)
        writer.image("confusion_matrix", confusion_image(report["confusion_matrix"]), step)
        writer.close()
        write_projector(model, vocabulary, run.directory)
        results = {**kept_logs, "epochs_trained": last, "train_seconds_this_session": seconds,
                   "validation_report": report}
        model_path = run.finish(model, vocabulary, results)
    print(f"Model saved to {model_path}")
    export = f"python -m attention.serving {shlex.quote(str(model_path))}"
    if vocabulary.word_index is None:
        print("No export that reads raw text: the data had no word index to encode text with.")
    elif keras.backend.backend() == "tensorflow":
        try:
            print(f"Export that reads raw text saved to {export_text_model(model, vocabulary, serving_dir(model_path))}")
        except KeyboardInterrupt:
            # The run is finished and its model saved; only the export (written whole or not at all) is missing.
            raise RunStopped(f"interrupted while writing the export that reads raw text; the model is saved to "
                             f"{model_path}; write the export with: {export}",
                             130) from None
        except Exception as error:  # the model is saved: an export can be made again from it
            print(f"warning: the export that reads raw text failed ({type(error).__name__}: {error}); "
                  f"retry with: {export}", file=sys.stderr)
    else:
        print(f"For an export that reads raw text: KERAS_BACKEND=tensorflow {export}")
    return model_path


def run_command(parser: argparse.ArgumentParser, argv: list[str] | None, train: Callable) -> None:
    """A training script's `main`: parse, check, set the devices up, call `train(args, fail)`.

    Bad arguments and data exit with status 2, a diverged run with 1, Ctrl-C with
    130: each with one line on stderr that says what was kept.
    """
    args = parser.parse_args(argv)
    fail = lambda error, status=2: parser.exit(status, f"{parser.prog}: error: {error}\n")  # noqa: E731
    if args.model_path and (problem := check_writable(args.model_path)):
        fail(f"--model-path: {problem}")
    if problem := check_num_words(args):
        fail(problem)
    try:
        check_strategy(args.strategy)
    except ValueError as error:
        fail(error)
    grow_gpu_memory()
    configure_threads(args.intra_op_threads, args.inter_op_threads)
    cache_compiled_programs()
    try:
        train(args, fail)
    except (RunError, DatasetError) as error:
        fail(error)
    except RunStopped as stopped:
        fail(stopped, stopped.status)
    except KeyboardInterrupt:
        fail("interrupted before training started; nothing was saved", 130)

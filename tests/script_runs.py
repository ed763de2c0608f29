"""The project's command-line scripts as modules, and what the tests' runs of them share."""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import runpy
import signal
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Callable

import pytest
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.plugins.hparams import api_pb2 as hparams_api
from tensorboard.plugins.hparams import metadata as hparams_metadata

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
BENCHMARKS = SCRIPTS.parent / "benchmarks"
# A tiny model for one quick epoch: the training scripts' runs in the tests take seconds.
SMALL = ["--num-epochs", "1", "--batch-size", "16", "--embedding-dim", "8", "--hidden-size", "6", "--attention-size", "4",
         "--seed", "1"]


def load_script(name: str, module_name: str | None = None) -> ModuleType:
    """`scripts/{name}.py`, freshly executed as the module `module_name` (default: `name`)."""
    return _execute(SCRIPTS / f"{name}.py", module_name or name)


@functools.lru_cache(maxsize=None)
def load_benchmark(name: str) -> ModuleType:
    """`benchmarks/{name}.py` as the module `benchmarks.{name}`, executed once."""
    return _execute(BENCHMARKS / f"{name}.py", f"benchmarks.{name}")


def _execute(path: Path, module_name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_dirs(logdir: Path) -> list[Path]:
    """The run folders a training script made in `logdir`."""
    return sorted(p for p in Path(logdir).iterdir() if p.is_dir())


def only_run(logdir: Path) -> Path:
    """The one run folder in `logdir`."""
    (run_dir,) = run_dirs(logdir)
    return run_dir


def fails(main: Callable[[list[str]], object], args: list, capsys: pytest.CaptureFixture, message: str) -> str:
    """Runs a command's `main` on `args` and checks that it stops with exit status 2 and one error line
    that holds `message`, no traceback; returns what it printed to standard error."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    # One line: argparse's own errors (bad arguments) print the usage before it.
    assert [line for line in err.splitlines() if ": error: " in line] == [err.splitlines()[-1]]
    assert ": error: " in err.splitlines()[-1] and message in err.splitlines()[-1]
    return err


class Parsed(BaseException):
    """Raised once a command's arguments parse: the command goes no further. Not an Exception,
    so that no `except Exception` of the command's own catches it."""


def run_until_parsed(target: str, argv: list[str], monkeypatch: pytest.MonkeyPatch,
                     env: dict | None = None) -> int | str | None:
    """Runs `python TARGET ARGV...` in this process as far as its arguments parse, and stops
    there: nothing is trained, read or written. `target` is a script's path from the project root
    or ``-m MODULE``; `env`, what the command line sets before ``python``. Returns None where the
    arguments parse, else the status the command exited with before that (0 after --help;
    argparse's 2, its message on stderr)."""
    parse_known_args = argparse.ArgumentParser.parse_known_args

    def parse_then_stop(self, args=None, namespace=None):
        namespace, extras = parse_known_args(self, args, namespace)
        if extras:  # parse_args makes them argparse's error
            return namespace, extras
        raise Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", parse_then_stop)
    monkeypatch.setattr(sys, "argv", [target, *argv])
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.syspath_prepend(str(SCRIPTS.parent))
    try:
        if target.startswith("-m "):
            monkeypatch.delitem(sys.modules, target[3:], raising=False)  # run afresh, as `python -m` would
            runpy.run_module(target[3:], run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(str(SCRIPTS.parent / target), run_name="__main__")
    except Parsed:
        return None
    except SystemExit as exit_:
        return exit_.code
    raise AssertionError(f"{target} ended without parsing its arguments")


def run_ends(run_dir):
    """The statuses the run folder gives TensorBoard's HParams tab ('STATUS_SUCCESS', 'STATUS_FAILURE'), in order."""
    statuses = []
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag == hparams_metadata.SESSION_END_INFO_TAG:
                    end = hparams_metadata.parse_session_end_info_plugin_data(value.metadata.plugin_data.content)
                    statuses.append(hparams_api.Status.Name(end.status))
    return statuses


def swallowed_ctrl_c():
    """A Ctrl-C that lands inside a bare `except:`, as Keras's conversion of each batch's logs has one."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the handler raises here at the latest
    except BaseException:
        pass

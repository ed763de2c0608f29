"""JAX's compiled programs kept on disk between runs (`attention.backends.cache_compiled_programs`).

Each case runs in a JAX process of its own: the cache is set once per process, before JAX compiles.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from attention.backends import JAX_CACHE_MIN_COMPILE_SECONDS, cache_compiled_programs
from script_runs import SCRIPTS, SMALL, only_run

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                reason="jax is not installed (pip install -e '.[test]')")

# A command (a script's path or a module) on JAX, as on a GPU (where the cache is on by default) but
# on this CPU, counting the compiled programs JAX loaded from the cache instead of compiling them.
COMMAND = """
import runpy, sys
import jax
from jax import monitoring
import attention.bidirectional

hits = []
monitoring.register_event_listener(
    lambda event, **_: hits.append(event) if event == "/jax/compilation_cache/cache_hits" else None)
jax.default_backend = lambda: "gpu"
attention.bidirectional.JAX_GPU_UNROLL = 1  # the GPU's unrolled scan only compiles slower here
sys.argv = sys.argv[1:]
try:
    if sys.argv[0].endswith(".py"):
        runpy.run_path(sys.argv[0], run_name="__main__")
    else:
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
finally:
    print("cache hits:", len(hits))
"""

CHOICE = """
import json
import jax
from attention.backends import cache_compiled_programs
folder = cache_compiled_programs()
print(json.dumps([None if folder is None else str(folder), jax.config.jax_compilation_cache_dir,
                  jax.config.jax_persistent_cache_min_compile_time_secs]))
"""


def run_jax(code: str, *args: str, env: dict) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "JAX_COMPILATION_CACHE_DIR"}
    # XLA's quick compiles, as the JAX suite runs (tests/test_backends.py): the models are tiny.
    environment.update(env, KERAS_BACKEND="jax", XLA_FLAGS="--xla_backend_optimization_level=0")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=SCRIPTS, env=environment, capture_output=True,
                          text=True, timeout=600)


def cache_hits(result: subprocess.CompletedProcess) -> int:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return int(result.stdout.rsplit("cache hits:", 1)[1])


def step_programs(folder: Path, steps: tuple = ("jit_train_step", "jit_test_step")) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(steps))


def test_a_second_run_loads_the_steps_the_first_compiled(tiny_imdb, tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    folder = tmp_path / "cache" / "attention" / "jax"
    runs = []
    for name in ("first", "second"):
        logdir = tmp_path / name
        # 48 reviews in batches of 20: the last one, of 8, filled up to 20 as on a GPU.
        result = run_jax(COMMAND, "train_imdb.py", "--data", str(tiny_imdb), "--logdir", str(logdir), *SMALL, "--batch-size", "20",
                         env=env)
        runs.append((cache_hits(result), json.loads((only_run(logdir) / "run.json").read_text())))
        if name == "first":
            steps = step_programs(folder)
    (first_hits, first), (second_hits, second) = runs
    # Training and evaluation, one batch shape each.
    assert len([s for s in steps if s.startswith("jit_train_step")]) == 1, steps
    assert len([s for s in steps if s.startswith("jit_test_step")]) == 1, steps
    assert first_hits == 0
    assert second_hits >= len(steps)
    assert step_programs(folder) == steps
    # The loaded programs compute what the compiled ones did.
    assert second["results"]["val_accuracy"] == first["results"]["val_accuracy"]
    assert second["results"]["loss"] == first["results"]["loss"]
    # attention.predict keeps its programs too.
    model = only_run(tmp_path / "first") / "model.keras"
    predicted = run_jax(COMMAND, "attention.predict", "--model", str(model), "A fine film.", env=env)
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert step_programs(folder, ("jit_predict_step",))


def test_the_folder_is_jax_compilation_cache_dir_where_set(tmp_path):
    mine = tmp_path / "mine"
    chosen = run_jax(CHOICE, env={"JAX_COMPILATION_CACHE_DIR": str(mine)})
    threshold = run_jax(CHOICE, env={"JAX_COMPILATION_CACHE_DIR": str(mine),
                                     "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "2.5"})
    off = run_jax(CHOICE, env={"JAX_COMPILATION_CACHE_DIR": ""})
    # Unset, on this CPU: no cache, and nothing written to the default folder.
    cpu = run_jax(CHOICE, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    result = {}
    for name, run in {"chosen": chosen, "threshold": threshold, "off": off, "cpu": cpu}.items():
        assert run.returncode == 0, run.stderr[-3000:]
        result[name] = json.loads(run.stdout.splitlines()[-1])
    assert result["chosen"] == [str(mine), str(mine), JAX_CACHE_MIN_COMPILE_SECONDS]
    assert result["threshold"] == [str(mine), str(mine), 2.5]
    assert result["off"][0] is None
    assert result["cpu"] == [None, None, 1.0]  # JAX's own threshold, untouched
    assert not (tmp_path / "cache").exists()


def test_other_backends_have_no_cache_to_set():
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "jax":
        pytest.skip("the JAX backend has one")
    assert cache_compiled_programs() is None

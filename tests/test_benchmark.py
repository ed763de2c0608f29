"""scripts/benchmark.py and its harness: the batches it times and a tiny end-to-end run."""

import ast
import importlib
import importlib.util
import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from attention.defaults import SEQUENCE_LENGTH  # noqa: E402
from benchmarks import harness  # noqa: E402
from script_runs import fails, load_benchmark, load_script, run_until_parsed  # noqa: E402


def test_synthetic_lengths_follow_imdb():
    x, y, source = harness.load_padded(REPO / "no-such-file", seed=0)
    lengths = np.count_nonzero(x, axis=1)
    assert source.startswith("synthetic")
    assert x.shape == (25000, SEQUENCE_LENGTH) and set(np.unique(y)) == {0.0, 1.0}
    assert 160 <= np.median(lengths) <= 185
    assert 0.2 <= np.mean(lengths >= SEQUENCE_LENGTH - 1) <= 0.4
    assert np.all(x[:, 0] == 1)  # the start token, as the loader's reviews begin


def test_bucketed_batches_are_trimmed_and_span_the_widths():
    x, y, _ = harness.load_padded(None, seed=1)
    batches = harness.bucketed_batches(x, y, 64, warmup=2, steps=6, rng=np.random.default_rng(1))
    assert len(batches) == 8
    widths = []
    for bx, by in batches:
        assert bx.shape[0] == len(by) == 64
        assert np.count_nonzero(bx, axis=1).max() == bx.shape[1]
        widths.append(bx.shape[1])
    timed = sorted(widths[2:])
    assert timed[0] < timed[-1]  # quantiles of the epoch's widths, not one width


def test_every_timed_shape_is_warmed_up_first():
    batches = [(np.zeros((4, w)), np.zeros(4)) for w in (64, 64, 128, 64, 250, 128, 250)]
    warmed, warmup = harness.warm_every_shape(batches, 2)
    assert warmup == 4 and len(warmed) == 9 and all(a is b for a, b in zip(warmed[4:], batches[2:]))
    assert [bx.shape[1] for bx, _ in warmed[:warmup]] == [128, 250, 64, 64]
    assert harness.warm_every_shape(batches[:2], 2)[1] == 2


def synthetic_script(monkeypatch, tmp_path):
    """scripts/benchmark.py as a module, its default data missing: synthetic lengths, as without --data on a
    machine without the archive (an explicit --data that is missing is an error)."""
    script = load_script("benchmark", "benchmark_script")
    monkeypatch.setattr(script, "DEFAULT_DATA", tmp_path / "missing.tar.gz")
    return script


def test_benchmark_script_writes_the_table(tmp_path, monkeypatch):
    output = tmp_path / "results.json"
    argv = ["--steps", "2", "--warmup", "1", "--batch-size", "4", "--parts", "full/train", "bucketed/predict",
            "full/stream", "--output", str(output)]
    with_reference = importlib.util.find_spec("tf_keras") is not None
    if not with_reference:
        argv.append("--no-reference")
    script = synthetic_script(monkeypatch, tmp_path)
    ceiling = {"config": {}, "parts": {}, "gflops": 100.0, "peak_rss_mib": 1.0, "wall_s": 1.0}
    monkeypatch.setattr(script.harness, "run_worker", lambda *args: ceiling)  # the matmul ceiling's: not checked here
    script.main(argv)
    results = json.loads(output.read_text())
    assert results["complete"] and results["meta"]["data"].startswith("synthetic") and results["meta"]["steps"] == 2
    # The mean width of the timed bucketed batches, not of an epoch: named for what it is.
    assert results["meta"]["bucketed_timed_mean_width"] > 0 and "bucketed_epoch_mean_width" not in results["meta"]
    port = results["results"][0]
    assert port["config"]["side"] == "port" and port["config"]["in_force"]["gru_class"] == "ConcatGRU"
    assert port["config"]["in_force"]["without_effect"] == []
    assert set(port["parts"]) == {"full/train", "bucketed/predict", "full/stream"}
    assert all(part["samples_per_s"] > 0 and part["steps"] == 2 for part in port["parts"].values())
    assert port["parts"]["full/stream"]["seconds"] > 0
    assert "(a) train, identical full-length (250) batches" in results["table"]
    assert "(a) predict streamed (read back once), full-length" in results["table"]
    assert "(b) predict streamed" not in results["table"]  # a row only for a part that was timed
    assert harness.ESTIMATORS in results["table"]  # which estimator each row's samples/s is
    if with_reference:
        reference = results["results"][1]
        # The full-length part each port part is compared with, bucketed/predict's full/predict included.
        assert reference["config"]["side"] == "reference"
        assert set(reference["parts"]) == {"full/train", "full/predict", "full/stream"}
        assert "x**" in results["table"]  # a ratio was computed
        row = next(line for line in results["table"].splitlines() if line.startswith("| (b) predict, default"))
        assert row.endswith("x** |")  # against the reference's full/predict, which it timed


def test_a_failing_configuration_leaves_the_others_their_run(tmp_path, monkeypatch):
    script = load_script("benchmark", "benchmark_script")
    written = []

    def worker(config, batches, parts, warmup, workdir):
        if config["label"] == "port:stacked":
            raise RuntimeError("worker port:stacked failed:\nCUDA error: operation not permitted")
        if config["side"] == "ceiling":
            return {"config": config, "parts": {}, "gflops": 100.0, "peak_rss_mib": 1.0, "wall_s": 1.0}
        written.append(json.loads(output.read_text()) if output.exists() else None)
        steps = {"samples_per_s": 10.0, "step_s": [0.1], "steps": 1}
        return {"config": config, "parts": {part: dict(steps) for part in parts}, "peak_rss_mib": 1.0, "wall_s": 1.0}

    monkeypatch.setattr(script.harness.workers, "run_worker", worker)
    monkeypatch.setattr(script.harness, "run_worker", worker)  # the matmul ceiling's
    monkeypatch.setattr(script, "DEFAULT_DATA", tmp_path / "missing")  # synthetic lengths
    output = tmp_path / "results.json"
    with pytest.raises(SystemExit) as exit_:
        script.main(["--steps", "1", "--warmup", "1", "--batch-size", "4",
                     "--parts", "full/train", "--no-reference", "--port", "stacked", "--port", "default",
                     "--port", "per_direction", "--output", str(output)])
    assert exit_.value.code == 1
    results = json.loads(output.read_text())
    assert [r["config"]["label"] for r in results["results"]] == ["port:default", "port:per_direction"]
    assert results["failed"] == [{"label": "port:stacked", "error": "worker port:stacked failed:\n"
                                                                     "CUDA error: operation not permitted"}]
    assert "| port:default |" not in results["table"] and "10.0" in results["table"]
    # After each configuration, what was measured so far is on disk.
    assert written[0] is None and [r["config"]["label"] for r in written[1]["results"]] == ["port:default"]
    assert written[1]["complete"] is False and results["complete"] is True  # what a stopped run leaves says so


def _run_command_line(command, argv, monkeypatch):
    """Runs a benchmark command line on `argv`, in this process."""
    if command == "benchmark":
        load_script("benchmark", "benchmark_script").main(argv)
    elif command == "tf1_reference":
        load_benchmark("tf1_reference").main(argv)
    else:  # these read sys.argv
        monkeypatch.setattr(sys, "argv", [f"{command}.py", *argv])
        runpy.run_path(str(REPO / "benchmarks" / f"{command}.py"), run_name="__main__")


@pytest.mark.parametrize("command, argv, message", [
    ("benchmark", ["--steps", "0"], "argument --steps: expected a positive integer, got 0"),
    ("benchmark", ["--warmup", "-1"], "argument --warmup: expected an integer of 0 or more, got -1"),
    ("benchmark", ["--batch-size", "0"], "argument --batch-size: expected a positive integer, got 0"),
    ("benchmark", ["--rounds", "0"], "argument --rounds: expected a positive integer, got 0"),
    ("benchmark", ["--seed", "-1"], "argument --seed: expected a seed from 0 to 4294967295, got -1"),
    ("tf1_reference", ["--data", "x", "--epochs", "0"], "argument --epochs: expected a positive integer, got 0"),
    ("tf1_reference", ["--data", "x", "--max-samples", "-5"], "argument --max-samples: expected a positive integer"),
    ("tf1_reference", ["--data", "x", "--seed", "4294967296"], "argument --seed: expected a seed from 0"),
    ("fit_batches", ["--data", "x", "--batches", "0"], "argument --batches: expected a positive integer, got 0"),
    ("text_loading", ["--data", "x", "--reviews", "-1"], "argument --reviews: expected a positive integer, got -1"),
    ("benchmark", ["--port", "default", "--port", "warp"], "argument --port: Unknown port variant token 'warp' in 'warp'"),
    ("benchmark", ["--reference", "block"], "argument --reference: Unknown reference variant token 'block'"),
    ("benchmark", ["--torch", "stacked"], "argument --torch: Unknown torch variant token 'stacked'"),
])
def test_benchmark_command_lines_refuse_bad_arguments_before_any_work(command, argv, message, capsys, monkeypatch):
    # Before, --steps -1 "ran" and wrote a table, and --batch-size 0, --rounds 0 or an unknown
    # variant ended in a traceback.
    with pytest.raises(SystemExit) as exit_:
        _run_command_line(command, argv, monkeypatch)
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in error


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="Unknown port variant token 'warp'"):
        harness.parse_variant("warp", "port")
    with pytest.raises(ValueError, match="Unknown port variant token 'unrollx'"):
        harness.parse_variant("unrollx", "port")


def test_gpu_loop_variants_parse():
    config = harness.parse_variant("reset_after+graphed", "port")
    assert config["loop"] == "graphed" and config["reset_after"]
    assert harness.parse_variant("unroll8", "port")["unroll"] == 8
    assert harness.parse_variant("autograd+stacked", "port")["autograd"]
    assert harness.parse_variant("compiled+graphed", "port")["compiled"]
    assert harness.parse_variant("tf32+compiled", "port")["tf32"]
    assert harness.parse_variant("tf32+fused", "port")["fused"]
    assert harness.parse_variant("width64+unroll2", "port")["width_step"] == 64
    with pytest.raises(ValueError, match="'width0'"):
        harness.parse_variant("width0", "port")


def test_widen_pads_to_multiples_of_the_step():
    x = np.arange(1, 4 * 70 + 1).reshape(4, 70)
    wide, _ = harness.widen(x, np.zeros(4), 64)
    assert wide.shape == (4, 128) and (wide[:, :70] == x).all() and not wide[:, 70:].any()
    assert harness.widen(np.ones((2, 240)), np.zeros(2), 64)[0].shape == (2, SEQUENCE_LENGTH)  # never past it
    assert harness.parse_variant("default", "port")["loop"] == "auto"


def test_flops_per_sample_at_full_length():
    # The GRU's two matmuls a step in both directions and the attention: about 0.12 GFLOP
    # forward per review at 250 steps, and three times that to train.
    assert harness.flops_per_sample(250, training=False) == pytest.approx(0.12e9, rel=0.01)
    assert harness.flops_per_sample(250, training=True) == 3 * harness.flops_per_sample(250, training=False)
    assert harness.flops_per_sample(125) == pytest.approx(harness.flops_per_sample(250) / 2)


def test_torch_variants_parse_and_reject_tensorflow_tokens():
    config = harness.parse_variant("packed+intra1+inter2", "torch")
    assert (config["packed"], config["intra"], config["inter"]) == (True, 1, 2)
    assert config["model"]["HIDDEN_SIZE"] == 150
    with pytest.raises(ValueError, match="torch variant"):
        harness.parse_variant("xla", "torch")


def test_the_torch_worker_does_not_load_tensorflow():
    # PyTorch and TensorFlow in one process can crash (a segfault loading triton after
    # TensorFlow): the harness and the PyTorch rewrite must not import TensorFlow.
    code = ("import sys, importlib.util; import benchmarks.harness; "
            "importlib.util.find_spec('torch') and __import__('benchmarks.torch_reference'); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed (the bench extra)")
@pytest.mark.parametrize("packed", [False, True])
def test_torch_rewrite_trains_and_predicts(packed):
    from benchmarks.torch_reference import TorchReference

    constants = dict(NUM_WORDS=50, EMBEDDING_DIM=8, HIDDEN_SIZE=6, ATTENTION_SIZE=4, KEEP_PROB=0.8, LEARNING_RATE=1e-2)
    ref = TorchReference(constants, seed=0, packed=packed)
    x = np.array([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0], [4, 4, 4, 4, 0]], "int32")
    y = np.array([1.0, 0.0, 1.0], "float32")
    lengths = ref.sequence_lengths(x)
    np.testing.assert_array_equal(lengths, [4, 3, 5])  # the first padding 0 counts, as the original's
    losses = [ref.train_step(x, y, lengths) for _ in range(20)]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert ref.predict(x, lengths).shape == (3,)
    streamed = ref.predict_many([(x, lengths), (x[:2], lengths[:2])])
    np.testing.assert_allclose(streamed, np.concatenate([ref.predict(x, lengths), ref.predict(x[:2], lengths[:2])]),
                               rtol=1e-6)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux: ru_maxrss outlives exec there")
def test_a_worker_reports_its_own_peak_memory_not_its_parents():
    ballast = np.ones(2**26)  # 512 MiB in this process, the parent
    code = "from benchmarks.harness import peak_rss_mib; print(peak_rss_mib())"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert 10 < float(out.stdout) < ballast.nbytes / 2**20 / 2  # an interpreter and NumPy, not the parent's peak


def test_streamed_rate_is_all_samples_over_the_whole_time():
    batches = [(np.zeros((4, w)), np.zeros(4)) for w in (10, 20, 30)]
    summary = harness.summarize_stream(0.5, batches)
    assert summary["samples_per_s"] == 24.0 and summary["steps"] == 3 and summary["mean_width"] == 20.0


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed (the torch extra)")
def test_torch_profile_splits_each_batch_by_operator(tmp_path):
    output = tmp_path / "profile.json"
    command = [sys.executable, str(REPO / "benchmarks" / "profile_torch.py"), "--batch-size", "4", "--steps", "2",
               "--warmup", "1", "--top", "1000", "--sequence-length", "24", "--output", str(output)]
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "KERAS_BACKEND": "torch", "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(output.read_text())
    assert results["sequence_length"] == 24 and "batch 4 x 24 steps" in proc.stdout
    bmm = {}
    for mode in ("train", "predict"):
        # Every operator is listed (--top above their number): which of them took longest is
        # the machine's business, what was called how often is not.
        top = results[mode]["top"]
        assert results[mode]["seconds_per_batch"] > 0 and 3 < len(top) < 1000
        times = [op["self_ms_per_batch"] for op in top]
        assert times == sorted(times, reverse=True)
        bmm[mode] = next(op["calls_per_batch"] for op in top if op["op"] == "aten::bmm")  # the stacked loop's matmuls
    assert bmm["predict"] >= 2 * 24 and bmm["train"] > bmm["predict"]  # two a step (gates, candidate); more with gradients
    refused = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                             env={**os.environ, "KERAS_BACKEND": "jax"})
    assert refused.returncode != 0 and "profiles the PyTorch backend" in refused.stderr


def test_benchmark_runs_go_to_an_ignored_folder():
    script = load_script("benchmark", "benchmark_script")
    assert script.parser.parse_args([]).output is None
    probe = script.RUNS / "benchmark-20260101-000000.json"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(probe.relative_to(REPO))], cwd=REPO)
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert ignored.returncode == 0  # git ignores it: a run never overwrites a committed result


def test_gpu_memory_is_reported_where_measured():
    def result(label, gpu_mib):
        steps = {"samples_per_s": 10.0, "step_s": [0.1], "steps": 1}
        return {"config": {"label": label}, "parts": {"full/train": dict(steps)}, "peak_rss_mib": 100.0,
                "peak_gpu_mib": gpu_mib, "wall_s": 1.0}

    assert "GPU" not in harness.variants_table([result("port:a", None), result("torch:default", None)])
    rows = harness.variants_table([result("port:a", 2048.4), result("torch:default", None)]).splitlines()
    assert rows[0].endswith("| peak RSS MiB | peak GPU MiB | wall s |") and rows[1].count("---:") == 7
    assert rows[2].endswith("| 100 | 2048 | 1 |") and rows[3].endswith("| 100 | - | 1 |")
    rounds = [result("port:a", 900.0), result("port:a", 1200.0)]
    assert harness.merge_rounds(rounds)["peak_gpu_mib"] == 1200.0
    assert harness.merge_rounds([result("port:a", None)])["peak_gpu_mib"] is None


def test_heap_token_keeps_freed_blocks_for_reuse():
    # A freed 64 MB block, mapped afresh by default, is reused: its pages are not faulted in again.
    assert harness.parse_variant("heap+stacked_hoisted", "port")["heap"]
    code = ("import resource, sys, numpy as np\n"
            "from benchmarks.harness import workers\n"
            "if sys.argv[1] == 'heap':\n"
            "    assert workers.reuse_freed_memory()\n"
            "faults = []\n"
            "for _ in range(3):\n"
            "    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "    np.ones(2**24, 'float32')\n"
            "    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
            "print(max(faults[1:]))\n")
    faults = {}
    for mode in ("heap", "default"):
        proc = subprocess.run([sys.executable, "-c", code, mode], cwd=REPO, capture_output=True, text=True, check=True)
        faults[mode] = int(proc.stdout)
    if sys.platform.startswith("linux") and faults["default"] > 16:  # glibc maps the block afresh each time
        assert faults["heap"] <= 8, faults


# benchmarks/gpu.sh's parts in the order it runs them.
GPU_PARTS = ["fused_kernels", "throughput_torch", "throughput_torch_candidates", "throughput_jax", "throughput_jax_graphs",
             "predict_stream", "profile_torch", "train_jax", "train_jax_again", "train_jax_unroll1", "train_jax_unroll4",
             "train_jax_ragged", "train_torch_fused", "train_torch"]
GPU_DEFAULT_RUN = ["throughput_torch", "throughput_jax", "train_jax", "train_torch"]


def gpu_script_commands(tmp_path: Path, parts: list[str], budget: int | None = None, failing: str | None = None,
                        status: int = 0) -> tuple[list[str], list, list[int]]:
    """Runs benchmarks/gpu.sh with `python3` a stand-in that records each command line instead of
    running it (and exits 2 for one that holds `failing`), and `timeout` one that records each limit:
    (the lines of its steps.txt, each command's arguments and KERAS_BACKEND, each part's limit in
    seconds). The script must exit with `status`."""
    bin_dir, log, limits, out = tmp_path / "bin", tmp_path / "commands.jsonl", tmp_path / "limits.txt", tmp_path / "out"
    bin_dir.mkdir(exist_ok=True)
    for path in (log, limits, out / "steps.txt"):
        path.unlink(missing_ok=True)
    python3 = bin_dir / "python3"
    python3.write_text(f"#!{sys.executable} -S\nimport json, os, sys\nwith open({str(log)!r}, 'a') as log:\n"
                       "    log.write(json.dumps([sys.argv[1:], os.environ.get('KERAS_BACKEND')]) + '\\n')\n"
                       f"sys.exit(2 if {failing!r} and {failing!r} in ' '.join(sys.argv) else 0)\n")
    timeout = bin_dir / "timeout"
    timeout.write_text(f"#!{sys.executable} -S\nimport os, sys\nwith open({str(limits)!r}, 'a') as log:\n"
                       "    log.write(sys.argv[1] + '\\n')\nos.execvp(sys.argv[2], sys.argv[2:])\n")
    for stand_in in (python3, timeout):
        stand_in.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "OUT": str(out)}
    if budget is not None:
        env["BUDGET"] = str(budget)
    run = subprocess.run(["bash", "benchmarks/gpu.sh", *parts], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == status, run.stderr[-3000:]
    read = lambda path: path.read_text().splitlines() if path.exists() else []  # noqa: E731
    return (read(out / "steps.txt"), [tuple(json.loads(line)) for line in read(log)],
            [int(line) for line in read(limits)])


def parts_run(steps: list[str]) -> list[str]:
    """The parts that steps.txt says ran, each of which must have ended well."""
    assert all(re.fullmatch(r"\w+: exit 0 in \d+ s", line) for line in steps), steps
    return [line.split(":")[0] for line in steps]


def test_gpu_script_runs_its_parts_with_arguments_their_commands_accept(tmp_path, monkeypatch, capsys):
    # A GPU is lent rarely and briefly: a wrong option, variant or setting in gpu.sh would cost one.
    assert parts_run(gpu_script_commands(tmp_path, [])[0]) == GPU_DEFAULT_RUN
    steps, commands, limits = gpu_script_commands(tmp_path, GPU_PARTS[::-1])
    assert parts_run(steps) == GPU_PARTS and len(limits) == len(GPU_PARTS) and max(limits) <= 570
    checked = 0
    for argv, backend in commands:
        target, args = argv[0], argv[1:]
        if target == "-c":
            code, args = args[0], args[1:]
            script = re.search(r"sys\.argv\[0\] = '([^']+)'", code)
            if script is None:  # the lines that record the versions
                continue
            target = script.group(1)
            # Each setting the run changes first is one the package has (a misspelt name would be a new one).
            for node in ast.walk(ast.parse(code)):
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Attribute):
                    owner, name = ast.unparse(node.targets[0].value), node.targets[0].attr
                    if owner != "sys":
                        assert hasattr(importlib.import_module(owner), name), f"gpu.sh sets {owner}.{name}, which is not there"
        status = run_until_parsed(target, args, monkeypatch, {"KERAS_BACKEND": backend})
        assert status is None, f"gpu.sh: KERAS_BACKEND={backend} python3 {target} {' '.join(args)}\n{capsys.readouterr().err}"
        checked += 1
    assert checked == len(GPU_PARTS)


def test_gpu_script_keeps_its_parts_within_one_budget(tmp_path):
    # One device call holds every part: a part gets at most what the budget leaves, and one with
    # too little left is skipped, so that the results are still packed before the call ends.
    steps, commands, limits = gpu_script_commands(tmp_path, [], budget=100)
    assert parts_run(steps) == GPU_DEFAULT_RUN and len(limits) == len(GPU_DEFAULT_RUN)
    assert 90 <= max(limits) <= 100  # throughput_torch's own limit is 120 s
    steps, commands, limits = gpu_script_commands(tmp_path, [], budget=5)
    assert [line.split(":")[0] for line in steps] == GPU_DEFAULT_RUN
    assert all(re.fullmatch(r"\w+: skipped with -?\d+ s of the budget left", line) for line in steps), steps
    assert not limits and all(argv[0] == "-c" and "sys.argv[0]" not in argv[1] for argv, _ in commands)


def test_gpu_script_fails_when_a_part_fails(tmp_path):
    # Before, it exited 0 whatever its parts did: a GPU run on a machine without one "passed".
    steps, _, _ = gpu_script_commands(tmp_path, [], failing="throughput_jax.json", status=1)
    assert [line.split(" in ")[0] for line in steps] == ["throughput_torch: exit 0", "throughput_jax: exit 2",
                                                         "train_jax: exit 0", "train_torch: exit 0"]
    assert (tmp_path / "out" / "gpu-results.tgz").exists()  # packed all the same


def fake_workers(monkeypatch, script, interrupt_at: str | None = None) -> list[dict]:
    """Stands in for the benchmark's worker processes: each configuration "runs" at once; returns the
    configurations run, in order. At `interrupt_at`'s label, Ctrl-C."""
    ran = []

    def worker(config, batches, parts, warmup, workdir):
        if config["label"] == interrupt_at:
            raise KeyboardInterrupt
        ran.append(config)
        if config["side"] == "ceiling":
            return {"config": config, "parts": {}, "gflops": 100.0, "peak_rss_mib": 1.0, "wall_s": 1.0}
        steps = {"samples_per_s": 10.0, "step_s": [0.1], "steps": 1}
        return {"config": config, "parts": {part: dict(steps) for part in parts}, "peak_rss_mib": 972.0, "wall_s": 1.0}

    monkeypatch.setattr(script.harness.workers, "run_worker", worker)
    monkeypatch.setattr(script.harness, "run_worker", worker)
    return ran


QUICK = ["--steps", "1", "--warmup", "1", "--batch-size", "4", "--parts", "full/train"]


@pytest.mark.parametrize("argv, message", [
    (["--gpu", "--torch"], "--gpu: no GPU found"),
    (["--gpu", "--reference", "tf2"], "--reference: the TF1 reference runs on the CPU only"),
    (["--no-reference", "--reference", "tf2"], "--reference: cannot go with --no-reference"),
    (["--backend", "tensorflow", "--backend", "jax"], "--backend jax: jax is not installed"),
    (["--data", "{tmp}/missing.tar.gz"], "--data: '{tmp}/missing.tar.gz' does not exist"),
    (["--data", "{tmp}/corrupt.tar.gz"], "is truncated or corrupt"),
    (["--output", "{tmp}"], "--output: '{tmp}' is a folder: name a file"),
    (["--output", "/dev/null/x.json"], "--output: cannot write to '/dev/null'"),
    (["--steps", "95", "--warmup", "3", "--batch-size", "256", "--parts", "bucketed/train"],
     "more than the 97 full batches of 256 that an epoch of 25000 reviews has; at most 97 in all"),
    (["--batch-size", "30000"], "--batch-size 30000 is more than the 25000 reviews"),
])
def test_benchmark_refuses_what_cannot_run_before_measuring(argv, message, tmp_path, monkeypatch, capsys):
    # Before: --gpu without a GPU timed the CPU and labelled it GPU, a backend not installed failed in
    # its worker (38 lines) and printed an empty table, a missing --data turned synthetic, and a
    # corrupt one, an --output that cannot be written or more batches than an epoch has were tracebacks.
    (tmp_path / "corrupt.tar.gz").write_text("not an archive")
    script = synthetic_script(monkeypatch, tmp_path)
    ran = fake_workers(monkeypatch, script)
    monkeypatch.setattr(script.harness, "gpu_name", lambda: None)  # this machine's, whatever it has
    real_installed = script.harness.configs.installed
    monkeypatch.setattr(script.harness.configs, "installed", lambda name: name != "jax" and real_installed(name))
    argv = [a.format(tmp=tmp_path) for a in QUICK + argv]
    if "--output" not in argv:
        argv += ["--output", str(tmp_path / "results.json")]
    fails(script.main, argv, capsys, message.format(tmp=tmp_path))
    assert not ran and not (tmp_path / "results.json").exists()


def test_full_length_parts_may_take_more_batches_than_an_epoch_has(tmp_path, monkeypatch, capsys):
    # Random full-length batches go on into another epoch; only bucketed ones are one epoch's.
    script = synthetic_script(monkeypatch, tmp_path)
    ran = fake_workers(monkeypatch, script)
    output = tmp_path / "results.json"
    script.main(["--steps", "95", "--warmup", "3", "--batch-size", "256", "--parts", "full/predict", "--no-reference",
                 "--output", str(output)])
    assert ran and json.loads(output.read_text())["meta"]["bucketed_timed_mean_width"] is None
    capsys.readouterr()


def test_benchmark_interrupted_says_so_in_one_line_and_marks_its_results(tmp_path, monkeypatch, capsys):
    script = synthetic_script(monkeypatch, tmp_path)
    fake_workers(monkeypatch, script, interrupt_at="port:stacked")
    output = tmp_path / "results.json"
    with pytest.raises(SystemExit) as exit_:
        script.main(QUICK + ["--no-reference", "--port", "default", "--port", "stacked", "--output", str(output)])
    assert exit_.value.code == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith(": error: interrupted\n")  # one line, no traceback
    results = json.loads(output.read_text())  # what was measured before, marked as incomplete
    assert results["complete"] is False and [r["config"]["label"] for r in results["results"]] == ["port:default"]


def test_repeated_configurations_run_once(tmp_path, monkeypatch, capsys):
    script = synthetic_script(monkeypatch, tmp_path)
    ran = fake_workers(monkeypatch, script)
    output = tmp_path / "results.json"
    script.main(QUICK + ["--backend", "tensorflow", "--backend", "tensorflow", "--port", "stacked+xla",
                         "--port", "xla+stacked", "--reference", "default", "--reference", "default",
                         "--output", str(output)])
    labels = [config["label"] for config in ran]
    assert labels.count("port:stacked+xla") == 1 and "port:xla+stacked" not in labels  # the same settings
    assert labels.count("reference:default") <= 1
    results = json.loads(output.read_text())
    assert list(results["tables"]) == ["port:stacked+xla"] and len(results["results"]) == len(labels) - 1
    assert "left out as repeats: port:xla+stacked, port:stacked+xla" in capsys.readouterr().out


def test_unique_keeps_the_first_of_each_configuration():
    a, b = harness.parse_variant("stacked+xla", "port"), harness.parse_variant("xla+stacked", "port")
    c = harness.parse_variant("stacked", "port")
    kept, dropped = harness.unique([a, c, b, dict(a)])
    assert kept == [a, c] and dropped == ["port:xla+stacked", "port:stacked+xla"]


def test_references_time_the_full_length_part_each_port_part_is_compared_with():
    # Before, --parts bucketed/predict timed nothing for the reference and printed a ratio row against it.
    assert harness.side_parts("port", ["bucketed/predict", "full/train"]) == ["bucketed/predict", "full/train"]
    for side in ("reference", "torch"):
        assert harness.side_parts(side, ["bucketed/predict"]) == ["full/predict"]
        assert harness.side_parts(side, ["full/train", "bucketed/train", "bucketed/stream"]) == ["full/train",
                                                                                               "full/stream"]


def test_headline_table_formats_both_sides_alike_and_names_its_estimators():
    def result(side, part, rss):
        return {"config": {"label": f"{side}:default", "side": side}, "peak_rss_mib": rss,
                "parts": {part: {"samples_per_s": 100.0, "step_s": [0.1], "steps": 1}}}

    lines = harness.table(result("port", "bucketed/predict", 955.4), result("reference", "full/predict", 972.0))
    assert "| peak RSS (MiB) | 955 | 972 | 0.98x |" in lines  # before: 955 against 972.0
    assert "| (b) predict, default pipelines | 100.0 | 100.0 | **1.00x** |" in lines
    assert lines.endswith(harness.ESTIMATORS) and "median step time" in harness.ESTIMATORS
    assert "its ratio to" not in harness.variants_table.__doc__  # it has no ratio column


def in_force(**force):
    return {"backend": "tensorflow", "loop": "per_direction", "torch_loop": False, "compiled": False, "fused": False,
            "autograd": False, "device": None, **force}


@pytest.mark.parametrize("variant, force, bucketed, expected", [
    ("default", {}, True, []),
    ("unroll0+stacked", {"loop": "stacked"}, False, ["unroll0 (0 leaves the scan as it is)"]),
    ("unroll4", {}, False, ["unroll4 (no scan: the per_direction loop ran)"]),
    ("unroll4+stacked", {"loop": "stacked", "backend": "jax"}, False, []),
    ("tf32+autograd+width32", {}, True, ["width32 (JAX's bucketed batches only)", "tf32 (PyTorch on a CUDA GPU only)",
                                         "autograd (no hand-written gradient to replace here: the per_direction loop ran)"]),
    ("width32", {"backend": "jax"}, False, ["width32 (JAX's bucketed batches only)"]),
    ("width32", {"backend": "jax"}, True, []),
    ("cudnn", {"loop": "stacked_hoisted"}, False, ["cudnn (the stacked_hoisted loop ran)"]),
    ("graphed", {"loop": "stacked_hoisted", "backend": "torch", "torch_loop": True}, False,
     ["graphed (the stacked_hoisted loop ran)"]),
    ("fused", {"loop": "stacked", "backend": "torch", "device": "cpu"}, False,
     ["fused (Triton's kernels need PyTorch on a CUDA GPU and a stacked loop: the stacked loop ran)"]),
    ("tf32+fused", {"loop": "graphed", "backend": "torch", "device": "cuda:0", "fused": True}, False, []),
    ("autograd+stacked_hoisted", {"loop": "stacked_hoisted", "backend": "torch", "autograd": True}, False, []),
])
def test_variant_tokens_without_effect_are_named(variant, force, bucketed, expected):
    # Before, the console showed the token's label whatever ran: tf32 or unroll4 on TensorFlow, a
    # cudnn loop that fell back to another, fused on a CPU.
    job = {**harness.parse_variant(variant, "port"), "in_force": in_force(**force)}
    assert harness.without_effect(job, bucketed) == expected


def test_variant_tokens_without_effect_are_printed(tmp_path, monkeypatch, capsys):
    def worker(config, batches, parts, warmup, workdir):
        force = {**in_force(), "without_effect": ["tf32 (PyTorch on a CUDA GPU only)"]}
        return {"config": {**config, "in_force": force}, "parts": {}, "peak_rss_mib": 1.0, "wall_s": 1.0}

    monkeypatch.setattr(harness.workers, "run_worker", worker)
    harness.run_all([harness.parse_variant("tf32", "port")], tmp_path, [], 0, 1, tmp_path, save=lambda results: None)
    assert "  without effect here: tf32 (PyTorch on a CUDA GPU only)" in capsys.readouterr().out.splitlines()


def test_help_says_how_each_backend_is_timed():
    description = load_script("benchmark", "benchmark_script").parser.description
    assert "train_on_batch" in description and "model.fit" in description and "--batch-size" in description
    assert "synthetic" == harness.load_padded(None)[2]  # profile_torch.py without --data: not "None not found"


def test_tf1_reference_refuses_bad_input_in_one_line(tmp_path, capsys):
    main = load_benchmark("tf1_reference").main
    fails(main, ["--data", tmp_path / "missing.tar.gz", "--no-summaries"], capsys, "--data: ")
    # Before: a ZeroDivisionError once the data was read (fewer reviews than a batch).
    fails(main, ["--data", tmp_path, "--max-samples", "100", "--epochs", "1", "--no-summaries"], capsys,
          "--max-samples 100 is less than one batch of 256")
    (tmp_path / "corrupt.tar.gz").write_text("not an archive")
    fails(main, ["--data", tmp_path / "corrupt.tar.gz", "--v2-behavior"], capsys, "is truncated or corrupt")


def test_tf1_reference_interrupted_in_one_line(tmp_path, monkeypatch, capsys):
    module = load_benchmark("tf1_reference")

    def interrupted(parser, args):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "load", interrupted)
    with pytest.raises(SystemExit) as exit_:
        module.main(["--data", str(tmp_path), "--v2-behavior"])
    err = capsys.readouterr().err
    assert exit_.value.code == 130 and err.count("\n") == 1 and err.endswith(": error: interrupted\n")


def test_fit_batches_times_fit_and_train_on_batch_on_the_very_same_batches():
    # Before, each timing read the reshuffling dataset afresh: other batches, and a width of neither.
    fit_batches = load_benchmark("fit_batches")

    class Reshuffling:  # as make_dataset(..., seed=0): another order at each pass
        passes = 0

        def take(self, count):
            Reshuffling.passes += 1
            return [(np.full((2, width), Reshuffling.passes), np.zeros(2)) for width in range(1, count + 1)]

    class Recording:
        def __init__(self):
            self.fitted, self.stepped = [], []

        def fit(self, data, **kwargs):
            self.fitted += [data[i][0] for i in range(len(data))]

        def train_on_batch(self, x, y):
            self.stepped.append(x)

    batches = fit_batches.taken(Reshuffling(), 3)
    model = Recording()
    fit_batches.fit_and_batch_seconds(model, batches)
    assert len(model.fitted) == 3 and all(a is b for a, b in zip(model.fitted, model.stepped))
    assert [x is b[0] for x, b in zip(model.stepped, batches)] == [True] * 3


def test_text_loading_draws_every_class_and_reports_a_child_error_in_one_line(tmp_path, monkeypatch, capsys):
    text_loading = load_benchmark("text_loading")
    labels = ["1-2"] * 6 + ["3-4"] * 3 + ["7-8"] * 3
    # Before, --reviews 2000 took the first 2000 reviews: all of one class, which the loader refuses.
    assert {labels[i] for i in text_loading.drawn(labels, 3)} == {"1-2", "3-4", "7-8"}
    assert text_loading.drawn(labels, 12) == list(range(12))  # all of them: in their order, as before
    assert sorted(text_loading.drawn(labels, 24)) == sorted(list(range(12)) * 2)
    fails(text_loading.main, ["--data", tmp_path / "missing.tar.gz"], capsys, "--data: ")
    monkeypatch.setattr(text_loading, "measure", lambda data, reviews: text_loading.child("csv", tmp_path, tmp_path))
    monkeypatch.setattr(text_loading, "CHILD", "import sys; print('Traceback ...', file=sys.stderr); "
                                               "sys.exit('DatasetError: only the class 1-2')")
    with pytest.raises(SystemExit) as exit_:
        text_loading.main(["--data", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and err.count("\n") == 1
    assert ": error: reading" in err and err.strip().endswith("DatasetError: only the class 1-2")


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed (the torch extra)")
def test_fused_kernels_need_a_gpu_said_in_one_line(monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")  # the script sets it where unset; this process has it
    with pytest.raises(SystemExit) as exit_:
        _run_command_line("fused_kernels", ["--steps", "4"], monkeypatch)
    out, err = capsys.readouterr()
    assert exit_.value.code == 2 and not out  # before: a 52-line Triton traceback after the table's head
    assert err.strip() == "fused_kernels.py: error: needs a CUDA GPU (Triton's kernels run on one only), and PyTorch finds none"

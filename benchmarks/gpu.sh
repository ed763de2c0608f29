#!/usr/bin/env bash
# The GPU measurements of BENCHMARKS.md in one go, on a machine with JAX and PyTorch (CUDA) and no
# TensorFlow. From the project root, with Keras's wheels in .whl/ and the data in gpu/imdb.npz
# (../shared/GPU.md; `attention.imdb.export_npz(ARCHIVE, "gpu/imdb.npz")`):
#
#     OUT=/some/folder bash benchmarks/gpu.sh    # about 4 minutes
#
# or some of its parts: throughput_torch, throughput_jax, train_jax, train_torch (the default run,
# the package as committed, in that order), or, not in the default run: predict_stream,
# profile_torch, train_jax_again, and the candidates that BENCHMARKS.md reports as measured and
# not kept: fused_kernels (the PyTorch loop as Triton kernels, benchmarks/torch_fused/, both GRU
# maths, checked against the loops it replaces and timed), throughput_torch_candidates (the
# model with those kernels, with the loop's steps compiled, with TensorFloat-32),
# train_torch_fused, throughput_jax_graphs (XLA command buffers), train_jax_unroll1,
# train_jax_unroll4 and train_jax_ragged. The train_jax_unrollN parts
# run the JAX 3-epoch run again with another attention.bidirectional.JAX_GPU_UNROLL: an unrolled
# scan runs faster but compiles slower, and the training and validation of a 3-epoch run compile
# two programs (four with train_jax_ragged). Each part has its own time limit, so one that hangs
# leaves the others their time, and the benchmark writes what it has after each configuration;
# results (JSON, logs, run folders) go to $OUT/gpu-results.tgz. All the parts share BUDGET seconds
# (default 570, from the script's start): a part gets the lesser of its own limit and what is left,
# and a part with less than 10 s left is skipped, so that the results are packed before a 600 s
# device call ends. STEPS=2 WARMUP=1 MAX_SAMPLES=512 make a quick trial run. The script exits 1 when a
# part failed (on a machine without a GPU the throughput parts do: scripts/benchmark.py --gpu refuses to
# run on the CPU), after packing the results; its steps.txt line and log say which and why.
set -u
OUT=${OUT:-benchmarks/runs/gpu}
BUDGET=${BUDGET:-570}
export PYTHONUNBUFFERED=1  # a part stopped at its limit keeps the lines it printed in its log
STEPS=${STEPS:-10}
WARMUP=${WARMUP:-3}
DATA=${DATA:-gpu/imdb.npz}
mkdir -p "$OUT"
if ! KERAS_BACKEND=jax python3 -c "import keras" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then  # Keras travels as wheels
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}  # the package, uninstalled
(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true) > "$OUT/gpu.txt" 2>&1
KERAS_BACKEND=jax python3 -c "import keras, jax, torch; print('keras', keras.__version__, 'jax', jax.__version__, 'torch', torch.__version__)" \
  >> "$OUT/gpu.txt" 2>&1
python3 -c "import triton; print('triton', triton.__version__)" >> "$OUT/gpu.txt" 2>&1  # torch.compile's GPU code

step() {  # step NAME SECONDS COMMAND...: runs COMMAND, its output to $OUT/NAME.log, within what BUDGET leaves
  local name=$1 seconds=$2
  shift 2
  local start=$SECONDS left=$((BUDGET - SECONDS))
  if ((left < 10)); then
    echo "$name: skipped with $left s of the budget left" | tee -a "$OUT/steps.txt"
    return
  fi
  ((seconds > left)) && seconds=$left
  timeout "$seconds" "$@" > "$OUT/$name.log" 2>&1
  local status=$?
  echo "$name: exit $status in $((SECONDS - start)) s" | tee -a "$OUT/steps.txt"
  ((status == 0)) || failed=1
}
failed=0

parts=${*:-throughput_torch throughput_jax train_jax train_torch}
want() { [[ " $parts " == *" $1 "* ]]; }

# Throughput: the BidirectionalGRU loops worth measuring on each backend, the original math and
# --reset-after, against the PyTorch rewrite (cuDNN, padded batches) in the same run. default is
# what "auto" picks: on PyTorch the hoisted stacked loop replayed as CUDA graphs ("graphed"; cuDNN
# for reset_after), on JAX the hoisted stacked loop with its scan unrolled (JAX_GPU_UNROLL).
# The candidates: fused is PyTorch's loop as two Triton kernels, one launch each for all steps
# (benchmarks/torch_fused/), compiled the loop with each step compiled by torch.compile
# (benchmarks/torch_compiled.py), tf32 its float32 matmuls in TensorFloat-32 (TensorFlow's and
# JAX's default on a GPU, not PyTorch's); unrollN sets the scan's unrolling (JAX).
# Settled in earlier runs and left out: autograd (2.5x slower), reset_after+graphed (slower than
# cuDNN), width64 (slower than the full width).
throughput() {  # throughput PART BACKEND SECONDS PORTS...
  local part=$1 backend=$2 seconds=$3
  shift 3
  want "$part" && step "$part" "$seconds" env KERAS_BACKEND=$backend python3 scripts/benchmark.py --data "$DATA" \
    --gpu --backend "$backend" "${@/#/--port=}" --torch --steps "$STEPS" --warmup "$WARMUP" \
    --output "$OUT/$part.json"
}
want fused_kernels && step fused_kernels 180 env KERAS_BACKEND=torch python3 benchmarks/fused_kernels.py \
  --output "$OUT/fused_kernels.json"
throughput throughput_torch torch 120 default reset_after
throughput throughput_torch_candidates torch 300 default fused tf32+fused reset_after+fused compiled tf32 tf32+compiled \
  reset_after
throughput throughput_jax jax 100 default reset_after
# XLA running each scan as CUDA graphs, its while loops as conditional nodes, instead of
# launching the loop's iterations from the host.
XLA_FLAGS="--xla_gpu_enable_command_buffer=+WHILE,+CONDITIONAL" throughput throughput_jax_graphs jax 100 default unroll1 reset_after
# Prediction timed batch by batch (each batch's outputs read back before the next) and streamed
# (one model.predict over 8 x STEPS batches, read back once; the rewrite likewise), both backends.
want predict_stream && step predict_stream 240 env KERAS_BACKEND=jax python3 scripts/benchmark.py --data "$DATA" \
  --gpu --backend jax --backend torch --port=default --port=reset_after --torch --steps $((8 * STEPS)) \
  --warmup "$WARMUP" --parts full/predict full/stream bucketed/predict bucketed/stream --output "$OUT/predict_stream.json"
# Where the PyTorch backend's batches spend their time: device busy against wall, operator by operator.
want profile_torch && step profile_torch 120 env KERAS_BACKEND=torch python3 benchmarks/profile_torch.py --data "$DATA" \
  --steps "$STEPS" --warmup "$WARMUP" --output "$OUT/profile_torch.json"

# The full 3-epoch run of the training script, seed 0. On JAX the script keeps its compiled steps
# (attention.backends.cache_compiled_programs); here in a folder that starts empty in each call,
# so train_jax compiles everything, and train_jax_again, the same run after it, loads it all.
export JAX_COMPILATION_CACHE_DIR=/tmp/gpu-jax-cache
rm -rf "$JAX_COMPILATION_CACHE_DIR"
train() {  # train PART BACKEND SECONDS
  want "$1" && step "$1" "$3" env KERAS_BACKEND=$2 python3 scripts/train_imdb.py --data "$DATA" --seed 0 \
    --logdir "$OUT/logdir_${1#train_}" ${MAX_SAMPLES:+--max-samples "$MAX_SAMPLES"}
}
train train_jax jax 80
train train_jax_again jax 60
train_with() {  # train_with PART BACKEND SETTING: the 3-epoch run with one of the package's settings changed first
  want "$1" && step "$1" 120 env KERAS_BACKEND=$2 python3 -c "
import runpy, sys
import attention.bidirectional, attention.pipeline
$3
sys.argv[0] = 'scripts/train_imdb.py'
runpy.run_path(sys.argv[0], run_name='__main__')" --data "$DATA" --seed 0 --logdir "$OUT/logdir_${1#train_}" \
    ${MAX_SAMPLES:+--max-samples "$MAX_SAMPLES"}
}
train_with train_jax_unroll1 jax "attention.bidirectional.JAX_GPU_UNROLL = 1"
train_with train_jax_unroll4 jax "attention.bidirectional.JAX_GPU_UNROLL = 4"
# Each epoch's last batch at its own size (168 reviews): two more programs to compile.
train_with train_jax_ragged jax "attention.pipeline.JAX_GPU_FIXED_BATCH = False"
train_with train_torch_fused torch "import benchmarks.torch_fused; attention.bidirectional.stacked_gru = benchmarks.torch_fused.stacked_gru"
train train_torch torch 60
# What comes back stays small and few: one tarball (without checkpoints and models) beside steps.txt.
rm -rf "$OUT"/logdir_*/*/checkpoints "$OUT"/logdir_*/*/model.*
tar czf /tmp/gpu-results.tgz -C "$OUT" --exclude=steps.txt . && find "$OUT" -mindepth 1 ! -name steps.txt -delete \
  && mv /tmp/gpu-results.tgz "$OUT/"
exit $failed

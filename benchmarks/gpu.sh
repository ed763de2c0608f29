#!/usr/bin/env bash
# The GPU measurements of BENCHMARKS.md in one go, on a machine with JAX and PyTorch (CUDA) and no
# TensorFlow. From the project root, with Keras's wheels in .whl/ and the data in gpu/imdb.npz
# (../shared/GPU.md; `attention.imdb.export_npz(ARCHIVE, "gpu/imdb.npz")`):
#
#     OUT=/some/folder bash benchmarks/gpu.sh    # at most 9 minutes: give the device call 580 s
#
# or some of its parts: throughput_torch, throughput_jax, train_jax, train_torch (in that order,
# the most wanted first), or train_jax_unroll1 and train_jax_unroll4, which are not in the default
# run: the JAX run again with another attention.bidirectional.JAX_GPU_UNROLL (an unrolled scan
# runs faster but compiles slower, and a 3-epoch run compiles four programs). Each part has its own time limit, so one that hangs leaves the others
# their time, and the benchmark writes what it has after each configuration; results (JSON,
# logs, run folders) go to $OUT/gpu-results.tgz. STEPS=2 WARMUP=1 MAX_SAMPLES=512 make a quick trial run.
set -u
OUT=${OUT:-benchmarks/runs/gpu}
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

step() {  # step NAME SECONDS COMMAND...: runs COMMAND, its output to $OUT/NAME.log
  local name=$1 seconds=$2
  shift 2
  local start=$SECONDS
  timeout "$seconds" "$@" > "$OUT/$name.log" 2>&1
  echo "$name: exit $? in $((SECONDS - start)) s" | tee -a "$OUT/steps.txt"
}

parts=${*:-throughput_torch throughput_jax train_jax train_torch}
want() { [[ " $parts " == *" $1 "* ]]; }

# Throughput: the BidirectionalGRU loops worth measuring on each backend, the original math and
# --reset-after, against the PyTorch rewrite (cuDNN, padded batches) in the same run. default is
# what "auto" picks: on PyTorch the hoisted stacked loop replayed as CUDA graphs ("graphed"; cuDNN
# for reset_after), on JAX the hoisted stacked loop with its scan unrolled (JAX_GPU_UNROLL).
# stacked_hoisted is the same loop launched op by op, autograd differentiates it step by step
# instead of by its hand-written gradient (PyTorch), unrollN sets the scan's unrolling (JAX),
# width64 times bucketed batches cut to multiples of 64 steps (JAX keeps the full width on a GPU).
throughput() {  # throughput BACKEND SECONDS PORTS...
  local backend=$1 seconds=$2
  shift 2
  step "throughput_$backend" "$seconds" env KERAS_BACKEND=$backend python3 scripts/benchmark.py --data "$DATA" \
    --gpu --backend "$backend" "${@/#/--port=}" --torch --steps "$STEPS" --warmup "$WARMUP" \
    --output "$OUT/throughput_$backend.json"
}
want throughput_torch && throughput torch 190 default stacked_hoisted autograd+stacked_hoisted reset_after reset_after+graphed
want throughput_jax && throughput jax 170 default unroll1 unroll4 width64 reset_after reset_after+unroll1

# The full 3-epoch run of the training script, seed 0.
train() {  # train BACKEND SECONDS
  step "train_$1" "$2" env KERAS_BACKEND=$1 python3 scripts/train_imdb.py --data "$DATA" --seed 0 \
    --logdir "$OUT/logdir_$1" ${MAX_SAMPLES:+--max-samples "$MAX_SAMPLES"}
}
want train_jax && train jax 90
want train_torch && train torch 90
for unroll in 1 4; do
  want "train_jax_unroll$unroll" && step "train_jax_unroll$unroll" 90 env KERAS_BACKEND=jax python3 -c "
import runpy, sys
import attention.bidirectional
attention.bidirectional.JAX_GPU_UNROLL = $unroll
sys.argv[0] = 'scripts/train_imdb.py'
runpy.run_path(sys.argv[0], run_name='__main__')" --data "$DATA" --seed 0 --logdir "$OUT/logdir_jax_unroll$unroll" \
    ${MAX_SAMPLES:+--max-samples "$MAX_SAMPLES"}
done
# What comes back stays small and few: one tarball (without checkpoints and models) beside steps.txt.
rm -rf "$OUT"/logdir_*/*/checkpoints "$OUT"/logdir_*/*/model.*
tar czf /tmp/gpu-results.tgz -C "$OUT" --exclude=steps.txt . && find "$OUT" -mindepth 1 ! -name steps.txt -delete \
  && mv /tmp/gpu-results.tgz "$OUT/"
exit 0

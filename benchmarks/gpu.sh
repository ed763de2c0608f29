#!/usr/bin/env bash
# The GPU measurements of BENCHMARKS.md in one go, on a machine with JAX and PyTorch (CUDA) and no
# TensorFlow. From the project root, with Keras's wheels in .whl/ and the data in gpu/imdb.npz
# (../shared/GPU.md; `attention.imdb.export_npz(ARCHIVE, "gpu/imdb.npz")`):
#
#     OUT=/some/folder bash benchmarks/gpu.sh throughput    # at most 9 minutes
#     OUT=/some/folder bash benchmarks/gpu.sh train         # at most 4 minutes
#
# (both, without an argument). Each step has its own time limit, so one that hangs leaves the
# others their time; results (JSON, logs) go to $OUT. STEPS=2 WARMUP=1 MAX_SAMPLES=512 make a
# quick trial run.
set -u
OUT=${OUT:-benchmarks/runs/gpu}
STEPS=${STEPS:-20}
WARMUP=${WARMUP:-4}
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

parts=${*:-throughput train}

# Throughput: every BidirectionalGRU loop on each backend, the original math and --reset-after,
# against the PyTorch rewrite (cuDNN, padded batches) in the same run.
# (default: what "auto" picks; on PyTorch, reset_after's default is the cudnn loop.)
ports="--port default --port per_direction --port stacked --port reset_after --port reset_after+per_direction"
[[ " $parts " == *" throughput "* ]] && for backend in jax torch; do
  extra=""
  [[ $backend == torch ]] && extra="--port reset_after+stacked_hoisted"
  step "throughput_$backend" 270 env KERAS_BACKEND=$backend python3 scripts/benchmark.py --data "$DATA" --gpu \
    --backend $backend $ports $extra --torch --steps "$STEPS" --warmup "$WARMUP" --output "$OUT/throughput_$backend.json"
done

# The full 3-epoch run of the training script, seed 0, on each backend.
[[ " $parts " == *" train "* ]] && for backend in jax torch; do
  step "train_$backend" 120 env KERAS_BACKEND=$backend python3 scripts/train_imdb.py --data "$DATA" --seed 0 \
    --logdir "$OUT/logdir_$backend" ${MAX_SAMPLES:+--max-samples "$MAX_SAMPLES"}
done
exit 0

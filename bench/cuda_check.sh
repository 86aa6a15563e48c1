#!/usr/bin/env bash
# The prepared check for a session that is lent a GPU: the quick profile on CUDA
# and the parity matrix on CUDA (TF32 off), using the tree as it is: nothing is
# installed (the device machine has torch, pytest, pytest-benchmark, pandas and
# matplotlib, and no network). Results go under $OUT (the device tool brings
# that folder back), else results/cuda-check.
#
#   bash bench/cuda_check.sh            # about 10 minutes of device time, budgeted below
#
# Not yet run: no session so far has been lent a GPU.
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
out="${OUT:-results/cuda-check}"
mkdir -p "$out"
python -m hellotorch env | tee "$out/env.txt"
# The CUDA cases of the quick profile, into a run folder under $out.
timeout 420 python -m hellotorch bench --profile quick --device cuda --results "$out" 2>&1 | tee "$out/bench.log"
# Parity on CUDA for every optimizer on the mlp (the transformer too if time allows).
timeout 150 python -m hellotorch parity --matrix --device cuda --models mlp --steps 100 \
  --csv "$out/parity_cuda.csv" 2>&1 | tee "$out/parity.log"

#!/usr/bin/env bash
# The prepared check for a machine with a GPU: the CUDA benchmarks (quick
# profile), the distributed profile through torchrun with NCCL (one GPU: world
# size 1), the compile cost per cache state, the parity matrix on CUDA (TF32 off) and the test suite, on the
# tree as it is. Nothing is installed: the machine needs torch with CUDA,
# pytest, pytest-benchmark, pandas, tabulate, matplotlib and hypothesis, and
# no network. Results go under $OUT when it is set, else results/cuda-check.
#
#   bash bench/cuda_check.sh            # under 10 minutes, budgeted below (570 s in all)
#
# Not yet run on a GPU.
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
out="${OUT:-results/cuda-check}"
mkdir -p "$out"
python -m hellotorch env | tee "$out/env.txt"
# The CUDA cases of the quick profile, into a run folder under $out.
timeout 170 python -m hellotorch bench --profile quick --device cuda --results "$out" 2>&1 | tee "$out/bench.log"
echo "bench exit: ${PIPESTATUS[0]}" | tee -a "$out/bench.log"
# DDP and FSDP2, eager and compiled, under torchrun with NCCL; one GPU, so one rank.
timeout 80 python -m hellotorch bench --profile dist --device cuda --nproc 1 -k "mlp and train" --results "$out" \
  2>&1 | tee "$out/dist.log"
echo "dist exit: ${PIPESTATUS[0]}" | tee -a "$out/dist.log"
# Compile cost of the MLP step per cache state (cold, warm, portable, regional) and under CUDA graphs.
timeout 100 python -m hellotorch bench --profile compile --device cuda -k "mlp and not scenario" --results "$out" \
  2>&1 | tee "$out/compile.log"
echo "compile exit: ${PIPESTATUS[0]}" | tee -a "$out/compile.log"
# Parity on CUDA for every optimizer on the mlp, then bf16 autocast on the CNN and GPT (AdamW, every task).
timeout 70 python -m hellotorch parity --matrix --device cuda --models mlp --steps 100 \
  --csv "$out/parity_cuda.csv" 2>&1 | tee "$out/parity.log"
echo "parity exit: ${PIPESTATUS[0]}" | tee -a "$out/parity.log"
timeout 50 python -m hellotorch parity --matrix --device cuda --dtype bf16 --models cnn,gpt --optimizers adamw \
  --steps 50 --csv "$out/parity_cuda_bf16.csv" 2>&1 | tee "$out/parity_bf16.log"
echo "parity bf16 exit: ${PIPESTATUS[0]}" | tee -a "$out/parity_bf16.log"
# The tests (CUDA-only ones run here instead of skipping), without the slow CPU suite runs.
timeout 100 python -m pytest tests -q -x -p no:cacheprovider --deselect tests/test_bench_suite.py --deselect tests/test_distributed.py 2>&1 | tee "$out/tests.log"
echo "tests exit: ${PIPESTATUS[0]}" | tee -a "$out/tests.log"

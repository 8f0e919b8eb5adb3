#!/usr/bin/env bash
# Set up (if needed) and run the main job: train (preset $HOSTSW_MAIN_PRESET, default LeNet-5 on
# MNIST with the AdaPT controller), export QONNX with the learned precisions, generate the hls4ml
# ap_fixed project, C-simulate it on >= 1,000 test images against the exact reference, then print
# the report (accuracy, per-layer precision, cost vs fp32, bit-exact rate, where the project is);
# then the training-kernel project of the run and a short training stretch through the HLS kernels
# in C simulation, checked identical to the exact reference.
# Extra arguments go to `hostsw train` (e.g. --epochs 3).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PRESET=${HOSTSW_MAIN_PRESET:-lenet5-mnist-adapt}
OUT=${HOSTSW_MAIN_OUT:-runs/main}
IO=${HOSTSW_MAIN_IO_TYPE:-io_stream}
SAMPLES=${HOSTSW_MAIN_CSIM_SAMPLES:-1000}
if [ -f "$OUT/summary.json" ] || [ -f "$OUT/checkpoint.pt" ]; then
  OUT="$OUT-$(date +%Y%m%d-%H%M%S)"
fi
.venv/bin/hostsw train --preset "$PRESET" --out "$OUT" "$@"
.venv/bin/hostsw export "$OUT"
.venv/bin/hostsw hls "$OUT" --out "$OUT/hls" --io-type "$IO"
.venv/bin/hostsw csim "$OUT" --project "$OUT/hls" --samples "$SAMPLES"
.venv/bin/hostsw report "$OUT"
# the training kernels: their project for this run (tcl, test bench, vectors), then a short
# stretch of training THROUGH them (100 LeNet-5 steps, a tier 8 -> 16 switch between the epochs)
# on the C simulation and on the exact reference, which must end identical
.venv/bin/hostsw hls "$OUT" --training --out "$OUT/hls-training"
.venv/bin/hostsw crosscheck --preset "${HOSTSW_MAIN_KERNEL_PRESET:-lenet5-mnist-kernels}" \
  --out "$OUT/kernels" --quiet

#!/usr/bin/env bash
# GPU model benchmarks: builds bench_models with the `cuda` and `wgpu` backends and runs the
# NB201 training step and dsm_nas inference on each, then the same workloads in PyTorch on
# CUDA when a torch with CUDA is importable. Run on a machine with an NVIDIA GPU and the CUDA
# toolkit (and a Vulkan driver for wgpu). Output: JSON lines in target/gpu-bench.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/gpu-bench.jsonl
mkdir -p target && : > "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a target/gpu-bench.card
for backend in cuda wgpu; do
  echo "== $backend" >&2
  if cargo build --release -p dsm-nas --features "$backend" --example bench_models; then
    ./target/release/examples/bench_models --backend "$backend" --iters "${ITERS:-20}" \
      --spec target/bench-spec.json | tee -a "$out"
  else
    echo "{\"backend\": \"$backend\", \"error\": \"build failed\"}" | tee -a "$out"
  fi
done
py=${PYTHON:-target/bench-venv/bin/python}
if [ -x "$py" ] && "$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  "$py" scripts/bench_pytorch.py --device cuda --threads "$(nproc)" --iters "${ITERS:-20}" \
    --spec target/bench-spec.json | tee -a "$out"
fi
echo "wrote $out" >&2

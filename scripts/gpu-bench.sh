#!/usr/bin/env bash
# GPU model benchmarks, a wrapper of the GPU pack: builds target/gpu-pack here (`cargo xtask
# gpu-pack`, which needs the Rust toolchain and apt) and, when this machine has an NVIDIA GPU,
# runs it (`bash target/gpu-pack/run.sh target/gpu-run`); on a GPU machine without a toolchain,
# carry target/gpu-pack there and run its run.sh alone. See docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo xtask gpu-pack
if nvidia-smi -L >/dev/null 2>&1; then
  bash target/gpu-pack/run.sh target/gpu-run
else
  echo "no NVIDIA GPU here: carry target/gpu-pack to one and run: bash target/gpu-pack/run.sh DIR" >&2
fi

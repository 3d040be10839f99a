#!/usr/bin/env bash
# The GPU pack's one command (`cargo xtask gpu-pack` copies it to target/gpu-pack/run.sh):
#
#   bash target/gpu-pack/run.sh DIR
#
# on a machine with an NVIDIA GPU, no Rust toolchain and no network: unpacks the Vulkan loader
# carried in the pack, finds NVIDIA's Vulkan driver, runs our workloads on wgpu (NB201 training
# step at batch 64 and 256, dsm_nas inference at batch 1 and 64, the zero-cost proxies, one
# training epoch of an NB201 cell on the CIFAR-10 slice) and the same workloads in the machine's
# PyTorch on CUDA, and writes one JSON line per workload and side to DIR/gpu.jsonl:
# {"workload", "batch", "side", "images_per_s", "device"} ("unit": "cells" on the proxies' rows,
# whose rate is cells per second). At most about 8 minutes.
#
# GPU_PACK_DRY_RUN=1: the same script on Mesa's software Vulkan (lavapipe, from the .deb files
# `cargo xtask gpu-pack` leaves in target/gpu-pack-dry, or GPU_PACK_MESA=DIR), tiny iteration
# counts, no PyTorch side: to find a script error before a GPU machine's 15 minutes are spent.
set -uo pipefail
pack="$(cd "$(dirname "$0")" && pwd)"
if [ $# -ne 1 ]; then
  echo "usage: bash $0 DIR (the folder for gpu.jsonl and the logs)" >&2
  exit 2
fi
dry="${GPU_PACK_DRY_RUN:-0}"
if [ "$dry" != 1 ] && ! nvidia-smi -L >/dev/null 2>&1; then
  echo "error: no NVIDIA GPU here (nvidia-smi lists none); without one, run GPU_PACK_DRY_RUN=1 bash $0 $1" >&2
  exit 2
fi
mkdir -p "$1" || exit 2
out="$(cd "$1" && pwd)"
log() { echo "gpu-pack: $*" >&2; }

# Unpack a .deb without root: dpkg-deb where present, else ar + tar.
extract() {
  if command -v dpkg-deb >/dev/null; then
    dpkg-deb -x "$1" "$2"
  else
    local tmp
    tmp="$(mktemp -d)"
    (cd "$tmp" && ar x "$1" && tar -xf data.tar.* -C "$2")
    rm -rf "$tmp"
  fi
}

# The binary travels xz-compressed: xz where present, else Python's lzma.
bin="$out/bin/bench_models"
mkdir -p "$out/bin"
py="$(command -v python3 || command -v python || true)"
if command -v xz >/dev/null; then
  xz -dc "$pack/bench_models.xz" > "$bin" || exit 2
else
  "$py" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
    "$pack/bench_models.xz" "$bin" || exit 2
fi
chmod +x "$bin"

vk="$out/vk"
rm -rf "$vk" && mkdir -p "$vk"
for deb in "$pack"/debs/*.deb; do extract "$deb" "$vk"; done
if [ "$dry" = 1 ]; then
  mesa="${GPU_PACK_MESA:-$pack/../gpu-pack-dry}"
  for deb in "$mesa"/*.deb; do extract "$deb" "$vk"; done
  icd="$vk/lvp_icd.json"
  sed "s#\"library_path\": *\"[^\"]*\"#\"library_path\": \"$vk/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so\"#" \
    "$vk/usr/share/vulkan/icd.d/lvp_icd.x86_64.json" > "$icd" || exit 2
  card="lavapipe (Mesa software Vulkan, dry run)"
  # Lavapipe runs the training step at about 2.5 images/s on 2 cores: tiny batches.
  iters=1 cells=1 images=64 train_batches=2,4 infer_batches=1,2 budget=480
else
  icd=""
  for f in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
           /usr/share/vulkan/icd.d/nvidia_icd.x86_64.json /usr/local/share/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$f" ]; then icd="$f"; break; fi
  done
  if [ -z "$icd" ]; then
    # The driver's Vulkan ICD lives in libGLX_nvidia; write its manifest when none is installed.
    lib="$(ldconfig -p 2>/dev/null | awk '/libGLX_nvidia.so.0/ {print $NF; exit}')"
    if [ -n "$lib" ]; then
      icd="$vk/nvidia_icd.json"
      printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "%s", "api_version": "1.3"}}\n' "$lib" > "$icd"
    else
      log "no NVIDIA Vulkan driver found (no nvidia_icd.json, no libGLX_nvidia.so.0): our side will fail"
    fi
  fi
  card="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
  iters=20 cells=10 images=4000 train_batches=64,256 infer_batches=1,64 budget=270
fi
log "device: $card; Vulkan ICD: ${icd:-none}"
export VK_ICD_FILENAMES="$icd"
export LD_LIBRARY_PATH="$vk/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export DSM_CIFAR10_5K="$pack/cifar10-5k"
workloads=nb201_train_step,dsm_nas_infer,nb201_proxies,nb201_epoch

log "ours on wgpu (at most ${budget} s)"
timeout "$budget" "$bin" --backend wgpu --iters "$iters" --workloads "$workloads" \
  --train-batches "$train_batches" --batches "$infer_batches" --proxy-cells "$cells" --epoch-images "$images" \
  > "$out/ours.jsonl" 2> "$out/ours.log"
rc=$?
[ $rc -eq 0 ] || log "our side ended with status $rc (see $out/ours.log): $(tail -1 "$out/ours.log")"

if [ "$dry" != 1 ]; then
  log "PyTorch on CUDA (at most 200 s)"
  timeout 200 "$py" "$pack/bench_pytorch.py" --device cuda --threads "$(nproc)" --iters "$iters" \
    --spec "$pack/spec.json" --workloads "$workloads" --train-batches "$train_batches" --batches "$infer_batches" \
    > "$out/pytorch.jsonl" 2> "$out/pytorch.log"
  rc=$?
  [ $rc -eq 0 ] || log "the PyTorch side ended with status $rc (see $out/pytorch.log): $(tail -1 "$out/pytorch.log")"
fi

"$py" - "$out" "$card" <<'EOF'
import json, os, sys
out, card = sys.argv[1], sys.argv[2]
rows = []
for side, name in (("ours-wgpu", "ours.jsonl"), ("pytorch-cuda", "pytorch.jsonl")):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        continue
    for line in open(path):
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        row = {"workload": r["workload"], "batch": r["batch"], "side": side,
               "images_per_s": r.get("images_per_s", r.get("cells_per_s")), "device": card}
        if "cells_per_s" in r:
            row["unit"] = "cells"
        rows.append(row)
with open(os.path.join(out, "gpu.jsonl"), "w") as f:
    for row in rows:
        f.write(json.dumps(row) + "\n")
for row in rows:
    print(f'{row["workload"]:<18} {row["batch"]:>4} {row["side"]:<13} {row["images_per_s"]:>12.4g}')
print(f"wrote {len(rows)} rows to {os.path.join(out, 'gpu.jsonl')}", file=sys.stderr)
EOF

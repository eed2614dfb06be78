#!/bin/bash
# The GPU proof, on a Linux x86-64 machine with an NVIDIA GPU, no network and no Node (npm run gpuproof builds this
# folder): `bash .gpuproof/run.sh`. Every phase is time-boxed and prints as it goes, to stdout and $OUT/proof.log;
# $OUT/summary.txt gets the result lines, $OUT/smi.csv nvidia-smi's samples.
# Environment: OUT (default /tmp/gpuproof-out), GPUPROOF_WORK (unpacked binaries, default /tmp/gpuproof),
# GPUPROOF_LIBDIR (unpack the loader .debs there instead of /; GPUPROOF_FORCE_LOADERS=1 even when the machine has
# a Vulkan loader), PROOF_PYTHON (default python3), PROOF_* sizes
# (proof.ts), LIMIT_<PHASE> seconds per phase (defaults sum to 535 s: with unpacking, under 10 minutes; a full run on an
# H100 took 3.3 to 4.3 minutes with the phases before ab).
# On a software adapter (no GPU), shrink it: PROOF_HW=75 PROOF_BATCHES=2 PROOF_SECONDS=1 PROOF_STOCK_BATCH=2
# PROOF_PROFILE_BATCH=2 PROOF_CHECK_BATCH=2 PROOF_LOADER_BATCH=4 PROOF_LOADER_STEPS=2 PROOF_AB_ROUNDS=1 PROOF_AB_SECONDS=1
# PROOF_TORCH_DEVICE=cpu and
# LIMIT_<PHASE>=600: about 4 minutes on a 2-core machine.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/gpuproof-out}
WORK=${GPUPROOF_WORK:-/tmp/gpuproof}
PY=${PROOF_PYTHON:-python3}
mkdir -p "$OUT" "$WORK"
LOG=$OUT/proof.log
: > "$LOG"
exec > >(tee -a "$LOG") 2>&1
T0=$(date +%s)
say() { echo "$* [$(( $(date +%s) - T0 ))s]"; }

# phase NAME LIMIT COMMAND...: runs it under `timeout`, says how it ended.
phase() {
  local name=$1 limit=$2 s rc
  shift 2
  say "=== $name (at most ${limit}s)"
  s=$(date +%s)
  timeout -k 10 "$limit" "$@"
  rc=$?
  [ $rc -eq 124 ] && say "=== $name TIMED OUT after ${limit}s" || say "=== $name done (exit $rc, $(( $(date +%s) - s ))s)"
  return 0
}

say "GPU proof: $(cat "$HERE/MANIFEST.json" 2>/dev/null | tr -d '\n' | sed 's/"files".*//' | cut -c1-300)"
# 1. Node and Dawn, unpacked with the machine's python3 (xz may be missing; lzma is in Python's standard library).
"$PY" - "$HERE" "$WORK" <<'EOF' || { say "FAIL: could not unpack node/dawn.node"; exit 10; }
import lzma, os, shutil, sys
here, work = sys.argv[1], sys.argv[2]
for name in ("node", "dawn.node"):
    with lzma.open(os.path.join(here, name + ".xz")) as src, open(os.path.join(work, name), "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
os.chmod(os.path.join(work, "node"), 0o755)
EOF
NODE=$WORK/node
export TSDL_DAWN_NODE=$WORK/dawn.node
say "node $("$NODE" --version), python3 $("$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())' 2>&1 | tail -1)"

# 2. Vulkan and EGL loaders (the driver has its ICD, the image no loader): the device README's recipe.
if [ -z "${GPUPROOF_FORCE_LOADERS:-}" ] && ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
  say "libvulkan.so.1 already there"
elif [ -z "${GPUPROOF_LIBDIR:-}" ] && [ "$(id -u)" = 0 ]; then
  for f in "$HERE"/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
  say "loaders unpacked into / ($(ls "$HERE"/debs | tr '\n' ' '))"
else
  LIBDIR=${GPUPROOF_LIBDIR:-$WORK/sys}
  for f in "$HERE"/debs/*.deb; do dpkg -x "$f" "$LIBDIR"; done
  export LD_LIBRARY_PATH=$LIBDIR/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  say "loaders unpacked into $LIBDIR (LD_LIBRARY_PATH)"
fi
for j in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  [ -f "$j" ] && { export VK_DRIVER_FILES=$j VK_ICD_FILENAMES=$j; break; }
done
for j in /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json /usr/share/glvnd/egl_vendor.d/10_nvidia.json; do
  [ -f "$j" ] && { export __EGL_VENDOR_LIBRARY_FILENAMES=$j; break; }
done
say "Vulkan ICD: ${VK_DRIVER_FILES:-none named: the loader defaults}"
if command -v nvidia-smi >/dev/null; then
  say "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader 2>&1 | head -1)"
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used,power.draw --format=csv -l 1 > "$OUT/smi.csv" 2>&1 &
  SMI=$!
fi

# 3. The phases (proof.ts; resnet_torch.py for PyTorch).
cd "$HERE"
phase info "${LIMIT_INFO:-25}" "$NODE" proof.js info
phase check "${LIMIT_CHECK:-70}" "$NODE" proof.js check
phase speed "${LIMIT_SPEED:-110}" "$NODE" proof.js speed
export PY TB=${PROOF_BATCHES:-64,128,256} HW=${PROOF_HW:-96} TS=${PROOF_TORCH_SECONDS:-5} TDEV=${PROOF_TORCH_DEVICE:-}
phase pytorch "${LIMIT_PYTORCH:-80}" bash -c '
  dev=${TDEV:+--device $TDEV}
  "$PY" resnet_torch.py params $dev | sed "s/^/TORCH /"
  "$PY" resnet_torch.py speed --batches "$TB" --size "$HW" --seconds "$TS" $dev | sed "s/^/TORCH /"
  "$PY" resnet_torch.py speed --tf32 --batches "${TB##*,}" --size "$HW" --seconds "$TS" $dev | sed "s/^/TORCH /"'
# Timestamps unquantized: the profile's GPU times are of single kernels (tens of microseconds).
phase profile "${LIMIT_PROFILE:-70}" env TSDL_DAWN_FLAGS=disable-dawn-features=timestamp_quantization "$NODE" proof.js profile
# The default kernels against variants of them, interleaved (proof.ts AB_VARIANTS). Measured and settled by earlier
# runs, so no longer run: Dawn's unsafe toggles (1.02-1.05x at best), tfjs's forward convolution (0.81-0.90x), a
# queue submission every 5 or 100 dispatches instead of 15 (0.99x, 0.79x); README "Backends and the GPU".
phase ab "${LIMIT_AB:-120}" "$NODE" proof.js ab
phase loader "${LIMIT_LOADER:-45}" "$NODE" proof.js loader
phase summary 15 "$NODE" proof.js summary "$LOG"

[ -n "${SMI:-}" ] && kill "$SMI" 2>/dev/null
grep -E '^(INFO|CHECK|TRAIN|TORCH|PROFILE|AB|LOADER|SUMMARY|GPU|node|===)' "$LOG" > "$OUT/summary.txt"
say "done: $OUT/proof.log, $OUT/summary.txt"

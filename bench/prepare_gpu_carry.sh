#!/usr/bin/env bash
# Fill .device_carry/ (git-ignored) with what a lent GPU machine cannot
# fetch itself (it reaches no network) for bench/gpu_check.sh:
# - the LibriSpeech lengths (../shared does not travel);
# - ONNX Runtime's C/C++ headers (the ONNX Runtime op library is built there).
# The op library itself is built on the GPU machine (16 cores, about a
# minute for one architecture), against the image's torch.
#
#   bash bench/prepare_gpu_carry.sh
#
# Then run gpu_check.sh as its header says, with carry [".device_carry"].
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
CARRY=$PWD/.device_carry
mkdir -p "$CARRY"

rm -rf "$CARRY/ort"
mkdir -p "$CARRY/ort"
ORT_HEADERS=$("$PY" -c "from rnnt_ops.export import ort_include_dir; print(ort_include_dir())" | tail -n 1)
cp "$ORT_HEADERS"/*.h "$CARRY/ort/"
du -sh "$CARRY"

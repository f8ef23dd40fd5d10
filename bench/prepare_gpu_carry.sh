#!/usr/bin/env bash
# Fill .device_carry/ (git-ignored) for a lent GPU machine, so that
# bench/gpu_check.sh spends none of its scarce device time building or
# fetching:
# - the LibriSpeech lengths (../shared does not travel);
# - ONNX Runtime's C/C++ headers (the GPU machine reaches no network);
# - the op library, prebuilt with CUDA against the GPU image's torch
#   (2.11.0+cu130 in 2026-11), for the GPU's architecture.
#
#   PYTHON=/path/to/python bash bench/prepare_gpu_carry.sh
#
# PYTHON must run the GPU image's torch version with CUDA (a separate venv:
# pip install torch==2.11.0 from the cu130 index); CUDA_HOME (default
# /usr/local/cuda) an nvcc of the same CUDA major version;
# TORCH_CUDA_ARCH_LIST defaults to 9.0 (H100, H200). Then run gpu_check.sh
# as its header says, with carry [".device_carry"].
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:?set PYTHON to a python whose torch matches the GPU image}
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
# Some toolkits keep libcudart in lib/, torch.utils.cpp_extension looks in lib64/.
export LIBRARY_PATH="$CUDA_HOME/lib:$CUDA_HOME/lib64${LIBRARY_PATH:+:$LIBRARY_PATH}"
CARRY=$PWD/.device_carry
mkdir -p "$CARRY"

if [[ -f ../shared/bench/librispeech_shapes.json ]]; then
  cp ../shared/bench/librispeech_shapes.json "$CARRY/"
fi

rm -rf "$CARRY/build"
RNNT_OPS_BUILD_DIR="$CARRY/build" "$PY" -m rnnt_ops.build

# (Importing rnnt_ops loads the library: the same build folder, so it is
# not built a second time.)
rm -rf "$CARRY/ort"
mkdir -p "$CARRY/ort"
ORT_HEADERS=$(RNNT_OPS_BUILD_DIR="$CARRY/build" "$PY" -c \
  "from rnnt_ops.export import ort_include_dir; print(ort_include_dir())" | tail -n 1)
cp "$ORT_HEADERS"/*.h "$CARRY/ort/"
# The loader needs the library and its done marker only.
find "$CARRY/build" -type f ! -name '*.so' ! -name 'build.done' -delete
du -sh "$CARRY"

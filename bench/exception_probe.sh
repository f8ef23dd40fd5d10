#!/usr/bin/env bash
# Does a bad input raise a Python error, or crash the process? One line per
# build of the op library: "<variant> rc=<exit status> <first line of the
# error>" (rc=0: raised and caught; 139: segfault). The variants are built
# in parallel under DIR (RNNT_OPS_BUILD_DIR each): the CUDA build with and
# without the precompiled header (RNNT_OPS_PCH=0), and the CPU-only build
# (RNNT_OPS_CUDA=0) with and without it; "cuda_pch" may name an existing
# build directory instead (CUDA_PCH_DIR). For the lent GPU image, where a
# library built there once crashed on every C++ exception.
#
#   bash bench/exception_probe.sh DIR
set -u
DIR=${1:?usage: exception_probe.sh DIR}
PY=${PYTHON:-python}
mkdir -p "$DIR"
declare -A ENVS=(
  [cuda_pch]="RNNT_OPS_BUILD_DIR=${CUDA_PCH_DIR:-$DIR/cuda_pch}"
  [cuda_nopch]="RNNT_OPS_BUILD_DIR=$DIR/cuda_nopch RNNT_OPS_PCH=0"
  [cpu_pch]="RNNT_OPS_BUILD_DIR=$DIR/cpu_pch RNNT_OPS_CUDA=0"
  [cpu_nopch]="RNNT_OPS_BUILD_DIR=$DIR/cpu_nopch RNNT_OPS_CUDA=0 RNNT_OPS_PCH=0"
)
for v in "${!ENVS[@]}"; do
  env ${ENVS[$v]} MAX_JOBS=8 "$PY" -m rnnt_ops.build >"$DIR/build_$v.log" 2>&1 &
done
wait
PROBE='
import torch, rnnt_ops
try:
    rnnt_ops.rnnt_loss(torch.zeros(2, 3, 4, 5), torch.zeros(2, 3), 0)
    print("no error raised")
except (RuntimeError, ValueError) as e:
    print(type(e).__name__ + ":", str(e).splitlines()[0])
'
for v in cuda_pch cuda_nopch cpu_pch cpu_nopch; do
  out=$(env ${ENVS[$v]} "$PY" -c "$PROBE" 2>&1 | tail -n 1)
  echo "$v rc=${PIPESTATUS[0]} $out"
done

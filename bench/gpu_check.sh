#!/usr/bin/env bash
# The CUDA checks of one GPU session, in under 5 minutes (BUDGET_S, default
# 285 s; a second call with ONLY= finishes the rest) on an H100 with the
# library prebuilt (below). Run from the repo root on a machine with a GPU,
# torch with CUDA, nvcc, ninja, pytest:
#
#   bash bench/gpu_check.sh [OUT_DIR]      # default $OUT, else bench/out/ (git-ignored)
#
# The loss benchmark and the profile use the real LibriSpeech lengths of
# bench/data/librispeech_shapes.json (SHAPES=path/to/other.json for others).
#
# Steps, most informative first, each bounded by what is left of the budget:
# build, an exception probe across build variants (bench/exception_probe.sh),
# the CUDA half of the test suite (every test whose id names cuda),
# compute-sanitizer memcheck (small run), the CUDA recursion and
# standard-loss benchmarks, a profile of each benchmark step (top kernels,
# device busy time against the step's wall clock, host syncs), racecheck and
# synccheck, the scaling tables and plots, a bfloat16 standard table, the
# float32 error table, the TDT, pruned TDT and fused joiner benchmarks, then
# the whole test suite.
# Every step's output goes to OUT_DIR/<step>.log; OUT_DIR/summary.md has one
# line per step with its exit status (124 = cut off by the time budget).
# LOSS_IMPLS= and PROFILE_IMPLS= (comma lists) narrow the standard table and
# the profile to some implementations.
# PACK=path.tgz refreshes one archive of OUT_DIR after every step (the
# device tool returns at most 8 files, and a run cut off at its time limit
# still returns the steps done). ONLY=step1,step2 runs just those steps.
# pytest runs verbose (each test's outcome in the log as it ends, so a cut-off
# log still names its failures), on PYTEST_WORKERS processes (default 12)
# when pytest-xdist is there, each test limited to TEST_TIMEOUT_S seconds
# (default 150) when pytest-timeout is.
#
# Device time is scarce (15 minutes a session, the machine's start
# included): bench/prepare_gpu_carry.sh fills .device_carry/ with ONNX
# Runtime's headers (the machine reaches no network); then
#   run: export TORCH_CUDA_ARCH_LIST=9.0 ORT_INCLUDE_DIR=$PWD/.device_carry/ort
#        PYTHON=python3
#        PACK=$OUT/gpu_check.tgz; bash bench/gpu_check.sh /tmp/gpu_check
set -u
OUT=${1:-${OUT:-$PWD/bench/out}}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# --shapes for the benchmarks when SHAPES is set (else their default path,
# then the stand-in lengths of bench/shapes.py).
SHAPES_ARGS=()
if [[ -n "${SHAPES:-}" ]]; then
  SHAPES_ARGS=(--shapes "$(realpath "$SHAPES")")
fi
BUDGET_S=${BUDGET_S:-285}
START=$(date +%s)
PY=${PYTHON:-python}
export RNNT_OPS_BUILD_DIR=${RNNT_OPS_BUILD_DIR:-/tmp/rnnt_ops_gpu_check}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

# stamp: prefix each line of stdin with the seconds since it started.
stamp() {
  "$PY" -u -c 'import sys, time
t0 = time.time()
for line in sys.stdin:
    sys.stdout.write(f"{time.time() - t0:7.1f} {line}")
    sys.stdout.flush()'
}

# wanted NAME: whether ONLY (if set) lists the step.
wanted() { [[ -z "${ONLY:-}" || ",$ONLY," == *",$1,"* ]]; }

# step NAME CAP_S CMD...: run CMD with min(CAP_S, time left) seconds.
step() {
  local name=$1 cap=$2
  shift 2
  wanted "$name" || return 0
  local left=$((BUDGET_S - ($(date +%s) - START)))
  local limit=$((cap < left ? cap : left))
  if ((limit < 5)); then
    echo "| $name | skipped: out of time |" >>"$OUT/summary.md"
    return
  fi
  local t0=$(date +%s)
  # Each log line starts with the seconds since the step began.
  timeout --kill-after=5 "$limit" "$@" 2>&1 | stamp >"$OUT/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "| $name | rc=$rc, $(($(date +%s) - t0)) s |" >>"$OUT/summary.md"
  echo "== $name: rc=$rc"
  tail -n 15 "$OUT/$name.log"
  pack
}

# pack: refresh the PACK archive (if asked for) with everything in OUT.
pack() {
  if [[ -n "${PACK:-}" ]]; then
    tar czf "$PACK.part" -C "$OUT" . && mv "$PACK.part" "$PACK"
  fi
}

# pytest options: verbose outcomes, plus workers and a per-test limit when
# the plugins are installed. Inductor compiles in-process
# (TORCHINDUCTOR_COMPILE_THREADS=1): a worker that had started inductor's
# pool of compile processes did not exit after the last test (H100 run,
# 2026-11-27: the log reached 100% and pytest never printed its summary).
export TORCHINDUCTOR_COMPILE_THREADS=1
PYTEST_OPTS=(-v -rfE --durations=20 --maxfail=30)
if "$PY" -c "import xdist" 2>/dev/null; then
  PYTEST_OPTS+=(-n "${PYTEST_WORKERS:-12}")
fi
if "$PY" -c "import pytest_timeout" 2>/dev/null; then
  PYTEST_OPTS+=(--timeout "${TEST_TIMEOUT_S:-150}")
fi

echo "| step | result |" >"$OUT/summary.md"
echo "|---|---|" >>"$OUT/summary.md"
{
  nvidia-smi || true
  nvcc --version || true
  "$PY" -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(), torch.cuda.get_device_capability())"
  "$PY" -c "import onnxruntime; print('onnxruntime', onnxruntime.__version__)" || true
} >"$OUT/env.log" 2>&1

step build 240 "$PY" -m rnnt_ops.build
# error_probe: the same library and three variants (bench/exception_probe.sh);
# if this build crashes on an exception and the CUDA one without the
# precompiled header does not, the later steps use that one.
VARIANTS=/tmp/rnnt_ops_variants
CUDA_PCH_DIR=$RNNT_OPS_BUILD_DIR step error_probe 200 bash bench/exception_probe.sh "$VARIANTS"
if grep -q "cuda_pch rc=[^0]" "$OUT/error_probe.log" 2>/dev/null &&
   grep -q "cuda_nopch rc=0" "$OUT/error_probe.log"; then
  export RNNT_OPS_BUILD_DIR=$VARIANTS/cuda_nopch RNNT_OPS_PCH=0
  echo "| error_probe | later steps use the build without the precompiled header |" >>"$OUT/summary.md"
fi
step cuda_tests 240 "$PY" -m pytest tests -k cuda "${PYTEST_OPTS[@]}"
# sanitize TOOL: compute-sanitizer over a small forward + backward.
sanitize() {
  wanted "sanitizer_$1" || return 0
  if command -v compute-sanitizer >/dev/null; then
    step "sanitizer_$1" 40 compute-sanitizer --tool "$1" --error-exitcode 1 \
      "$PY" bench/cuda_sanitize_case.py
  else
    echo "| sanitizer_$1 | skipped: no compute-sanitizer |" >>"$OUT/summary.md"
  fi
}

sanitize memcheck
step bench_recursion 60 "$PY" bench/bench_recursion.py --device cuda --repeats 20
# plain_full: the baseline of the ratios should torchaudio's rnnt_loss be
# missing from its build.
step bench_loss 120 "$PY" bench/bench_loss.py --device cuda --sections standard \
  --impls "${LOSS_IMPLS:-full,full_inplace,pruned,pruned_unchecked,torchaudio,plain_full}" \
  "${SHAPES_ARGS[@]}" --warmup 5 --batches 20 --plots ""
step profile 60 "$PY" bench/profile_step.py --device cuda \
  --impls "${PROFILE_IMPLS:-full,pruned,pruned_unchecked,torchaudio}" \
  "${SHAPES_ARGS[@]}" --steps 3 --top 30
sanitize racecheck
sanitize synccheck
# Scaling with vocabulary size and T (full and pruned beside torchaudio), the
# tables in the log, one PNG each in OUT_DIR.
step bench_scaling 150 "$PY" bench/bench_loss.py --device cuda --sections vocab,T \
  --impls full,pruned,torchaudio "${SHAPES_ARGS[@]}" --scale-batch 8 \
  --scale-warmup 1 --scale-batches 3 --max-full-gib 20 --plots "$OUT"
step bench_loss_bf16 40 "$PY" bench/bench_loss.py --device cuda --sections standard --dtype bfloat16 \
  --impls full,full_inplace,pruned "${SHAPES_ARGS[@]}" --warmup 2 --batches 3 --plots ""
step float32_error 30 "$PY" bench/float32_error.py
step bench_tdt 60 "$PY" bench/bench_tdt.py --device cuda "${SHAPES_ARGS[@]}" --standard
step bench_tdt_pruned 60 "$PY" bench/bench_tdt_pruned.py --device cuda
step bench_fused_joiner 60 "$PY" bench/bench_fused_joiner.py --device cuda
step all_tests 400 "$PY" -m pytest tests "${PYTEST_OPTS[@]}"
cat "$OUT/summary.md"
pack

#!/usr/bin/env bash
# The CUDA checks of one GPU session, in under 5 minutes. Run from the repo
# root on a machine with a GPU (H100), torch with CUDA, nvcc, ninja, pytest:
#
#   bash bench/gpu_check.sh [OUT_DIR]      # default $OUT, else bench/out/ (git-ignored)
#
# SHAPES=path/to/librispeech_shapes.json makes the loss benchmark and the
# profile use the real LibriSpeech lengths (the default path,
# ../shared/bench/librispeech_shapes.json, is beside the checkout, so it does
# not travel to a lent GPU machine). Through the device tool, without
# committing the file (.device_carry/ is git-ignored):
#   mkdir -p .device_carry && cp ../shared/bench/librispeech_shapes.json .device_carry/
#   run: SHAPES=.device_carry/librispeech_shapes.json bash bench/gpu_check.sh "$OUT"
#        with carry [".device_carry"]
#
# Steps, most informative first, each bounded by what is left of the budget:
# build, CUDA-vs-CPU tests, compute-sanitizer memcheck (small run), the CUDA
# recursion and standard-loss benchmarks, racecheck and synccheck, a
# bfloat16 standard table, a profile of each benchmark step (top kernels),
# then the whole test suite.
# Every step's output goes to $OUT/<step>.log; $OUT/summary.md has one line
# per step with its exit status (124 = cut off by the time budget).
# ONLY=step1,step2 runs just those steps (e.g. a second call that finishes
# what the first ran out of time for: ONLY=all_tests,bench_scaling
# BUDGET_S=540, the whole suite's summary line being what issue 4 quotes).
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
  timeout --kill-after=5 "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "| $name | rc=$rc, $(($(date +%s) - t0)) s |" >>"$OUT/summary.md"
  echo "== $name: rc=$rc"
  tail -n 15 "$OUT/$name.log"
}

echo "| step | result |" >"$OUT/summary.md"
echo "|---|---|" >>"$OUT/summary.md"
{
  nvidia-smi || true
  nvcc --version || true
  "$PY" -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(), torch.cuda.get_device_capability())"
} >"$OUT/env.log" 2>&1

step build 150 "$PY" -m rnnt_ops.build
step cuda_tests 90 "$PY" -m pytest -q -rfE --maxfail=20 tests/test_cuda_vs_cpu.py tests/test_recursion.py \
  tests/test_losses.py tests/test_mixed_precision.py tests/test_loss_errors.py \
  tests/test_inplace_grad.py tests/test_fused_joiner_rows.py -k cuda
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
step float32_error 30 "$PY" bench/float32_error.py
step bench_recursion 60 "$PY" bench/bench_recursion.py --device cuda --repeats 20
# plain_full: the baseline of the ratios should torchaudio's rnnt_loss be
# missing from its build.
step bench_loss 120 "$PY" bench/bench_loss.py --device cuda --sections standard \
  --impls full,full_inplace,pruned,torchaudio,plain_full \
  "${SHAPES_ARGS[@]}" --warmup 5 --batches 20 --plots ""
sanitize racecheck
sanitize synccheck
step bench_loss_bf16 40 "$PY" bench/bench_loss.py --device cuda --sections standard --dtype bfloat16 \
  --impls full,full_inplace,pruned "${SHAPES_ARGS[@]}" --warmup 2 --batches 3 --plots ""
step profile 45 "$PY" bench/profile_step.py --device cuda "${SHAPES_ARGS[@]}" --steps 3
step all_tests 400 "$PY" -m pytest tests -q -rfE --maxfail=20
# Scaling with vocabulary size and T (full and pruned beside torchaudio), the
# tables in the log, one PNG each in $OUT.
step bench_scaling 150 "$PY" bench/bench_loss.py --device cuda --sections vocab,T \
  --impls full,pruned,torchaudio "${SHAPES_ARGS[@]}" --scale-batch 8 \
  --scale-warmup 1 --scale-batches 3 --max-full-gib 20 --plots "$OUT"
cat "$OUT/summary.md"

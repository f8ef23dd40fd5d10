// Shared math of the fused prune-range kernels (prune_ranges_cpu.cpp and
// csrc/cuda/prune_ranges_cuda.cu): per frame, the best window of R label
// positions; per batch item, the settling of those window starts into
// k2's constraints. Plain C++, no ATen: it also compiles as device code.
//
// The arithmetic is that of the ATen composition in pruning.cpp (which
// traced graphs and ONNX export use) as ATen runs it on the CPU: the prefix
// sums of py_grad accumulate in double and are rounded to the input dtype,
// and the window score is formed in the input dtype. So the fused kernels
// and the composition choose the same windows on the CPU, and the CPU and
// CUDA kernels choose the same windows everywhere (additions only: no fused
// multiply-add can change a rounding).
#pragma once

#include <cstdint>
#include <limits>

#include "recursion/rnnt_math.h"

namespace rnnt {

struct PruneDims {
  int64_t S;         // symbols: py_grad has S+1 rows
  int64_t T;         // frames
  int64_t R;         // window size, 1 <= R <= S+1
  int64_t max_step;  // window starts grow by less than this per frame
};

template <typename scalar_t>
RNNT_HOST_DEVICE bool is_nan(scalar_t v) {
  return v != v;
}

// The start s0 in [0, S+1-R] of frame t's window, maximising k2's score
//   sum_{k < R} py_grad[s0 + k][t] - px_grad[s0 - 1][t]
// (the blank occupancy of the window's rows minus the symbol occupancy
// entering its first row from below; nothing enters row 0). Ties go to the
// smallest s0, and a NaN score wins, as in at::argmax. `px` and `py` point
// at frame t's entry of row 0; rows are `px_row` / `py_row` elements apart.
template <typename scalar_t, typename acc_t>
RNNT_HOST_DEVICE int64_t best_window_start(const scalar_t* px, int64_t px_row,
                                           const scalar_t* py, int64_t py_row,
                                           PruneDims d) {
  // lead = cum[s0 + R], trail = cum[s0], with cum[k] = sum_{j<k} py[j].
  acc_t lead = 0, trail = 0;
  for (int64_t k = 0; k < d.R; ++k) lead += static_cast<acc_t>(py[k * py_row]);
  const scalar_t first = static_cast<scalar_t>(lead) - static_cast<scalar_t>(trail);
  scalar_t best = first;
  int64_t best_start = 0;
  for (int64_t s0 = 1; s0 + d.R <= d.S + 1; ++s0) {
    lead += static_cast<acc_t>(py[(s0 + d.R - 1) * py_row]);
    trail += static_cast<acc_t>(py[(s0 - 1) * py_row]);
    const scalar_t mass = static_cast<scalar_t>(lead) - static_cast<scalar_t>(trail);
    const scalar_t score = mass - px[(s0 - 1) * px_row];
    if (!is_nan(best) && (is_nan(score) || score > best)) {
      best = score;
      best_start = s0;
    }
  }
  return best_start;
}

// Turning one item's best window starts into its pruning ranges' starts:
//  1. from the item's last frame t_end - 1 on, the window ends at s_end:
//     start max(s_end - (R-1), 0);
//  2. starts are non-decreasing: each becomes the minimum of itself and
//     every later start (the largest non-decreasing lower bound);
//  3. they grow by less than max_step per frame and frame 0 starts at 0:
//     with ramp[t] = t * (max_step - 1), that is "ramp - start is
//     non-decreasing and >= 0", a second suffix minimum in that space,
//     of slack[t] = ramp[t] - lower[t];
//  4. clamped into [0, S+1-R], so every range lies in [0, S] whatever the
//     boundary (no change for a boundary inside the lattice).
// s_end and t_end are first clamped into the lattice, [0, S] and [0, T], so
// that no arithmetic overflows on a garbage boundary (the losses reject
// those).
struct SettleParams {
  int64_t last_frame;  // t_end - 1: from here on the window ends at s_end
  int64_t last_start;  // max(s_end - (R-1), 0)
  int64_t step;        // max_step - 1
  int64_t top;         // S + 1 - R
};

// Item b's parameters; `boundary` is [B][4] (s_begin, t_begin, s_end, t_end)
// or null for the whole lattice.
RNNT_HOST_DEVICE SettleParams settle_params(const int64_t* boundary, int64_t b, PruneDims d) {
  int64_t s_end = boundary ? boundary[4 * b + 2] : d.S;
  int64_t t_end = boundary ? boundary[4 * b + 3] : d.T;
  s_end = s_end < 0 ? 0 : (s_end > d.S ? d.S : s_end);
  t_end = t_end < 0 ? 0 : (t_end > d.T ? d.T : t_end);
  const int64_t last_start = s_end - (d.R - 1) > 0 ? s_end - (d.R - 1) : 0;
  return {t_end - 1, last_start, d.max_step - 1, d.S + 1 - d.R};
}

// Step 1: frame t's start before the two suffix minima.
RNNT_HOST_DEVICE int64_t chosen_start(int64_t best, int64_t t, SettleParams p) {
  return t < p.last_frame ? best : p.last_start;
}

// Step 3's ramp[t] - lower[t], the quantity of the second suffix minimum.
RNNT_HOST_DEVICE int64_t slack_of(int64_t t, int64_t lower, SettleParams p) {
  return t * p.step - lower;
}

// Steps 3 and 4: frame t's start from the suffix minimum of the slacks.
RNNT_HOST_DEVICE int64_t settled_start(int64_t t, int64_t min_slack, SettleParams p) {
  const int64_t start = t * p.step - (min_slack > 0 ? min_slack : 0);
  return start < 0 ? 0 : (start > p.top ? p.top : start);
}

constexpr int64_t kNoMin = std::numeric_limits<int64_t>::max();  // min of nothing

RNNT_HOST_DEVICE int64_t min_of(int64_t a, int64_t b) { return a < b ? a : b; }

// The whole settling of one item, both suffix minima in one backward sweep
// (the CPU kernel; the CUDA kernel scans in parallel: csrc/cuda/prune_block.h).
// begin[t * stride] holds frame t's best start on entry, its settled start
// on return.
RNNT_HOST_DEVICE void settle_window_starts(int64_t* begin, int64_t stride, SettleParams p,
                                           int64_t T) {
  int64_t lower = kNoMin, slack = kNoMin;
  for (int64_t t = T - 1; t >= 0; --t) {
    lower = min_of(lower, chosen_start(begin[t * stride], t, p));
    slack = min_of(slack, slack_of(t, lower, p));
    begin[t * stride] = settled_start(t, slack, p);
  }
}

// One item's ranges [T][R] (the CPU kernel's work per item): best window
// per frame, the serial settling, then ranges[t][r] = start[t] + r.
template <typename scalar_t>
RNNT_HOST_DEVICE void prune_item_serial(const scalar_t* px, int64_t px_cols, const scalar_t* py,
                                        SettleParams p, PruneDims d, int64_t* ranges) {
  for (int64_t t = 0; t < d.T; ++t) {
    ranges[t * d.R] = best_window_start<scalar_t, double>(px + t, px_cols, py + t, d.T, d);
  }
  settle_window_starts(ranges, d.R, p, d.T);
  for (int64_t t = 0; t < d.T; ++t) {
    for (int64_t r = 1; r < d.R; ++r) ranges[t * d.R + r] = ranges[t * d.R] + r;
  }
}

}  // namespace rnnt

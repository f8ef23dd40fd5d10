// The skewed strip: W consecutive lattice rows of one item's box swept
// together, one SIMD lane per row, in kStripRegisters registers of
// Vec<scalar_t>::size() lanes.
//
// Lane i of the strip is the strip's i-th row; k counts the box's columns
// from the sweep's start. At step j, lane i holds node (i, k = j - i), so
// the strip takes n + W - 1 steps for n columns. Both recursions have the form
//   v(i, k) = v(i-1, k') * symbol_w(i, k)  (+)  v(i, k-1) * blank_w(i, k)
// with k' = k (regular) or k - 1 (modified), in a semiring: the forward in
// log space ((+) = log_add, * = +; rnnt_math.h, forward_node_from), the
// backward in probability space ((+) = +, * = *; backward_node_from). In
// the skew,
//   v(i, k-1)  is lane i   at step j - 1,
//   v(i-1, k)  is lane i-1 at step j - 1,   (regular)
//   v(i-1, k-1) is lane i-1 at step j - 2,  (modified)
// so a step needs only the previous two steps' registers, the symbol term's
// shifted up by one lane. Lane 0's symbol neighbour is on the previous
// strip's last row (the strip's `feed`). The registers of one step depend
// only on the previous steps: independent chains that the CPU overlaps.
//
// A skewed buffer stores step j's W lanes contiguously: (i, k) at
// (k + i) * W + i. Lanes outside the box (the ramp-in triangle k < 0, the
// ramp-out triangle k >= n, rows past the box) hold arc weight `one` and
// start at `zero`; ramp-in lanes then stay exactly `zero`, so a missing arc
// into a box node contributes `zero` as in the scalar sweep, and ramp-out
// and past-the-box lanes only feed each other and are never stored.
//
// The forward's registers hold log-scores relative to a frame offset, a
// double per step (RebasedFrames): every kRebaseSteps steps they move to
// the frame of the previous step's largest score in the box. A score of
// the box is thousands (the sum of hundreds of arcs of -5 to -10), and in
// float32 each p + arc rounds at half an ulp of that (3e-5 at |p| = 1000);
// along the sweep those roundings add up to errors in the differences of
// neighbouring scores, which the backward's arc shares exponentiate: the
// simple loss's lm gradient erred about 10x more than with the recursion
// in float64 on the same float32 arcs, and up to 1.8x more than fast_rnnt's
// float32 scheme on single seeds (bench/float32_error.py, seeds 0-9). In
// its frame a step's scores are within tens of 0, where float32 rounds
// 100x finer; p is their double sum with the frame, rounded once when
// stored.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "lane_math.h"

namespace rnnt {
namespace simd {

// Registers per strip. Two overlap the exp/log1p latency of one step;
// four lose more to the ramps and to rows past the box than they gain
// (bench/bench_recursion.py, B=16 S=100 T=500).
constexpr int kStripRegisters = 2;

// Forward steps per rebasing (a horizontal max over the strip's lanes).
// Between two the scores drift by a few arcs (tens), still 100x below |p|:
// every 4th step keeps the float32 errors of rebasing every step
// (bench/float32_error.py) at +5% forward time instead of +16%.
constexpr int64_t kRebaseSteps = 4;

template <typename scalar_t>
constexpr int64_t strip_rows() {
  return kStripRegisters * Vec<scalar_t>::size();
}

// Lanes [i_begin, i_end) x columns [k_begin, k_end) of a strip.
struct LaneRange {
  int64_t i_begin, i_end, k_begin, k_end;
};

// The arcs that exist inside the box, in strip coordinates: a blank arc
// needs k >= 1; a symbol arc needs a previous row (none for lane 0 of an
// item's first strip) and, when modified, k >= 1.
inline LaneRange blank_arcs(int64_t rows, int64_t n) { return {0, rows, 1, n}; }
inline LaneRange symbol_arcs(int64_t rows, int64_t n, bool first_strip,
                             bool modified) {
  return {first_strip ? 1 : 0, rows, modified ? 1 : 0, n};
}

// The forward's semiring: values are log-scores.
struct LogSemiring {
  template <typename scalar_t>
  static scalar_t zero() { return neg_inf<scalar_t>(); }
  template <typename scalar_t>
  static scalar_t one() { return scalar_t(0); }
  template <typename V>
  static V plus(const V& a, const V& b) { return log_add(a, b); }
  template <typename V>
  static V times(const V& a, const V& b) { return a + b; }
};

// The backward's semiring: values are probabilities.
struct ProbSemiring {
  template <typename scalar_t>
  static scalar_t zero() { return scalar_t(0); }
  template <typename scalar_t>
  static scalar_t one() { return scalar_t(1); }
  template <typename V>
  static V plus(const V& a, const V& b) { return a + b; }
  template <typename V>
  static V times(const V& a, const V& b) { return a * b; }
};

// Per-thread scratch: skewed buffers for one strip of up to `steps` steps,
// the backward's feed, and the forward's feed (absolute scores) and frame
// offsets.
template <typename scalar_t>
struct StripWork {
  static constexpr int kSkewed = 3;
  std::vector<scalar_t> storage;
  std::vector<double> score_feed, frame;
  int64_t steps = 0;
  void reserve_steps(int64_t n_steps) {
    steps = n_steps;
    const size_t need = static_cast<size_t>((kSkewed * strip_rows<scalar_t>() + 1) * steps);
    if (storage.size() < need) storage.resize(need);
    if (frame.size() < static_cast<size_t>(steps)) {
      score_feed.resize(steps);
      frame.resize(steps);
    }
  }
  scalar_t* skewed(int index) { return storage.data() + index * strip_rows<scalar_t>() * steps; }
  scalar_t* feed() { return skewed(kSkewed); }
};

// The backward's frames: probabilities (at most 1), held as they are; lane
// 0's symbol neighbour at step j is feed[j].
template <typename scalar_t>
struct PlainFrames {
  static constexpr bool kRebased = false;
  const scalar_t* feed;
  scalar_t below(int64_t j) const { return feed[j]; }
};

// The forward's frames (top of this file): the registers hold scores minus
// `offset`; step j's stored values (`out`) are relative to frame[j]. feed
// holds lane 0's symbol neighbours as absolute scores; the strip starts in
// the frame of the first finite one. Lanes of the box at step j: i in
// [j - n + 1, j] and i < rows.
template <typename scalar_t>
struct RebasedFrames {
  static constexpr bool kRebased = true;
  const double* feed;
  double* frame;
  int64_t rows, n;
  double offset;
  RebasedFrames(const double* feed_, double* frame_, int64_t rows_, int64_t n_, int64_t steps)
      : feed(feed_), frame(frame_), rows(rows_), n(n_), offset(0) {
    const double* first = std::find_if(feed, feed + steps, [](double v) { return std::isfinite(v); });
    if (first != feed + steps) offset = *first;
  }
  scalar_t below(int64_t j) const { return static_cast<scalar_t>(feed[j] - offset); }
  // After step j (values stored at `out`, W per step, relative to
  // `offset`): records frame[j] and returns the shift the registers take,
  // every kRebaseSteps steps into the frame of the largest finite score of
  // step j - 1's box lanes (NaN and -inf ignored; no shift without one),
  // else 0. Step j - 1's values were stored a step earlier, so this
  // reduction overlaps step j's exp/log1p instead of delaying step j + 1.
  scalar_t rebase(int64_t j, const scalar_t* out) {
    constexpr int64_t W = strip_rows<scalar_t>();
    frame[j] = offset;
    if (j == 0 || j % kRebaseSteps != 0) return scalar_t(0);
    const scalar_t* before = out + (j - 1) * W;
    scalar_t top = neg_inf<scalar_t>();
    for (int64_t i = std::max<int64_t>(0, j - n); i < std::min(rows, j); ++i) {
      top = before[i] > top ? before[i] : top;
    }
    if (!(top > neg_inf<scalar_t>() && top < -neg_inf<scalar_t>())) return scalar_t(0);
    const scalar_t shift = static_cast<scalar_t>(frame[j - 1] + top - offset);
    offset += shift;
    return shift;
  }
};

// buf = pad everywhere, then value(i, k) at (i, k) for (i, k) in range.
template <typename scalar_t, typename Value>
void skew_in(scalar_t* buf, int64_t steps, LaneRange r, scalar_t pad,
             const Value& value) {
  constexpr int64_t W = strip_rows<scalar_t>();
  std::fill(buf, buf + steps * W, pad);
  for (int64_t i = r.i_begin; i < r.i_end; ++i) {
    for (int64_t k = r.k_begin; k < r.k_end; ++k) {
      buf[(k + i) * W + i] = value(i, k);
    }
  }
}

// store(i, k, buf at (i, k)) for (i, k) in range.
template <typename scalar_t, typename Store>
void skew_out(const scalar_t* buf, LaneRange r, const Store& store) {
  constexpr int64_t W = strip_rows<scalar_t>();
  for (int64_t i = r.i_begin; i < r.i_end; ++i) {
    for (int64_t k = r.k_begin; k < r.k_end; ++k) {
      store(i, k, buf[(k + i) * W + i]);
    }
  }
}

// Lane 0's symbol neighbours for an item's first strip: a virtual symbol arc
// of weight `one` from a node of value `one` makes v(0, 0) = one exactly
// (the recursion's start); `zero` after it.
template <typename Semiring, typename feed_t>
void first_strip_feed(feed_t* feed, int64_t steps) {
  std::fill(feed, feed + steps, Semiring::template zero<feed_t>());
  feed[0] = Semiring::template one<feed_t>();
}

// Lane 0's symbol neighbours for the strip after a full strip of W rows
// (steps n + W - 1): at step j, node (W-1, k') of that strip, last_row(k'),
// with k' = j (regular) or j - 1 (modified); `zero` where k' is outside
// [0, n).
template <typename Semiring, typename feed_t, typename LastRow>
void next_strip_feed(feed_t* feed, int64_t steps, int64_t n, bool modified,
                     const LastRow& last_row) {
  const int64_t shift = modified ? 1 : 0;
  std::fill(feed, feed + steps, Semiring::template zero<feed_t>());
  for (int64_t k = 0; k < n; ++k) feed[k + shift] = last_row(k);
}

// The recursion over one strip (see the top of this file): writes step j's
// values to out + j * W (relative to frames.frame[j] when rebased).
template <bool kModified, typename Semiring, typename scalar_t, typename Frames>
void sweep_strip(const scalar_t* symbol_w, const scalar_t* blank_w, Frames& frames,
                 scalar_t* out, int64_t steps) {
  using Regs = std::array<Vec<scalar_t>, kStripRegisters>;
  constexpr int64_t W = strip_rows<scalar_t>(), V = Vec<scalar_t>::size();
  Regs last, before_last, here;
  last.fill(Vec<scalar_t>(Semiring::template zero<scalar_t>()));
  before_last = last;
  for (int64_t j = 0; j < steps; ++j) {
    const Regs& symbol_source = kModified ? before_last : last;
    for (int r = 0; r < kStripRegisters; ++r) {
      const Vec<scalar_t> below = r == 0 ? Vec<scalar_t>(frames.below(j)) : symbol_source[r - 1];
      const int64_t offset = j * W + r * V;
      const Vec<scalar_t> via_symbol = Semiring::times(
          shift_lanes_up(symbol_source[r], below), Vec<scalar_t>::loadu(symbol_w + offset));
      const Vec<scalar_t> via_blank =
          Semiring::times(last[r], Vec<scalar_t>::loadu(blank_w + offset));
      here[r] = Semiring::plus(via_symbol, via_blank);
      here[r].store(out + offset);
    }
    before_last = last;
    last = here;
    if constexpr (Frames::kRebased) {
      // The next step reads `last` and (modified) `before_last`: both
      // move to the new frame.
      const Vec<scalar_t> shift(frames.rebase(j, out));
      for (int r = 0; r < kStripRegisters; ++r) {
        last[r] = last[r] - shift;
        if (kModified) before_last[r] = before_last[r] - shift;
      }
    }
  }
}

}  // namespace simd
}  // namespace rnnt

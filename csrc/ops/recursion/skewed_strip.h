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
#pragma once

#include <algorithm>
#include <array>
#include <vector>

#include "lane_math.h"

namespace rnnt {
namespace simd {

// Registers per strip. Two overlap the exp/log1p latency of one step;
// four lose more to the ramps and to rows past the box than they gain
// (bench/bench_recursion.py, B=16 S=100 T=500).
constexpr int kStripRegisters = 2;

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

// Per-thread scratch: skewed buffers for one strip of up to `steps` steps.
template <typename scalar_t>
struct StripWork {
  static constexpr int kSkewed = 3;
  std::vector<scalar_t> storage;
  int64_t steps = 0;
  void reserve_steps(int64_t n_steps) {
    steps = n_steps;
    const size_t need = static_cast<size_t>((kSkewed * strip_rows<scalar_t>() + 1) * steps);
    if (storage.size() < need) storage.resize(need);
  }
  scalar_t* skewed(int index) { return storage.data() + index * strip_rows<scalar_t>() * steps; }
  scalar_t* feed() { return skewed(kSkewed); }
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
template <typename Semiring, typename scalar_t>
void first_strip_feed(scalar_t* feed, int64_t steps) {
  std::fill(feed, feed + steps, Semiring::template zero<scalar_t>());
  feed[0] = Semiring::template one<scalar_t>();
}

// Lane 0's symbol neighbours for the strip after a full strip whose values
// are in `out`: at step j, node (W-1, k') of `out` with k' = j (regular) or
// j - 1 (modified), which `out` holds at step k' + W - 1; -inf where k' is
// outside [0, n) (`zero`).
template <typename Semiring, typename scalar_t>
void next_strip_feed(scalar_t* feed, const scalar_t* out, int64_t n,
                     bool modified) {
  constexpr int64_t W = strip_rows<scalar_t>();
  const int64_t steps = n + W - 1;
  const int64_t shift = modified ? 1 : 0;
  std::fill(feed, feed + steps, Semiring::template zero<scalar_t>());
  for (int64_t k = 0; k < n; ++k) {
    feed[k + shift] = out[(k + W - 1) * W + W - 1];
  }
}

// The recursion over one strip (see the top of this file): writes step j's
// values to out + j * W.
template <bool kModified, typename Semiring, typename scalar_t>
void sweep_strip(const scalar_t* symbol_w, const scalar_t* blank_w,
                 const scalar_t* feed, scalar_t* out, int64_t steps) {
  using Regs = std::array<Vec<scalar_t>, kStripRegisters>;
  constexpr int64_t W = strip_rows<scalar_t>(), V = Vec<scalar_t>::size();
  Regs last, before_last, here;
  last.fill(Vec<scalar_t>(Semiring::template zero<scalar_t>()));
  before_last = last;
  for (int64_t j = 0; j < steps; ++j) {
    const Regs& symbol_source = kModified ? before_last : last;
    for (int r = 0; r < kStripRegisters; ++r) {
      const Vec<scalar_t> below = r == 0 ? Vec<scalar_t>(feed[j]) : symbol_source[r - 1];
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
  }
}

}  // namespace simd
}  // namespace rnnt

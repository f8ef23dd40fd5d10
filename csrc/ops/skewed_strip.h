// The skewed strip: W = Vec<scalar_t>::size() consecutive lattice rows of one
// item's box swept together, one SIMD lane per row.
//
// Lane i of the strip is the strip's i-th row; k counts the box's columns
// from the sweep's start. At step j, lane i holds node (i, k = j - i), so
// the strip takes n + W - 1 steps for n columns. Both recursions have the form
//   v(i, k) = log_add(v(i-1, k') + symbol_w(i, k), v(i, k-1) + blank_w(i, k))
// with k' = k (regular) or k - 1 (modified); see rnnt_math.h. In the skew,
//   v(i, k-1)  is lane i   at step j - 1,
//   v(i-1, k)  is lane i-1 at step j - 1,   (regular)
//   v(i-1, k-1) is lane i-1 at step j - 2,  (modified)
// so a step needs only the previous two steps' registers, the symbol term's
// shifted up by one lane. Lane 0's symbol neighbour is on the previous
// strip's last row (the strip's `feed`).
//
// A skewed buffer stores step j's W lanes contiguously: (i, k) at
// (k + i) * W + i. Lanes outside the box (the ramp-in triangle k < 0, the
// ramp-out triangle k >= n, rows past the box) hold arc weight 0 and start
// at -inf; ramp-in lanes then stay exactly -inf (log_add(-inf, -inf)), so a
// missing arc into a box node contributes -inf as in the scalar sweep, and
// ramp-out and past-the-box lanes only feed each other and are never stored.
#pragma once

#include <algorithm>
#include <vector>

#include "lane_math.h"

namespace rnnt {
namespace simd {

template <typename scalar_t>
constexpr int64_t lanes() {
  return Vec<scalar_t>::size();
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

// Per-thread scratch: skewed buffers for one strip of up to `steps` steps.
template <typename scalar_t>
struct StripWork {
  static constexpr int kSkewed = 6;
  std::vector<scalar_t> storage;
  int64_t steps = 0;
  void reserve_steps(int64_t n_steps) {
    steps = n_steps;
    const size_t need = static_cast<size_t>((kSkewed * lanes<scalar_t>() + 1) * steps);
    if (storage.size() < need) storage.resize(need);
  }
  scalar_t* skewed(int index) { return storage.data() + index * lanes<scalar_t>() * steps; }
  scalar_t* feed() { return skewed(kSkewed); }
};

// buf = pad everywhere, then value(i, k) at (i, k) for (i, k) in range.
template <typename scalar_t, typename Value>
void skew_in(scalar_t* buf, int64_t steps, LaneRange r, scalar_t pad,
             const Value& value) {
  constexpr int64_t W = lanes<scalar_t>();
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
  constexpr int64_t W = lanes<scalar_t>();
  for (int64_t i = r.i_begin; i < r.i_end; ++i) {
    for (int64_t k = r.k_begin; k < r.k_end; ++k) {
      store(i, k, buf[(k + i) * W + i]);
    }
  }
}

// Lane 0's symbol neighbours for an item's first strip: a virtual symbol arc
// of weight 0 from a node of value 0 makes v(0, 0) = log_add(0, -inf) = 0
// exactly (the recursion's start); -inf after it.
template <typename scalar_t>
void first_strip_feed(scalar_t* feed, int64_t steps) {
  std::fill(feed, feed + steps, neg_inf<scalar_t>());
  feed[0] = scalar_t(0);
}

// Lane 0's symbol neighbours for the strip after a full strip whose values
// are in `out`: at step j, node (W-1, k') of `out` with k' = j (regular) or
// j - 1 (modified), which `out` holds at step k' + W - 1; -inf where k' is
// outside [0, n).
template <typename scalar_t>
void next_strip_feed(scalar_t* feed, const scalar_t* out, int64_t n,
                     bool modified) {
  constexpr int64_t W = lanes<scalar_t>();
  const int64_t steps = n + W - 1;
  const int64_t shift = modified ? 1 : 0;
  std::fill(feed, feed + steps, neg_inf<scalar_t>());
  for (int64_t k = 0; k < n; ++k) {
    feed[k + shift] = out[(k + W - 1) * W + W - 1];
  }
}

// The recursion over one strip (see the top of this file): writes step j's
// values to out + j * W and calls on_step(j, via_symbol, via_blank) with the
// two log_add operands, for the backward's occupation probabilities.
template <bool kModified, typename scalar_t, typename OnStep>
void sweep_strip(const scalar_t* symbol_w, const scalar_t* blank_w,
                 const scalar_t* feed, scalar_t* out, int64_t steps,
                 const OnStep& on_step) {
  constexpr int64_t W = lanes<scalar_t>();
  Vec<scalar_t> last(neg_inf<scalar_t>()), before_last(neg_inf<scalar_t>());
  for (int64_t j = 0; j < steps; ++j) {
    const Vec<scalar_t> symbol_neighbour =
        shift_lanes_up(kModified ? before_last : last, feed[j]);
    const Vec<scalar_t> via_symbol =
        symbol_neighbour + Vec<scalar_t>::loadu(symbol_w + j * W);
    const Vec<scalar_t> via_blank = last + Vec<scalar_t>::loadu(blank_w + j * W);
    const Vec<scalar_t> here = log_add(via_symbol, via_blank);
    here.store(out + j * W);
    on_step(j, via_symbol, via_blank);
    before_last = last;
    last = here;
  }
}

}  // namespace simd
}  // namespace rnnt

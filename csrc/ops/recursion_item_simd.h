// Vectorised recursion over one batch item: the box's rows in skewed strips
// of W rows (skewed_strip.h), same results as forward_item/backward_item of
// recursion_item.h up to the rounding of the vectorised exp/log1p. Used by
// the CPU kernels; the scalar sweeps stay the reference (and serve the ONNX
// Runtime custom ops).
#pragma once

#include <algorithm>

#include "skewed_strip.h"

namespace rnnt {
namespace simd {

// Fills p ([S+1][T+1]; -inf outside the box) and returns p[s_end, t_end].
// Strips run up from s_begin; strip node (i, k) is (s0 + i, t_begin + k).
template <bool kModified, typename scalar_t>
scalar_t forward_sweep(const scalar_t* px, const scalar_t* py, scalar_t* p,
                      LatticeDims d, Box box, StripWork<scalar_t>& work) {
  constexpr int64_t W = lanes<scalar_t>();
  const int64_t n = box.t_end - box.t_begin + 1, shift = kModified ? 1 : 0;
  work.reserve_steps(n + W - 1);
  scalar_t *symbol_w = work.skewed(0), *blank_w = work.skewed(1),
           *out = work.skewed(2), *feed = work.feed();
  std::fill(p, p + (d.S + 1) * d.p_cols(), neg_inf<scalar_t>());
  first_strip_feed(feed, work.steps);
  for (int64_t s0 = box.s_begin; s0 <= box.s_end; s0 += W) {
    const int64_t rows = std::min(W, box.s_end - s0 + 1);
    const int64_t t0 = box.t_begin;
    // Arcs into (s, t): symbol px[s-1, t - shift], blank py[s, t-1].
    skew_in(symbol_w, work.steps, symbol_arcs(rows, n, s0 == box.s_begin, kModified),
            scalar_t(0), [&](int64_t i, int64_t k) {
              return px[(s0 + i - 1) * d.px_cols() + t0 + k - shift];
            });
    skew_in(blank_w, work.steps, blank_arcs(rows, n), scalar_t(0),
            [&](int64_t i, int64_t k) {
              return py[(s0 + i) * d.py_cols() + t0 + k - 1];
            });
    sweep_strip<kModified>(symbol_w, blank_w, feed, out, work.steps,
                           [](int64_t, const Vec<scalar_t>&, const Vec<scalar_t>&) {});
    skew_out(out, LaneRange{0, rows, 0, n}, [&](int64_t i, int64_t k, scalar_t v) {
      p[(s0 + i) * d.p_cols() + t0 + k] = v;
    });
    next_strip_feed(feed, out, n, kModified);
  }
  return p[box.s_end * d.p_cols() + box.t_end];
}

// Gradients of p[s_end, t_end] w.r.t. px and py (occupation probabilities),
// zero outside the box and for an item with no path (total score -inf). The
// backward values beta run down from s_end: strip node (i, k) is
// (s0 - i, t_end - k), and the arcs leaving it point to the previous lane
// (symbol) and column (blank) of the strip.
template <bool kModified, typename scalar_t>
void backward_sweep(const scalar_t* px, const scalar_t* py, const scalar_t* p,
                   scalar_t* px_grad, scalar_t* py_grad, LatticeDims d,
                   Box box, StripWork<scalar_t>& work) {
  constexpr int64_t W = lanes<scalar_t>();
  std::fill(px_grad, px_grad + d.S * d.px_cols(), scalar_t(0));
  std::fill(py_grad, py_grad + (d.S + 1) * d.py_cols(), scalar_t(0));
  const scalar_t total = p[box.s_end * d.p_cols() + box.t_end];
  if (total == neg_inf<scalar_t>()) return;
  const int64_t n = box.t_end - box.t_begin + 1;
  work.reserve_steps(n + W - 1);
  scalar_t *symbol_w = work.skewed(0), *blank_w = work.skewed(1),
           *out = work.skewed(2), *p_here = work.skewed(3),
           *symbol_grad = work.skewed(4), *blank_grad = work.skewed(5),
           *feed = work.feed();
  first_strip_feed(feed, work.steps);
  const Vec<scalar_t> total_v(total);
  for (int64_t s0 = box.s_end; s0 >= box.s_begin; s0 -= W) {
    const int64_t rows = std::min(W, s0 - box.s_begin + 1);
    const int64_t t0 = box.t_end;
    const LaneRange symbols = symbol_arcs(rows, n, s0 == box.s_end, kModified);
    const LaneRange blanks = blank_arcs(rows, n);
    // Arcs out of (s, t): symbol px[s, t], blank py[s, t].
    const auto at = [&](int64_t cols, int64_t i, int64_t k) {
      return (s0 - i) * cols + t0 - k;
    };
    skew_in(symbol_w, work.steps, symbols, scalar_t(0),
            [&](int64_t i, int64_t k) { return px[at(d.px_cols(), i, k)]; });
    skew_in(blank_w, work.steps, blanks, scalar_t(0),
            [&](int64_t i, int64_t k) { return py[at(d.py_cols(), i, k)]; });
    skew_in(p_here, work.steps, LaneRange{0, rows, 0, n}, scalar_t(0),
            [&](int64_t i, int64_t k) { return p[at(d.p_cols(), i, k)]; });
    // The occupation of an arc: exp(p[s,t] + arc + beta[next] - total).
    sweep_strip<kModified>(
        symbol_w, blank_w, feed, out, work.steps,
        [&](int64_t j, const Vec<scalar_t>& via_symbol, const Vec<scalar_t>& via_blank) {
          const Vec<scalar_t> here = Vec<scalar_t>::loadu(p_here + j * W);
          occupation(here + via_symbol - total_v).store(symbol_grad + j * W);
          occupation(here + via_blank - total_v).store(blank_grad + j * W);
        });
    skew_out(symbol_grad, symbols, [&](int64_t i, int64_t k, scalar_t v) {
      px_grad[at(d.px_cols(), i, k)] = v;
    });
    skew_out(blank_grad, blanks, [&](int64_t i, int64_t k, scalar_t v) {
      py_grad[at(d.py_cols(), i, k)] = v;
    });
    next_strip_feed(feed, out, n, kModified);
  }
}

// The sweeps above, for d.modified.
template <typename scalar_t>
scalar_t forward_item(const scalar_t* px, const scalar_t* py, scalar_t* p,
                      LatticeDims d, Box box, StripWork<scalar_t>& work) {
  return d.modified ? forward_sweep<true>(px, py, p, d, box, work)
                    : forward_sweep<false>(px, py, p, d, box, work);
}

template <typename scalar_t>
void backward_item(const scalar_t* px, const scalar_t* py, const scalar_t* p,
                   scalar_t* px_grad, scalar_t* py_grad, LatticeDims d,
                   Box box, StripWork<scalar_t>& work) {
  if (d.modified) {
    backward_sweep<true>(px, py, p, px_grad, py_grad, d, box, work);
  } else {
    backward_sweep<false>(px, py, p, px_grad, py_grad, d, box, work);
  }
}

}  // namespace simd
}  // namespace rnnt

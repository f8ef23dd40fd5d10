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
  constexpr int64_t W = strip_rows<scalar_t>();
  const int64_t n = box.t_end - box.t_begin + 1, shift = kModified ? 1 : 0;
  const int64_t t0 = box.t_begin;
  work.reserve_steps(n + W - 1);
  scalar_t *symbol_w = work.skewed(0), *blank_w = work.skewed(1),
           *out = work.skewed(2), *feed = work.feed();
  std::fill(p, p + (d.S + 1) * d.p_cols(), neg_inf<scalar_t>());
  first_strip_feed(feed, work.steps);
  for (int64_t s0 = box.s_begin; s0 <= box.s_end; s0 += W) {
    const int64_t rows = std::min(W, box.s_end - s0 + 1);
    // Arcs into (s, t): symbol px[s-1, t - shift], blank py[s, t-1].
    skew_in(symbol_w, work.steps, symbol_arcs(rows, n, s0 == box.s_begin, kModified),
            scalar_t(0), [&](int64_t i, int64_t k) {
              return px[(s0 + i - 1) * d.px_cols() + t0 + k - shift];
            });
    skew_in(blank_w, work.steps, blank_arcs(rows, n), scalar_t(0),
            [&](int64_t i, int64_t k) {
              return py[(s0 + i) * d.py_cols() + t0 + k - 1];
            });
    sweep_strip<kModified>(symbol_w, blank_w, feed, out, work.steps);
    skew_out(out, LaneRange{0, rows, 0, n}, [&](int64_t i, int64_t k, scalar_t v) {
      p[(s0 + i) * d.p_cols() + t0 + k] = v;
    });
    next_strip_feed(feed, out, n, kModified);
  }
  return p[box.s_end * d.p_cols() + box.t_end];
}

// Fills beta inside the box: beta[s, t] is the log-score of the partial
// paths from (s, t) to (s_end, t_end) (rnnt_math.h, backward_node_from).
// Strips run down from s_end; strip node (i, k) is (s0 - i, t_end - k), and
// the arcs leaving it point to the previous lane (symbol) and column (blank).
template <bool kModified, typename scalar_t>
void beta_sweep(const scalar_t* px, const scalar_t* py, scalar_t* beta,
                LatticeDims d, Box box, StripWork<scalar_t>& work) {
  constexpr int64_t W = strip_rows<scalar_t>();
  const int64_t n = box.t_end - box.t_begin + 1, t0 = box.t_end;
  work.reserve_steps(n + W - 1);
  scalar_t *symbol_w = work.skewed(0), *blank_w = work.skewed(1),
           *out = work.skewed(2), *feed = work.feed();
  first_strip_feed(feed, work.steps);
  for (int64_t s0 = box.s_end; s0 >= box.s_begin; s0 -= W) {
    const int64_t rows = std::min(W, s0 - box.s_begin + 1);
    const auto index = [&](int64_t cols, int64_t i, int64_t k) {
      return (s0 - i) * cols + t0 - k;
    };
    // Arcs out of (s, t): symbol px[s, t], blank py[s, t].
    skew_in(symbol_w, work.steps, symbol_arcs(rows, n, s0 == box.s_end, kModified),
            scalar_t(0), [&](int64_t i, int64_t k) { return px[index(d.px_cols(), i, k)]; });
    skew_in(blank_w, work.steps, blank_arcs(rows, n), scalar_t(0),
            [&](int64_t i, int64_t k) { return py[index(d.py_cols(), i, k)]; });
    sweep_strip<kModified>(symbol_w, blank_w, feed, out, work.steps);
    skew_out(out, LaneRange{0, rows, 0, n}, [&](int64_t i, int64_t k, scalar_t v) {
      beta[index(d.p_cols(), i, k)] = v;
    });
    next_strip_feed(feed, out, n, kModified);
  }
}

// grad[t] = occupation(p_here[t] + (arc[t] + beta_next[t]) - total) for t in
// [0, n): the occupation probability of the arcs leaving n nodes of a row,
// in the scalar sweep's order of operations.
template <typename scalar_t>
void row_occupations(const scalar_t* p_here, const scalar_t* arc,
                     const scalar_t* beta_next, scalar_t total, scalar_t* grad,
                     int64_t n) {
  constexpr int64_t V = Vec<scalar_t>::size();
  const Vec<scalar_t> total_v(total);
  for (int64_t t = 0; t < n; t += V) {
    const int64_t count = std::min(V, n - t);
    const Vec<scalar_t> via =
        Vec<scalar_t>::loadu(arc + t, count) + Vec<scalar_t>::loadu(beta_next + t, count);
    occupation(Vec<scalar_t>::loadu(p_here + t, count) + via - total_v)
        .store(grad + t, count);
  }
}

// Gradients of p[s_end, t_end] w.r.t. px and py (occupation probabilities),
// zero outside the box and for an item with no path (total score -inf).
// beta is a [S+1][T+1] workspace.
template <bool kModified, typename scalar_t>
void backward_sweep(const scalar_t* px, const scalar_t* py, const scalar_t* p,
                    scalar_t* beta, scalar_t* px_grad, scalar_t* py_grad,
                    LatticeDims d, Box box, StripWork<scalar_t>& work) {
  std::fill(px_grad, px_grad + d.S * d.px_cols(), scalar_t(0));
  std::fill(py_grad, py_grad + (d.S + 1) * d.py_cols(), scalar_t(0));
  const scalar_t total = p[box.s_end * d.p_cols() + box.t_end];
  if (total == neg_inf<scalar_t>()) return;
  beta_sweep<kModified>(px, py, beta, d, box, work);
  // Arcs leaving row s: blanks at t in [t_begin, t_end); symbols (below
  // s_end) at t in [t_begin, t_end] or, modified, [t_begin, t_end).
  const int64_t tb = box.t_begin, blanks = box.t_end - tb;
  const int64_t symbols = kModified ? blanks : blanks + 1, next = kModified ? 1 : 0;
  for (int64_t s = box.s_begin; s <= box.s_end; ++s) {
    const scalar_t* p_row = p + s * d.p_cols() + tb;
    const scalar_t* beta_row = beta + s * d.p_cols() + tb;
    row_occupations(p_row, py + s * d.py_cols() + tb, beta_row + 1, total,
                    py_grad + s * d.py_cols() + tb, blanks);
    if (s < box.s_end) {
      row_occupations(p_row, px + s * d.px_cols() + tb, beta_row + d.p_cols() + next,
                      total, px_grad + s * d.px_cols() + tb, symbols);
    }
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
                   scalar_t* beta, scalar_t* px_grad, scalar_t* py_grad,
                   LatticeDims d, Box box, StripWork<scalar_t>& work) {
  if (d.modified) {
    backward_sweep<true>(px, py, p, beta, px_grad, py_grad, d, box, work);
  } else {
    backward_sweep<false>(px, py, p, beta, px_grad, py_grad, d, box, work);
  }
}

}  // namespace simd
}  // namespace rnnt

// Vectorised recursion over one batch item: the box's rows in skewed strips
// of W rows (skewed_strip.h), same results as forward_item/backward_item of
// recursion_item.h up to rounding: the vectorised exp/log1p, and the
// forward's rebased frames, which in float32 round about 100x finer than
// the scalar sweep's (and the CUDA wavefront's) plain accumulation of p.
// Used by the CPU kernels; the scalar sweeps stay the reference (and serve
// the ONNX Runtime custom ops).
#pragma once

#include <algorithm>

#include "skewed_strip.h"

namespace rnnt {
namespace simd {

// Fills p ([S+1][T+1]; -inf outside the box) and returns p[s_end, t_end].
// Strips run up from s_begin; strip node (i, k) is (s0 + i, t_begin + k).
// The strips' scores are relative to per-step frames (skewed_strip.h,
// RebasedFrames), added back in double when stored.
template <bool kModified, typename scalar_t>
scalar_t forward_sweep(const scalar_t* px, const scalar_t* py, scalar_t* p,
                       LatticeDims d, Box box, StripWork<scalar_t>& work) {
  constexpr int64_t W = strip_rows<scalar_t>();
  const int64_t n = box.t_end - box.t_begin + 1, shift = kModified ? 1 : 0;
  const int64_t t0 = box.t_begin;
  work.reserve_steps(n + W - 1);
  scalar_t *symbol_w = work.skewed(0), *blank_w = work.skewed(1), *out = work.skewed(2);
  double *feed = work.score_feed.data(), *frame = work.frame.data();
  std::fill(p, p + (d.S + 1) * d.p_cols(), neg_inf<scalar_t>());
  first_strip_feed<LogSemiring>(feed, work.steps);
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
    RebasedFrames<scalar_t> frames(feed, frame, rows, n, work.steps);
    sweep_strip<kModified, LogSemiring>(symbol_w, blank_w, frames, out, work.steps);
    // The score of strip node (i, k), stored at step k + i.
    const auto score = [&](int64_t i, int64_t k) {
      return static_cast<double>(out[(k + i) * W + i]) + frame[k + i];
    };
    skew_out(out, LaneRange{0, rows, 0, n}, [&](int64_t i, int64_t k, scalar_t) {
      p[(s0 + i) * d.p_cols() + t0 + k] = static_cast<scalar_t>(score(i, k));
    });
    next_strip_feed<LogSemiring>(feed, work.steps, n, kModified,
                                 [&](int64_t k) { return score(W - 1, k); });
  }
  return p[box.s_end * d.p_cols() + box.t_end];
}

// Writes the shares of the arcs entering every node of the box
// (rnnt_math.h, split_node) at the arcs' positions in px_share/py_share.
// Nodes with two incoming arcs (t > t_begin, s > s_begin) go a vector at a
// time; the first row and column, with one arc at most, node by node.
template <bool kModified, typename scalar_t>
void split_item(const scalar_t* px, const scalar_t* py, const scalar_t* p,
                scalar_t* px_share, scalar_t* py_share, LatticeDims d, Box box) {
  constexpr int64_t V = Vec<scalar_t>::size();
  const int64_t shift = kModified ? 1 : 0;
  for (int64_t s = box.s_begin; s <= box.s_end; ++s) {
    const int64_t vector_from = s == box.s_begin ? box.t_end + 1 : box.t_begin + 1;
    for (int64_t t = box.t_begin; t < vector_from; ++t) {
      split_node(px, py, p, px_share, py_share, d, box, s, t);
    }
    // Symbol term p[s-1, t-shift] + px[s-1, t-shift], blank term
    // p[s, t-1] + py[s, t-1], as in forward_node_from.
    const int64_t p_symbol = (s - 1) * d.p_cols() - shift, p_blank = s * d.p_cols() - 1;
    const int64_t x_at = (s - 1) * d.px_cols() - shift, y_at = s * d.py_cols() - 1;
    for (int64_t t = vector_from; t <= box.t_end; t += V) {
      const int64_t count = std::min(V, box.t_end + 1 - t);
      Vec<scalar_t> symbol_share, blank_share;
      arc_shares(Vec<scalar_t>::loadu(p + p_symbol + t, count),
                 Vec<scalar_t>::loadu(px + x_at + t, count),
                 Vec<scalar_t>::loadu(p + p_blank + t, count),
                 Vec<scalar_t>::loadu(py + y_at + t, count), symbol_share, blank_share);
      symbol_share.store(px_share + x_at + t, count);
      blank_share.store(py_share + y_at + t, count);
    }
  }
}

// Fills g inside the box: g[s, t] is the occupation probability of node
// (s, t), from the shares of the arcs leaving it (rnnt_math.h,
// backward_node_from). Strips run down from s_end; strip node (i, k) is
// (s0 - i, t_end - k), and the arcs leaving it point to the previous lane
// (symbol) and column (blank).
template <bool kModified, typename scalar_t>
void occupation_sweep(const scalar_t* px_share, const scalar_t* py_share, scalar_t* g,
                      LatticeDims d, Box box, StripWork<scalar_t>& work) {
  constexpr int64_t W = strip_rows<scalar_t>();
  const int64_t n = box.t_end - box.t_begin + 1, t0 = box.t_end;
  work.reserve_steps(n + W - 1);
  scalar_t *symbol_w = work.skewed(0), *blank_w = work.skewed(1),
           *out = work.skewed(2), *feed = work.feed();
  first_strip_feed<ProbSemiring>(feed, work.steps);
  for (int64_t s0 = box.s_end; s0 >= box.s_begin; s0 -= W) {
    const int64_t rows = std::min(W, s0 - box.s_begin + 1);
    const auto index = [&](int64_t cols, int64_t i, int64_t k) {
      return (s0 - i) * cols + t0 - k;
    };
    skew_in(symbol_w, work.steps, symbol_arcs(rows, n, s0 == box.s_end, kModified),
            scalar_t(1), [&](int64_t i, int64_t k) { return px_share[index(d.px_cols(), i, k)]; });
    skew_in(blank_w, work.steps, blank_arcs(rows, n), scalar_t(1),
            [&](int64_t i, int64_t k) { return py_share[index(d.py_cols(), i, k)]; });
    PlainFrames<scalar_t> frames{feed};
    sweep_strip<kModified, ProbSemiring>(symbol_w, blank_w, frames, out, work.steps);
    skew_out(out, LaneRange{0, rows, 0, n}, [&](int64_t i, int64_t k, scalar_t v) {
      g[index(d.p_cols(), i, k)] = v;
    });
    next_strip_feed<ProbSemiring>(feed, work.steps, n, kModified, [&](int64_t k) {
      return out[(k + W - 1) * W + W - 1];
    });
  }
}

// share[t] *= g_head[t] for t in [0, n): the gradients of the arcs leaving
// n nodes of a row, from their shares and the occupation of their heads.
template <typename scalar_t>
void row_products(scalar_t* share, const scalar_t* g_head, int64_t n) {
  constexpr int64_t V = Vec<scalar_t>::size();
  for (int64_t t = 0; t < n; t += V) {
    const int64_t count = std::min(V, n - t);
    (Vec<scalar_t>::loadu(share + t, count) * Vec<scalar_t>::loadu(g_head + t, count))
        .store(share + t, count);
  }
}

// Gradients of p[s_end, t_end] w.r.t. px and py (occupation probabilities),
// zero outside the box and for an item with no path (total score -inf), by
// the backward recursion of rnnt_math.h: shares, node occupations, then
// each arc's share times its head's occupation. g is a [S+1][T+1] workspace.
template <bool kModified, typename scalar_t>
void backward_sweep(const scalar_t* px, const scalar_t* py, const scalar_t* p,
                    scalar_t* g, scalar_t* px_grad, scalar_t* py_grad,
                    LatticeDims d, Box box, StripWork<scalar_t>& work) {
  std::fill(px_grad, px_grad + d.S * d.px_cols(), scalar_t(0));
  std::fill(py_grad, py_grad + (d.S + 1) * d.py_cols(), scalar_t(0));
  if (p[box.s_end * d.p_cols() + box.t_end] == neg_inf<scalar_t>()) return;
  split_item<kModified>(px, py, p, px_grad, py_grad, d, box);
  occupation_sweep<kModified>(px_grad, py_grad, g, d, box, work);
  // Arcs leaving row s: blanks at t in [t_begin, t_end); symbols (below
  // s_end) at t in [t_begin, t_end] or, modified, [t_begin, t_end).
  const int64_t tb = box.t_begin, blanks = box.t_end - tb;
  const int64_t symbols = kModified ? blanks : blanks + 1, next = kModified ? 1 : 0;
  for (int64_t s = box.s_begin; s <= box.s_end; ++s) {
    const scalar_t* g_row = g + s * d.p_cols() + tb;
    row_products(py_grad + s * d.py_cols() + tb, g_row + 1, blanks);
    if (s < box.s_end) {
      row_products(px_grad + s * d.px_cols() + tb, g_row + d.p_cols() + next, symbols);
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
                   scalar_t* g, scalar_t* px_grad, scalar_t* py_grad,
                   LatticeDims d, Box box, StripWork<scalar_t>& work) {
  if (d.modified) {
    backward_sweep<true>(px, py, p, g, px_grad, py_grad, d, box, work);
  } else {
    backward_sweep<false>(px, py, p, g, px_grad, py_grad, d, box, work);
  }
}

}  // namespace simd
}  // namespace rnnt

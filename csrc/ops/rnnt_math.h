// Shared math of the RNN-T lattice recursion, for the CPU kernels, the CUDA
// kernels and the ONNX Runtime custom ops. No ATen here: plain C++ that also
// compiles as CUDA device code.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define RNNT_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define RNNT_HOST_DEVICE inline
#endif

namespace rnnt {

template <typename scalar_t>
RNNT_HOST_DEVICE scalar_t neg_inf() {
  return -std::numeric_limits<scalar_t>::infinity();
}

// log(exp(a) + exp(b)), exact for -inf operands (log_add(-inf, -inf) = -inf,
// never NaN) and NaN-propagating: a NaN operand gives a NaN result.
template <typename scalar_t>
RNNT_HOST_DEVICE scalar_t log_add(scalar_t a, scalar_t b) {
  const scalar_t hi = a > b ? a : b;
  const scalar_t lo = a > b ? b : a;
  if (lo == neg_inf<scalar_t>()) return hi;
  return hi + log1p(exp(lo - hi));
}

// exp(x) for an occupation log-probability; 0 where x is -inf.
template <typename scalar_t>
RNNT_HOST_DEVICE scalar_t occupation(scalar_t log_prob) {
  return log_prob == neg_inf<scalar_t>() ? scalar_t(0) : exp(log_prob);
}

// The box of one batch item: the lattice nodes (s, t) with
// s_begin <= s <= s_end and t_begin <= t <= t_end take part in the recursion.
struct Box {
  int64_t s_begin, t_begin, s_end, t_end;
};

// Dimensions shared by every batch item. px is [S][T+1] (regular) or [S][T]
// (modified: a symbol also consumes a frame); py is [S+1][T]; the forward
// table p is [S+1][T+1]. All row-major, contiguous per item.
struct LatticeDims {
  int64_t S, T;
  bool modified;
  RNNT_HOST_DEVICE int64_t px_cols() const { return modified ? T : T + 1; }
  RNNT_HOST_DEVICE int64_t py_cols() const { return T; }
  RNNT_HOST_DEVICE int64_t p_cols() const { return T + 1; }
};

// Whether `box` lies inside the lattice of S symbols and T frames:
// 0 <= s_begin <= s_end <= S and 0 <= t_begin <= t_end <= T (what every
// boundary check asks of each row).
RNNT_HOST_DEVICE bool box_inside(Box box, int64_t S, int64_t T) {
  return 0 <= box.s_begin && box.s_begin <= box.s_end && box.s_end <= S &&
         0 <= box.t_begin && box.t_begin <= box.t_end && box.t_end <= T;
}

// `box` moved inside the lattice (box_inside holds after). The identity on a
// box_inside box, i.e. on a checked boundary; on an
// unchecked one (the backward ops trust the boundary their forward checked)
// it keeps every kernel's reads and writes inside the tables.
RNNT_HOST_DEVICE int64_t clamp_index(int64_t v, int64_t lo, int64_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}
RNNT_HOST_DEVICE Box clamped_to(Box box, LatticeDims d) {
  const int64_t s_begin = clamp_index(box.s_begin, 0, d.S);
  const int64_t t_begin = clamp_index(box.t_begin, 0, d.T);
  return Box{s_begin, t_begin, clamp_index(box.s_end, s_begin, d.S),
             clamp_index(box.t_end, t_begin, d.T)};
}

}  // namespace rnnt

namespace rnnt {

// The two arcs entering (forward) or leaving (backward) one node, with their
// weights read from px/py. has_* is false where the arc leaves the box; the
// weight is then not read. Loading arcs does not depend on p or beta, so a
// GPU kernel can fetch them one wavefront step ahead.
template <typename scalar_t>
struct NodeArcs {
  bool has_symbol, has_blank;
  scalar_t symbol, blank;
};

// A row-major [S+1][T+1] table (p or beta); the node functions below read
// and write p/beta only through get/set, so a GPU kernel can substitute
// on-chip storage with the same interface.
template <typename scalar_t>
struct RowMajorTable {
  scalar_t* data;
  int64_t cols;
  RNNT_HOST_DEVICE scalar_t get(int64_t s, int64_t t) const {
    return data[s * cols + t];
  }
  RNNT_HOST_DEVICE void set(int64_t s, int64_t t, scalar_t v) const {
    data[s * cols + t] = v;
  }
};

// Nodes (s, t) of the box with s + t = k (the k-th anti-diagonal) are those
// with rows s in [lo, hi]; diagonals run from first_diagonal to last_diagonal.
struct DiagonalRows {
  int64_t lo, hi;
};
RNNT_HOST_DEVICE int64_t first_diagonal(Box box) {
  return box.s_begin + box.t_begin;
}
RNNT_HOST_DEVICE int64_t last_diagonal(Box box) { return box.s_end + box.t_end; }
RNNT_HOST_DEVICE DiagonalRows diagonal_rows(Box box, int64_t k) {
  const int64_t lo = k - box.t_end > box.s_begin ? k - box.t_end : box.s_begin;
  const int64_t hi = k - box.t_begin < box.s_end ? k - box.t_begin : box.s_end;
  return {lo, hi};
}

// Arcs entering (s,t): symbol from (s-1, t) (regular) or (s-1, t-1)
// (modified) with weight px[s-1, t or t-1]; blank from (s, t-1) with weight
// py[s, t-1].
template <typename scalar_t>
RNNT_HOST_DEVICE NodeArcs<scalar_t> forward_arcs(const scalar_t* px,
                                                 const scalar_t* py,
                                                 LatticeDims d, Box box,
                                                 int64_t s, int64_t t) {
  NodeArcs<scalar_t> a{false, false, scalar_t(0), scalar_t(0)};
  a.has_symbol = s > box.s_begin && (!d.modified || t > box.t_begin);
  a.has_blank = t > box.t_begin;
  if (a.has_symbol) a.symbol = px[(s - 1) * d.px_cols() + t - (d.modified ? 1 : 0)];
  if (a.has_blank) a.blank = py[s * d.py_cols() + t - 1];
  return a;
}

// One node of the forward recursion (k2's mutual_information, log space):
//   regular:  p[s,t] = log_add(p[s-1,t]   + px[s-1,t],   p[s,t-1] + py[s,t-1])
//   modified: p[s,t] = log_add(p[s-1,t-1] + px[s-1,t-1], p[s,t-1] + py[s,t-1])
// with p[s_begin,t_begin] = 0 and terms outside the box taken as -inf.
// `a` = forward_arcs(s, t); p is a table (get) holding the predecessors.
template <typename scalar_t, typename Table>
RNNT_HOST_DEVICE scalar_t forward_node_from(const NodeArcs<scalar_t>& a,
                                            const Table& p, LatticeDims d,
                                            Box box, int64_t s, int64_t t) {
  if (s == box.s_begin && t == box.t_begin) return scalar_t(0);
  const scalar_t from_symbol =
      a.has_symbol ? p.get(s - 1, d.modified ? t - 1 : t) + a.symbol
                   : neg_inf<scalar_t>();
  const scalar_t from_blank =
      a.has_blank ? p.get(s, t - 1) + a.blank : neg_inf<scalar_t>();
  return log_add(from_symbol, from_blank);
}

// forward_node_from on row-major tables of one batch item (see LatticeDims).
template <typename scalar_t>
RNNT_HOST_DEVICE scalar_t forward_node(const scalar_t* px, const scalar_t* py,
                                       const scalar_t* p, LatticeDims d,
                                       Box box, int64_t s, int64_t t) {
  return forward_node_from(forward_arcs(px, py, d, box, s, t),
                           RowMajorTable<const scalar_t>{p, d.p_cols()}, d,
                           box, s, t);
}

// Arcs leaving (s,t): symbol to (s+1, t) (regular) or (s+1, t+1) (modified)
// with weight px[s, t]; blank to (s, t+1) with weight py[s, t].
template <typename scalar_t>
RNNT_HOST_DEVICE NodeArcs<scalar_t> backward_arcs(const scalar_t* px,
                                                  const scalar_t* py,
                                                  LatticeDims d, Box box,
                                                  int64_t s, int64_t t) {
  NodeArcs<scalar_t> a{false, false, scalar_t(0), scalar_t(0)};
  a.has_symbol = s < box.s_end && (!d.modified || t < box.t_end);
  a.has_blank = t < box.t_end;
  if (a.has_symbol) a.symbol = px[s * d.px_cols() + t];
  if (a.has_blank) a.blank = py[s * d.py_cols() + t];
  return a;
}

// One node of the backward recursion: beta[s,t] is the log-score of all
// partial paths from (s,t) to (s_end,t_end),
//   regular:  beta[s,t] = log_add(px[s,t] + beta[s+1,t],   py[s,t] + beta[s,t+1])
//   modified: beta[s,t] = log_add(px[s,t] + beta[s+1,t+1], py[s,t] + beta[s,t+1])
// and the gradient of the total score w.r.t. an arc weight is the arc's
// occupation probability, exp(p[s,t] + arc + beta[next] - total). Sets
// beta(s,t) and writes the gradients of the arcs leaving (s,t) into the
// row-major px_grad/py_grad; `a` = backward_arcs(s, t), p_here = p[s,t].
// `total` must be finite (callers leave all-zero gradients for items
// without a path).
template <typename scalar_t, typename Table>
RNNT_HOST_DEVICE void backward_node_from(const NodeArcs<scalar_t>& a,
                                         scalar_t p_here, const Table& beta,
                                         scalar_t* px_grad, scalar_t* py_grad,
                                         LatticeDims d, Box box,
                                         scalar_t total, int64_t s,
                                         int64_t t) {
  if (s == box.s_end && t == box.t_end) {
    beta.set(s, t, scalar_t(0));
    return;
  }
  scalar_t via_symbol = neg_inf<scalar_t>();
  if (a.has_symbol) {
    via_symbol = a.symbol + beta.get(s + 1, d.modified ? t + 1 : t);
    px_grad[s * d.px_cols() + t] = occupation(p_here + via_symbol - total);
  }
  scalar_t via_blank = neg_inf<scalar_t>();
  if (a.has_blank) {
    via_blank = a.blank + beta.get(s, t + 1);
    py_grad[s * d.py_cols() + t] = occupation(p_here + via_blank - total);
  }
  beta.set(s, t, log_add(via_symbol, via_blank));
}

// backward_node_from on row-major tables of one batch item.
template <typename scalar_t>
RNNT_HOST_DEVICE void backward_node(const scalar_t* px, const scalar_t* py,
                                    const scalar_t* p, scalar_t* beta,
                                    scalar_t* px_grad, scalar_t* py_grad,
                                    LatticeDims d, Box box, scalar_t total,
                                    int64_t s, int64_t t) {
  backward_node_from(backward_arcs(px, py, d, box, s, t), p[s * d.p_cols() + t],
                     RowMajorTable<scalar_t>{beta, d.p_cols()}, px_grad,
                     py_grad, d, box, total, s, t);
}

}  // namespace rnnt

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
// weight is then not read. Loading arcs does not depend on p or g, so a
// GPU kernel can fetch them one wavefront step ahead.
template <typename scalar_t>
struct NodeArcs {
  bool has_symbol, has_blank;
  scalar_t symbol, blank;
};

// A row-major [S+1][T+1] table (p or g); the node functions below read
// and write p/g only through get/set, so a GPU kernel can substitute
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

// The backward recursion, in probability space. The gradient of the total
// score w.r.t. an arc weight is the arc's occupation probability. Written
// as exp(p[tail] + arc + beta[head] - total), its float32 rounding grows
// with |p| + |beta| (thousands on long utterances), because the rounding of
// those sums lands in the exponent. Instead (the scheme of k2/fast_rnnt's
// backward), every node's occupation g is split among the arcs entering it
// in proportion to their forward terms,
//   share(arc tail -> h) = exp(p[tail] + arc - p[h]),
// computed from the node's two incoming terms so that its shares add up to
// one (arc_shares: occupation is conserved exactly); then from the final
// node (g = 1) backwards
//   g[s,t] = share_x[s,t] * g[s+1, t or t+1] + share_y[s,t] * g[s,t+1],
// and the two terms are the gradients of px[s,t] and py[s,t]. Only local
// differences of p enter an exponent, so the error does not grow with the
// scores' magnitude. The shares are stored where the gradients go (px_grad,
// py_grad) and overwritten by them.

// The shares of the two terms of one node's log_add, a = p_symbol + symbol
// (symbol arc) and b = p_blank + blank (blank arc): exp(a - log_add(a, b))
// and exp(b - log_add(a, b)), computed as 1 / (1 + e) and e / (1 + e) with
// e = exp(-|a - b|) so that they add up to one; both 0 for an unreachable
// node (a = b = -inf); NaN-propagating. a - b is taken as
// (p_symbol - p_blank) + (symbol - blank): the forward scores are
// thousands where the arcs are units, and a and b rounded to float32 would
// each lose up to half an ulp of |p| (3e-5 at |p| = 1000), while the
// difference of two neighbouring scores is exact (Sterbenz) and that of two
// arcs rounds at the arcs' magnitude. An absent arc is p = -inf, weight 0.
template <typename scalar_t>
struct ArcShares {
  scalar_t symbol, blank;
};
template <typename scalar_t>
RNNT_HOST_DEVICE ArcShares<scalar_t> arc_shares(scalar_t p_symbol, scalar_t symbol,
                                                scalar_t p_blank, scalar_t blank) {
  if (p_symbol + symbol == neg_inf<scalar_t>() && p_blank + blank == neg_inf<scalar_t>()) {
    return {scalar_t(0), scalar_t(0)};
  }
  // -inf or +inf where exactly one term is -inf (e = 0); NaN from NaN.
  const scalar_t diff = (p_symbol - p_blank) + (symbol - blank);
  const bool symbol_larger = diff > 0;
  const scalar_t e = exp(symbol_larger ? -diff : diff);
  const scalar_t larger = scalar_t(1) / (scalar_t(1) + e);
  const scalar_t smaller = e * larger;
  return symbol_larger ? ArcShares<scalar_t>{larger, smaller}
                       : ArcShares<scalar_t>{smaller, larger};
}

// Writes the shares of the arcs entering (s, t) at the arcs' positions in
// px_share/py_share (row-major like px/py); p is the forward table. The
// terms are those of forward_node_from.
template <typename scalar_t>
RNNT_HOST_DEVICE void split_node(const scalar_t* px, const scalar_t* py,
                                 const scalar_t* p, scalar_t* px_share,
                                 scalar_t* py_share, LatticeDims d, Box box,
                                 int64_t s, int64_t t) {
  const NodeArcs<scalar_t> a = forward_arcs(px, py, d, box, s, t);
  const int64_t symbol_t = d.modified ? t - 1 : t;
  const scalar_t p_symbol =
      a.has_symbol ? p[(s - 1) * d.p_cols() + symbol_t] : neg_inf<scalar_t>();
  const scalar_t p_blank = a.has_blank ? p[s * d.p_cols() + t - 1] : neg_inf<scalar_t>();
  const ArcShares<scalar_t> shares = arc_shares(p_symbol, a.symbol, p_blank, a.blank);
  if (a.has_symbol) px_share[(s - 1) * d.px_cols() + symbol_t] = shares.symbol;
  if (a.has_blank) py_share[s * d.py_cols() + t - 1] = shares.blank;
}

// Arcs leaving (s,t): symbol to (s+1, t) (regular) or (s+1, t+1) (modified)
// at px[s, t]; blank to (s, t+1) at py[s, t]. Loaded from the share tables
// by the backward recursion.
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

// One node of the backward recursion (see above): sets g(s, t) and
// overwrites the shares of the arcs leaving (s, t) in px_grad/py_grad with
// their gradients; `a` = backward_arcs(px_grad, py_grad, s, t) holds the
// shares, g a table (get/set) holding the later nodes.
template <typename scalar_t, typename Table>
RNNT_HOST_DEVICE void backward_node_from(const NodeArcs<scalar_t>& a,
                                         const Table& g, scalar_t* px_grad,
                                         scalar_t* py_grad, LatticeDims d,
                                         Box box, int64_t s, int64_t t) {
  if (s == box.s_end && t == box.t_end) {
    g.set(s, t, scalar_t(1));
    return;
  }
  scalar_t via_symbol = scalar_t(0), via_blank = scalar_t(0);
  if (a.has_symbol) {
    via_symbol = a.symbol * g.get(s + 1, d.modified ? t + 1 : t);
    px_grad[s * d.px_cols() + t] = via_symbol;
  }
  if (a.has_blank) {
    via_blank = a.blank * g.get(s, t + 1);
    py_grad[s * d.py_cols() + t] = via_blank;
  }
  g.set(s, t, via_symbol + via_blank);
}

// backward_node_from on row-major tables of one batch item.
template <typename scalar_t>
RNNT_HOST_DEVICE void backward_node(scalar_t* px_grad, scalar_t* py_grad,
                                    scalar_t* g, LatticeDims d, Box box,
                                    int64_t s, int64_t t) {
  backward_node_from(backward_arcs<scalar_t>(px_grad, py_grad, d, box, s, t),
                     RowMajorTable<scalar_t>{g, d.p_cols()}, px_grad, py_grad,
                     d, box, s, t);
}

}  // namespace rnnt

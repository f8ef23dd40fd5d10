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

}  // namespace rnnt

namespace rnnt {

// One node of the forward recursion (k2's mutual_information, log space):
//   regular:  p[s,t] = log_add(p[s-1,t]   + px[s-1,t],   p[s,t-1] + py[s,t-1])
//   modified: p[s,t] = log_add(p[s-1,t-1] + px[s-1,t-1], p[s,t-1] + py[s,t-1])
// with p[s_begin,t_begin] = 0 and terms outside the box taken as -inf.
// px, py and p point at one batch item's tables (see LatticeDims).
template <typename scalar_t>
RNNT_HOST_DEVICE scalar_t forward_node(const scalar_t* px, const scalar_t* py,
                                       const scalar_t* p, LatticeDims d,
                                       Box box, int64_t s, int64_t t) {
  if (s == box.s_begin && t == box.t_begin) return scalar_t(0);
  const int64_t pc = d.p_cols(), xc = d.px_cols(), yc = d.py_cols();
  scalar_t from_symbol = neg_inf<scalar_t>();
  if (s > box.s_begin) {
    if (!d.modified) {
      from_symbol = p[(s - 1) * pc + t] + px[(s - 1) * xc + t];
    } else if (t > box.t_begin) {
      from_symbol = p[(s - 1) * pc + t - 1] + px[(s - 1) * xc + t - 1];
    }
  }
  const scalar_t from_blank = t > box.t_begin
                                  ? p[s * pc + t - 1] + py[s * yc + t - 1]
                                  : neg_inf<scalar_t>();
  return log_add(from_symbol, from_blank);
}

// One node of the backward recursion: beta[s,t] is the log-score of all
// partial paths from (s,t) to (s_end,t_end),
//   regular:  beta[s,t] = log_add(px[s,t] + beta[s+1,t],   py[s,t] + beta[s,t+1])
//   modified: beta[s,t] = log_add(px[s,t] + beta[s+1,t+1], py[s,t] + beta[s,t+1])
// and the gradient of the total score w.r.t. an arc weight is the arc's
// occupation probability, exp(p[s,t] + arc + beta[next] - total). Writes
// beta[s,t] and the gradients of the arcs leaving (s,t); `total` must be
// finite (callers leave all-zero gradients for items without a path).
template <typename scalar_t>
RNNT_HOST_DEVICE void backward_node(const scalar_t* px, const scalar_t* py,
                                    const scalar_t* p, scalar_t* beta,
                                    scalar_t* px_grad, scalar_t* py_grad,
                                    LatticeDims d, Box box, scalar_t total,
                                    int64_t s, int64_t t) {
  const int64_t pc = d.p_cols(), xc = d.px_cols(), yc = d.py_cols();
  if (s == box.s_end && t == box.t_end) {
    beta[s * pc + t] = scalar_t(0);
    return;
  }
  const scalar_t p_here = p[s * pc + t];
  scalar_t via_symbol = neg_inf<scalar_t>();
  if (s < box.s_end && (!d.modified || t < box.t_end)) {
    const int64_t next_t = d.modified ? t + 1 : t;
    via_symbol = px[s * xc + t] + beta[(s + 1) * pc + next_t];
    px_grad[s * xc + t] = occupation(p_here + via_symbol - total);
  }
  scalar_t via_blank = neg_inf<scalar_t>();
  if (t < box.t_end) {
    via_blank = py[s * yc + t] + beta[s * pc + t + 1];
    py_grad[s * yc + t] = occupation(p_here + via_blank - total);
  }
  beta[s * pc + t] = log_add(via_symbol, via_blank);
}

}  // namespace rnnt

// Shared math of the duration lattices (TDT and multi-blank transducers) for
// the CPU and CUDA kernels. No ATen here: plain C++ that also compiles as
// CUDA device code.
//
// One batch item has T frames and U symbols; its lattice nodes are (t, u)
// with 0 <= t < T, 0 <= u <= U, each with label logits x[t][u][C] (and, for
// TDT, duration logits z[t][u][D]). An arc leaves (t, u) with
//   - a blank-like label c and a duration d >= 1, landing on (t + d, u), or
//   - the next symbol y[u] (u < U) and a duration d >= 0, landing on
//     (t + d, u + 1),
// and must land on a frame < T, except that a blank-like arc from (t, U)
// may land exactly on t = T: that ends a path. Its weight is
//   w = x[c] - logsumexp(x) - sigma  (+ z[i] - logsumexp(z) for TDT),
// i the arc's duration index. With alpha(0, 0) = 0,
//   alpha(t, u) = logsumexp over arcs a into (t, u) of alpha(src) + w_a(src),
//   beta(t, u)  = logsumexp over arcs a out of (t, u) of w_a + beta(dst)
// (beta(end) = 0), and log P = beta(0, 0) = logsumexp over final arcs of
// alpha(src) + w. An arc's occupation is exp(alpha(src) + w + beta(dst) -
// log P); the gradient of -log P w.r.t. x[t][u][c] is
//   occ(t, u) * softmax(x)[c] - sum of occupations of arcs labelled c,
// with occ(t, u) the sum of the occupations of the arcs leaving (t, u)
// (and the same for z with duration indices). With label log-probs instead
// of label logits (label_logprobs: the norm of x is 0, x is not a softmax
// input) that gradient is the occupation sum alone.
#pragma once

#include <cstdint>

#include "recursion/rnnt_math.h"

namespace rnnt {

// exp(x) for a log occupation; 0 where x is -inf.
template <typename acc_t>
RNNT_HOST_DEVICE acc_t exp_or_zero(acc_t log_prob) {
  return log_prob == neg_inf<acc_t>() ? acc_t(0) : exp(log_prob);
}

// Label of the arcs that emit the item's next symbol.
constexpr int64_t kNextSymbol = -1;

// One kind of arc, the same at every node: its label (a class id, or
// kNextSymbol), its frame advance, and the index of its duration logit
// (-1 without duration logits).
struct DurationArc {
  int64_t label;
  int64_t duration;
  int64_t duration_index;
};

RNNT_HOST_DEVICE bool emits_symbol(const DurationArc& arc) {
  return arc.label == kNextSymbol;
}

// Whether the arc leaving (t, u) of an item with T frames and U symbols
// lands on a node of the lattice or ends the path (t + d == T at u == U).
RNNT_HOST_DEVICE bool arc_lands(const DurationArc& arc, int64_t t, int64_t u, int64_t T,
                                int64_t U) {
  const int64_t t_dst = t + arc.duration;
  if (emits_symbol(arc)) return u < U && t_dst < T;
  return t_dst < T || (t_dst == T && u == U);
}

// Whether that arc ends the path.
RNNT_HOST_DEVICE bool arc_ends_path(const DurationArc& arc, int64_t t, int64_t u, int64_t T,
                                    int64_t U) {
  return !emits_symbol(arc) && u == U && t + arc.duration == T;
}

// The class an arc leaving a node emits, given the node's next symbol.
RNNT_HOST_DEVICE int64_t arc_class(const DurationArc& arc, int64_t next_symbol) {
  return emits_symbol(arc) ? next_symbol : arc.label;
}

// The arc's weight from the node's logits x (row of C), their normaliser
// x_norm = logsumexp(x) + sigma, and optionally the duration logits z with
// normaliser z_norm (z null without duration logits).
template <typename acc_t, typename x_t>
RNNT_HOST_DEVICE acc_t arc_weight(const DurationArc& arc, int64_t next_symbol, const x_t* x,
                                  acc_t x_norm, const x_t* z, acc_t z_norm) {
  acc_t w = static_cast<acc_t>(x[arc_class(arc, next_symbol)]) - x_norm;
  if (z != nullptr && arc.duration_index >= 0) {
    w += static_cast<acc_t>(z[arc.duration_index]) - z_norm;
  }
  return w;
}

// The most arc kinds a lattice may have (the CUDA kernels take them by value).
constexpr int64_t kMaxDurationArcs = 64;

// One item's lattice tensors: logits x [T][S+1][C], duration logits z
// [T][S+1][D] (or null), symbols y [S], norms [T][S+1][2] (logsumexp of x
// and of z per node), with T frames and U symbols of its own.
template <typename scalar_t, typename acc_t>
struct DurationItem {
  const scalar_t* x;
  const scalar_t* z;
  const int64_t* y;
  const acc_t* norms;
  acc_t sigma;
  int64_t S1, C, D, T, U;

  RNNT_HOST_DEVICE int64_t node(int64_t t, int64_t u) const { return t * S1 + u; }
  // The symbol emitted from row u, clamped into [0, C): with value checks
  // off an unchecked symbol outside that range reads (and its gradient
  // writes) the nearest class of its own row, never another row's memory.
  RNNT_HOST_DEVICE int64_t next_symbol(int64_t u) const {
    return u < U ? clamp_index(y[u], 0, C - 1) : 0;
  }
  RNNT_HOST_DEVICE acc_t weight(const DurationArc& a, int64_t t, int64_t u) const {
    const int64_t n = node(t, u);
    return arc_weight<acc_t>(a, next_symbol(u), x + n * C, norms[2 * n] + sigma,
                             z ? z + n * D : nullptr, norms[2 * n + 1]);
  }
};

// alpha(t, u) from the item's alpha table (node-indexed) at earlier nodes.
template <typename scalar_t, typename acc_t>
RNNT_HOST_DEVICE acc_t alpha_at(const DurationItem<scalar_t, acc_t>& v, const DurationArc* arcs,
                                int64_t n_arcs, const acc_t* alpha, int64_t t, int64_t u) {
  acc_t a = (t == 0 && u == 0) ? acc_t(0) : neg_inf<acc_t>();
  for (int64_t i = 0; i < n_arcs; ++i) {
    const int64_t ts = t - arcs[i].duration, us = u - (emits_symbol(arcs[i]) ? 1 : 0);
    if (ts < 0 || us < 0) continue;
    a = log_add(a, alpha[v.node(ts, us)] + v.weight(arcs[i], ts, us));
  }
  return a;
}

// log P: the final arcs, blanks from (T - d, U) landing on t = T.
template <typename scalar_t, typename acc_t>
RNNT_HOST_DEVICE acc_t total_score(const DurationItem<scalar_t, acc_t>& v,
                                   const DurationArc* arcs, int64_t n_arcs, const acc_t* alpha) {
  acc_t total = neg_inf<acc_t>();
  for (int64_t i = 0; i < n_arcs; ++i) {
    const int64_t ts = v.T - arcs[i].duration;
    if (emits_symbol(arcs[i]) || ts < 0) continue;
    total = log_add(total, alpha[v.node(ts, v.U)] + v.weight(arcs[i], ts, v.U));
  }
  return total;
}

// alpha over one item's lattice (the t-major serial order: every arc's
// source is at an earlier frame, or at the same frame and an earlier u) into
// its node-indexed table; returns log P. The CPU kernel and the ONNX Runtime
// op run this; the CUDA kernel runs alpha_at by anti-diagonals.
template <typename scalar_t, typename acc_t>
RNNT_HOST_DEVICE acc_t forward_duration_item(const DurationItem<scalar_t, acc_t>& v,
                                             const DurationArc* arcs, int64_t n_arcs,
                                             acc_t* alpha) {
  for (int64_t t = 0; t < v.T; ++t) {
    for (int64_t u = 0; u <= v.U; ++u) alpha[v.node(t, u)] = alpha_at(v, arcs, n_arcs, alpha, t, u);
  }
  return total_score(v, arcs, n_arcs, alpha);
}

// The log-weight of the paths that take arc `a` out of (t, u), from there
// on: w_a + beta(destination), or w_a for a final arc; -inf if it cannot.
template <typename scalar_t, typename acc_t>
RNNT_HOST_DEVICE acc_t arc_onward(const DurationItem<scalar_t, acc_t>& v, const DurationArc& a,
                                  const acc_t* beta, int64_t t, int64_t u) {
  if (!arc_lands(a, t, u, v.T, v.U)) return neg_inf<acc_t>();
  const acc_t rest = arc_ends_path(a, t, u, v.T, v.U)
                         ? acc_t(0)
                         : beta[v.node(t + a.duration, u + (emits_symbol(a) ? 1 : 0))];
  return v.weight(a, t, u) + rest;
}

// beta(t, u) from the item's beta table at later nodes.
template <typename scalar_t, typename acc_t>
RNNT_HOST_DEVICE acc_t beta_at(const DurationItem<scalar_t, acc_t>& v, const DurationArc* arcs,
                               int64_t n_arcs, const acc_t* beta, int64_t t, int64_t u) {
  acc_t b = neg_inf<acc_t>();
  for (int64_t i = 0; i < n_arcs; ++i) b = log_add(b, arc_onward(v, arcs[i], beta, t, u));
  return b;
}

// The gradient of score w.r.t. logit x[c] of a node, given the node's
// weighted arc occupations: hit (the occupations of arcs labelled c, symbol
// arcs scaled by 1 + lambda) minus base * softmax(x)[c], base = the node's
// occupation plus lambda times its symbol arcs' occupation. A node no path
// visits (base 0, so hit 0) gets 0 whatever its logits, NaN padding included.
template <typename acc_t>
RNNT_HOST_DEVICE acc_t logit_grad(acc_t hit, acc_t base, acc_t logit, acc_t log_norm) {
  if (base == acc_t(0)) return hit;
  return hit - base * exp_or_zero(logit - log_norm);
}

// The gradient w.r.t. label entry x[c]: logit_grad for logits, the arcs'
// weighted occupation `hit` for label log-probs.
template <typename acc_t>
RNNT_HOST_DEVICE acc_t label_grad(bool label_logprobs, acc_t hit, acc_t base, acc_t x,
                                  acc_t log_norm) {
  return label_logprobs ? hit : logit_grad(hit, base, x, log_norm);
}

}  // namespace rnnt

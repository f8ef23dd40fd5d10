// Per-element math of the fused joiner log-probs, as the CUDA kernels
// (csrc/cuda/joiner_cuda.cu) apply it; the CPU kernels
// (joiner_cpu.cpp) evaluate the same formulas on SIMD vectors of a
// row. For one row x of C logits with
// normaliser L = logsumexp(x), the two log-probs the lattice needs are
//   symbol_logp = x[sym] - L,   blank_logp = x[blank] - L,
// and for upstream gradients g_s, g_b their gradient w.r.t. x[c] is
//   g_s * [c == sym] + g_b * [c == blank] - (g_s + g_b) * softmax(x)[c].
#pragma once

#include "recursion/rnnt_math.h"

namespace rnnt {

// x - log_norm, a log-prob: -inf for every entry of an all -inf row (a row
// with no probability mass scores no path; its gradient is 0, not NaN).
template <typename acc_t>
RNNT_HOST_DEVICE acc_t row_logprob(acc_t logit, acc_t log_norm) {
  return log_norm == neg_inf<acc_t>() ? neg_inf<acc_t>() : logit - log_norm;
}

// exp(x - log_norm): 0 for a -inf logit, and for an all -inf row.
template <typename acc_t>
RNNT_HOST_DEVICE acc_t softmax_entry(acc_t logit, acc_t log_norm) {
  return log_norm == neg_inf<acc_t>() ? acc_t(0) : exp(logit - log_norm);
}

// A row whose upstream gradients are both 0 lies on no path (padding past
// an item's lengths, a cell outside its box): its gradient is 0 whatever
// its logits, NaN or inf included.
template <typename acc_t>
RNNT_HOST_DEVICE bool unvisited_row(acc_t grad_symbol, acc_t grad_blank) {
  return grad_symbol == acc_t(0) && grad_blank == acc_t(0);
}

template <typename acc_t>
RNNT_HOST_DEVICE acc_t joiner_logit_grad(acc_t logit, acc_t log_norm,
                                         acc_t grad_symbol, acc_t grad_blank,
                                         bool is_symbol, bool is_blank) {
  if (unvisited_row(grad_symbol, grad_blank)) return acc_t(0);
  acc_t g = -(grad_symbol + grad_blank) * softmax_entry(logit, log_norm);
  if (is_symbol) g += grad_symbol;
  if (is_blank) g += grad_blank;
  return g;
}

// Running max that keeps a NaN once seen (so a NaN row gives a NaN result).
template <typename acc_t>
RNNT_HOST_DEVICE acc_t nan_max(acc_t running, acc_t v) {
  return (v > running || v != v) && running == running ? v : running;
}

}  // namespace rnnt

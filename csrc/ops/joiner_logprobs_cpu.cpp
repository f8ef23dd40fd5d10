// CPU kernels of the fused joiner log-probs: one pass over each row of
// logits computes its normaliser and the symbol/blank log-probs, so no
// log-softmax copy of [B][T][S+1][C] logits is ever made; the backward
// writes d loss / d logits directly. Rows run in parallel (at::parallel_for).
// float16/bfloat16 logits accumulate in float32.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "joiner_checks.h"
#include "joiner_math.h"

namespace rnnt {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> joiner_logprobs_cpu(
    const at::Tensor& logits_in, const at::Tensor& symbol_index_in,
    int64_t termination_symbol) {
  const JoinerRows rows = check_joiner_inputs(logits_in, symbol_index_in, termination_symbol);
  const at::Tensor logits = logits_in.contiguous();
  const at::Tensor index = symbol_index_in.contiguous();
  const auto out_opts = logits.options().dtype(at::toOpMathType(logits.scalar_type()));
  at::Tensor symbol_logp = at::empty(index.sizes(), out_opts);
  at::Tensor blank_logp = at::empty(index.sizes(), out_opts);
  at::Tensor log_norm = at::empty(index.sizes(), out_opts);
  const int64_t C = rows.C;
  const int64_t* idx = index.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, logits.scalar_type(), "joiner_logprobs_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* x = logits.data_ptr<scalar_t>();
    acc_t* sym_out = symbol_logp.data_ptr<acc_t>();
    acc_t* blank_out = blank_logp.data_ptr<acc_t>();
    acc_t* norm_out = log_norm.data_ptr<acc_t>();
    at::parallel_for(0, rows.N, 16, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) {
        const scalar_t* row = x + n * C;
        const int64_t sym = idx[n];
        TORCH_CHECK(sym >= 0 && sym < C, "rnnt::_joiner_logprobs: symbol_index[", n,
                    "] = ", sym, " is outside [0, C = ", C, ")");
        acc_t mx = neg_inf<acc_t>();
        for (int64_t c = 0; c < C; ++c) mx = nan_max(mx, acc_t(row[c]));
        acc_t lse = mx;
        if (mx != neg_inf<acc_t>()) {
          acc_t sum = 0;
          for (int64_t c = 0; c < C; ++c) sum += std::exp(acc_t(row[c]) - mx);
          lse = mx + std::log(sum);
        }
        sym_out[n] = acc_t(row[sym]) - lse;
        blank_out[n] = acc_t(row[termination_symbol]) - lse;
        norm_out[n] = lse;
      }
    });
  });
  return {symbol_logp, blank_logp, log_norm};
}

at::Tensor joiner_logprobs_backward_cpu(const at::Tensor& grad_symbol_in,
                                        const at::Tensor& grad_blank_in,
                                        const at::Tensor& logits_in,
                                        const at::Tensor& symbol_index_in,
                                        const at::Tensor& log_norm_in,
                                        int64_t termination_symbol) {
  const JoinerRows rows = check_joiner_inputs(logits_in, symbol_index_in, termination_symbol);
  const at::Tensor logits = logits_in.contiguous();
  const at::Tensor index = symbol_index_in.contiguous();
  const at::Tensor log_norm = log_norm_in.contiguous();
  const at::Tensor grad_symbol = grad_symbol_in.to(log_norm.scalar_type()).contiguous();
  const at::Tensor grad_blank = grad_blank_in.to(log_norm.scalar_type()).contiguous();
  at::Tensor grad_logits = at::empty_like(logits);
  const int64_t C = rows.C;
  const int64_t* idx = index.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, logits.scalar_type(), "joiner_logprobs_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* x = logits.data_ptr<scalar_t>();
    scalar_t* gx = grad_logits.data_ptr<scalar_t>();
    const acc_t* gs = grad_symbol.data_ptr<acc_t>();
    const acc_t* gb = grad_blank.data_ptr<acc_t>();
    const acc_t* norm = log_norm.data_ptr<acc_t>();
    at::parallel_for(0, rows.N, 16, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) {
        const int64_t sym = idx[n];
        for (int64_t c = 0; c < C; ++c) {
          gx[n * C + c] = static_cast<scalar_t>(joiner_logit_grad<acc_t>(
              acc_t(x[n * C + c]), norm[n], gs[n], gb[n], c == sym, c == termination_symbol));
        }
      }
    });
  });
  return grad_logits;
}

}  // namespace

TORCH_LIBRARY_IMPL(rnnt, CPU, m) {
  m.impl("_joiner_logprobs", &joiner_logprobs_cpu);
  m.impl("_joiner_logprobs_backward", &joiner_logprobs_backward_cpu);
}

}  // namespace rnnt

// Autograd of rnnt::_fused_joiner_logprobs: the forward keeps only its
// inputs and the per-cell log-normalisers; the backward op recomputes the
// joiner chunk by chunk (fused_joiner_kernels.cpp).
#include <torch/autograd.h>
#include <torch/library.h>

#include <string>

#include "fused_joiner/fused_joiner_calls.h"

namespace rnnt {
namespace fused_joiner {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class FusedJoinerFunction : public torch::autograd::Function<FusedJoinerFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& am, const at::Tensor& lm,
                               const at::Tensor& weight, const OptTensor& bias,
                               const at::Tensor& lm_index, const at::Tensor& symbol_index,
                               int64_t termination_symbol, const OptTensor& boundary,
                               c10::string_view activation, bool pruned, bool use_hat_loss,
                               int64_t chunk_cells) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [symbol_lp, blank_lp, log_norm] =
        call_fused_joiner_logprobs(am, lm, weight, bias, lm_index, symbol_index,
                                   termination_symbol, boundary, activation, pruned,
                                   use_hat_loss, chunk_cells);
    const auto or_undefined = [](const OptTensor& t) { return t.value_or(at::Tensor()); };
    ctx->save_for_backward({am, lm, weight, or_undefined(bias), lm_index, symbol_index, log_norm,
                            or_undefined(boundary)});
    ctx->saved_data["termination_symbol"] = termination_symbol;
    ctx->saved_data["activation"] = std::string(activation);
    ctx->saved_data["pruned"] = pruned;
    ctx->saved_data["use_hat_loss"] = use_hat_loss;
    ctx->saved_data["chunk_cells"] = chunk_cells;
    ctx->mark_non_differentiable({log_norm});
    ctx->set_materialize_grads(false);
    return {symbol_lp, blank_lp, log_norm};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& log_norm = saved[6];
    const auto zero_if_undefined = [&](const at::Tensor& g) {
      return g.defined() ? g : at::zeros_like(log_norm);
    };
    const OptTensor bias = saved[3].defined() ? OptTensor(saved[3]) : c10::nullopt;
    const OptTensor boundary = saved[7].defined() ? OptTensor(saved[7]) : c10::nullopt;
    const std::string activation = ctx->saved_data["activation"].toStringRef();
    auto [grad_am, grad_lm, grad_weight, grad_bias] = call_fused_joiner_logprobs_backward(
        zero_if_undefined(grads[0]), zero_if_undefined(grads[1]), saved[0], saved[1], saved[2],
        bias, saved[4], saved[5], log_norm, ctx->saved_data["termination_symbol"].toInt(),
        boundary, activation, ctx->saved_data["pruned"].toBool(),
        ctx->saved_data["use_hat_loss"].toBool(), ctx->saved_data["chunk_cells"].toInt());
    return {grad_am,     grad_lm,     grad_weight, bias ? grad_bias : at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor> fused_joiner_logprobs_autograd(
    const at::Tensor& am, const at::Tensor& lm, const at::Tensor& weight, const OptTensor& bias,
    const at::Tensor& lm_index, const at::Tensor& symbol_index, int64_t termination_symbol,
    const OptTensor& boundary, c10::string_view activation, bool pruned, bool use_hat_loss,
    int64_t chunk_cells) {
  const auto out = FusedJoinerFunction::apply(am, lm, weight, bias, lm_index, symbol_index,
                                              termination_symbol, boundary, activation, pruned,
                                              use_hat_loss, chunk_cells);
  return {out[0], out[1], out[2]};
}

}  // namespace
}  // namespace fused_joiner

TORCH_LIBRARY_IMPL(rnnt, Autograd, m) {
  m.impl("_fused_joiner_logprobs", &fused_joiner::fused_joiner_logprobs_autograd);
}

}  // namespace rnnt

// Autograd of rnnt::_fused_joiner_logprobs: the forward keeps only its
// inputs and the per-cell log-normalisers; the backward op recomputes the
// joiner chunk by chunk (fused_joiner_kernels.cpp).
#include <torch/autograd.h>
#include <torch/library.h>

#include <string>

#include "common/differentiable_once.h"
#include "common/op_names.h"
#include "fused_joiner_ops.h"

namespace rnnt {
namespace fused_joiner {
namespace {

using OptTensor = c10::optional<at::Tensor>;

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor or_undefined(const OptTensor& t) { return t.value_or(at::Tensor()); }
OptTensor or_none(const at::Tensor& t) { return t.defined() ? OptTensor(t) : c10::nullopt; }

class FusedJoinerFunction : public torch::autograd::Function<FusedJoinerFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& am, const at::Tensor& lm,
                               const at::Tensor& weight, const OptTensor& bias,
                               const OptTensor& duration_weight, const OptTensor& duration_bias,
                               const at::Tensor& symbol_index, const OptTensor& ranges,
                               int64_t termination_symbol, const OptTensor& boundary,
                               c10::string_view activation, bool use_hat_loss,
                               int64_t chunk_cells, bool sparse_backward) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [symbol_lp, blank_lp, log_norm, duration_logits] = ops::_fused_joiner_logprobs::call(
        am, lm, weight, bias, duration_weight, duration_bias, symbol_index, ranges,
        termination_symbol, boundary, activation, use_hat_loss, chunk_cells, sparse_backward);
    ctx->save_for_backward({am, lm, weight, or_undefined(bias), or_undefined(duration_weight),
                            or_undefined(duration_bias), symbol_index, or_undefined(ranges),
                            log_norm, or_undefined(boundary)});
    remember_input_edges(ctx, op_name("rnnt::_fused_joiner_logprobs"), am, lm, weight, bias,
                         duration_weight, duration_bias);
    ctx->saved_data["termination_symbol"] = termination_symbol;
    ctx->saved_data["activation"] = std::string(activation);
    ctx->saved_data["use_hat_loss"] = use_hat_loss;
    ctx->saved_data["chunk_cells"] = chunk_cells;
    ctx->saved_data["sparse_backward"] = sparse_backward;
    ctx->mark_non_differentiable({log_norm});
    ctx->set_materialize_grads(false);
    return {symbol_lp, blank_lp, log_norm, duration_logits};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& log_norm = saved[8];
    const auto zero_if_undefined = [&](const at::Tensor& g) {
      return g.defined() ? g : at::zeros_like(log_norm);
    };
    const OptTensor bias = or_none(saved[3]), duration_weight = or_none(saved[4]),
                    duration_bias = or_none(saved[5]);
    auto [grad_am, grad_lm, grad_weight, grad_bias, grad_dw, grad_db] =
        ops::_fused_joiner_logprobs_backward::call(
            zero_if_undefined(grads[0]), zero_if_undefined(grads[1]), or_none(grads[3]),
            saved[0], saved[1], saved[2], bias, duration_weight, duration_bias, saved[6],
            or_none(saved[7]), log_norm, ctx->saved_data["termination_symbol"].toInt(),
            or_none(saved[9]), ctx->saved_data["activation"].toStringRef(),
            ctx->saved_data["use_hat_loss"].toBool(), ctx->saved_data["chunk_cells"].toInt(),
            ctx->saved_data["sparse_backward"].toBool());
    // One entry per forward argument; none for the non-differentiable ones.
    // The backward recomputes the joiner with the occupations held
    // constant: its gradients are not differentiable again.
    variable_list out(14);
    out[0] = grad_am;
    out[1] = grad_lm;
    out[2] = grad_weight;
    if (bias.has_value()) out[3] = grad_bias;
    if (duration_weight.has_value()) out[4] = grad_dw;
    if (duration_bias.has_value()) out[5] = grad_db;
    const at::Tensor& any_grad =
        grads[0].defined() ? grads[0] : (grads[1].defined() ? grads[1] : grads[3]);
    return differentiable_once(ctx, std::move(out), any_grad);
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> fused_joiner_logprobs_autograd(
    const at::Tensor& am, const at::Tensor& lm, const at::Tensor& weight, const OptTensor& bias,
    const OptTensor& duration_weight, const OptTensor& duration_bias,
    const at::Tensor& symbol_index, const OptTensor& ranges, int64_t termination_symbol,
    const OptTensor& boundary, c10::string_view activation, bool use_hat_loss,
    int64_t chunk_cells, bool sparse_backward) {
  const auto out = FusedJoinerFunction::apply(am, lm, weight, bias, duration_weight,
                                              duration_bias, symbol_index, ranges,
                                              termination_symbol, boundary, activation,
                                              use_hat_loss, chunk_cells, sparse_backward);
  return {out[0], out[1], out[2], out[3]};
}

}  // namespace
}  // namespace fused_joiner

TORCH_LIBRARY_IMPL(rnnt, Autograd, m) {
  m.impl(ops::_fused_joiner_logprobs::name, &fused_joiner::fused_joiner_logprobs_autograd);
}

}  // namespace rnnt

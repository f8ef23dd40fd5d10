// Autograd of rnnt::_joiner_logprobs: the backward is its own kernel
// (rnnt::_joiner_logprobs_backward), which reads the saved logits (no copy)
// and the per-row normalisers, and writes d loss / d logits in one pass.
// With inplace_grad (and contiguous logits) it writes them over the logits
// (rnnt::_joiner_logprobs_backward_) and bumps their version counter, so
// that any other autograd node that saved the logits raises instead of
// reading the gradient as if it were logits.
#include <torch/autograd.h>
#include <torch/csrc/autograd/VariableTypeUtils.h>
#include <torch/library.h>

#include "common/differentiable_once.h"
#include "common/op_names.h"
#include "joiner_ops.h"

namespace rnnt {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class JoinerLogprobsFunction : public torch::autograd::Function<JoinerLogprobsFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& logits,
                               const at::Tensor& symbol_index, int64_t termination_symbol,
                               bool inplace_grad) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [symbol_logp, blank_logp, log_norm] =
        ops::_joiner_logprobs::call(logits, symbol_index, termination_symbol, inplace_grad);
    ctx->save_for_backward({logits, symbol_index, log_norm});
    remember_input_edges(ctx, op_name("rnnt::_joiner_logprobs"), logits);
    ctx->saved_data["termination_symbol"] = termination_symbol;
    ctx->saved_data["inplace_grad"] = inplace_grad;
    ctx->mark_non_differentiable({log_norm});
    // No zero tensor for log_norm's gradient (never used); backward makes
    // the zeros of an unused log-prob output itself.
    ctx->set_materialize_grads(false);
    return {symbol_logp, blank_logp, log_norm};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& log_norm = saved[2];
    const auto zero_if_undefined = [&](const at::Tensor& g) {
      return g.defined() ? g : at::zeros_like(log_norm);
    };
    const at::Tensor& logits = saved[0];
    const int64_t termination_symbol = ctx->saved_data["termination_symbol"].toInt();
    const at::Tensor grad_symbol = zero_if_undefined(grads[0]);
    const at::Tensor grad_blank = zero_if_undefined(grads[1]);
    if (ctx->saved_data["inplace_grad"].toBool() && logits.is_contiguous()) {
      {
        at::AutoDispatchBelowADInplaceOrView guard;
        ops::_joiner_logprobs_backward_::call(grad_symbol, grad_blank, logits, saved[1],
                                              log_norm, termination_symbol);
      }
      torch::autograd::increment_version(logits);
      return differentiable_once(ctx, {logits.detach(), at::Tensor(), at::Tensor(), at::Tensor()},
                                 grad_symbol);
    }
    // The backward kernel has no autograd of its own: its gradient is not
    // differentiable again.
    const at::Tensor grad_logits = ops::_joiner_logprobs_backward::call(
        grad_symbol, grad_blank, logits, saved[1], log_norm, termination_symbol);
    return differentiable_once(ctx, {grad_logits, at::Tensor(), at::Tensor(), at::Tensor()},
                               grad_symbol);
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor> joiner_logprobs_autograd(
    const at::Tensor& logits, const at::Tensor& symbol_index, int64_t termination_symbol,
    bool inplace_grad) {
  const auto out =
      JoinerLogprobsFunction::apply(logits, symbol_index, termination_symbol, inplace_grad);
  return {out[0], out[1], out[2]};
}

}  // namespace

TORCH_LIBRARY_IMPL(rnnt, Autograd, m) {
  m.impl("_joiner_logprobs", &joiner_logprobs_autograd);
}

}  // namespace rnnt

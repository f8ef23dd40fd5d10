// The RNN-T losses: px/py from logprobs.h, an optional delay penalty or
// FastEmit, the lattice recursion (rnnt::mutual_information, with its own autograd) and
// the reduction. CompositeImplicitAutograd: autograd comes from the parts.
#include <torch/library.h>

#include "common/checks.h"
#include "common/op_names.h"
#include "logprobs.h"
#include "loss_tail.h"

namespace rnnt {
namespace {

LossWithGrad simple_loss(const at::Tensor& lm, const at::Tensor& am, const at::Tensor& symbols,
                         int64_t termination_symbol, const c10::optional<at::Tensor>& boundary,
                         c10::string_view rnnt_type, double delay_penalty,
                         c10::string_view reduction, bool zero_infinity, bool return_grad) {
  const LossCall call("rnnt::rnnt_loss_simple", symbols, boundary, rnnt_type, delay_penalty, 0.0,
                      reduction, zero_infinity);
  return call.finish(get_rnnt_logprobs(lm, am, call.symbols, termination_symbol, rnnt_type,
                                       call.boundary),
                     return_grad);
}

LossWithGrad smoothed_loss(const at::Tensor& lm, const at::Tensor& am, const at::Tensor& symbols,
                           int64_t termination_symbol, double lm_only_scale,
                           double am_only_scale, const c10::optional<at::Tensor>& boundary,
                           c10::string_view rnnt_type, double delay_penalty,
                           c10::string_view reduction, bool zero_infinity, bool return_grad) {
  const LossCall call("rnnt::rnnt_loss_smoothed", symbols, boundary, rnnt_type, delay_penalty,
                      0.0, reduction, zero_infinity);
  return call.finish(get_rnnt_logprobs_smoothed(lm, am, call.symbols, termination_symbol,
                                                lm_only_scale, am_only_scale, call.boundary,
                                                rnnt_type),
                     return_grad);
}

LossWithGrad full_loss(const at::Tensor& logits, const at::Tensor& symbols,
                       int64_t termination_symbol, const c10::optional<at::Tensor>& boundary,
                       c10::string_view rnnt_type, double delay_penalty,
                       c10::string_view reduction, bool zero_infinity, bool inplace_grad,
                       double fastemit_lambda, bool return_grad) {
  const LossCall call("rnnt::rnnt_loss", symbols, boundary, rnnt_type, delay_penalty,
                      fastemit_lambda, reduction, zero_infinity);
  return call.finish(get_rnnt_logprobs_joint(logits, call.symbols, termination_symbol,
                                             call.boundary, rnnt_type, inplace_grad),
                     return_grad);
}

LossWithGrad pruned_loss(const at::Tensor& logits, const at::Tensor& symbols,
                         const at::Tensor& ranges, int64_t termination_symbol,
                         const c10::optional<at::Tensor>& boundary, c10::string_view rnnt_type,
                         double delay_penalty, c10::string_view reduction, bool use_hat_loss,
                         bool zero_infinity, bool inplace_grad, double fastemit_lambda,
                         bool return_grad) {
  const LossCall call("rnnt::rnnt_loss_pruned", symbols, boundary, rnnt_type, delay_penalty,
                      fastemit_lambda, reduction, zero_infinity);
  return call.finish(get_rnnt_logprobs_pruned(logits, call.symbols, ranges, termination_symbol,
                                              call.boundary, rnnt_type, use_hat_loss,
                                              inplace_grad),
                     return_grad);
}

// The schema's two flavours of each loss: the loss alone, and with the
// (px_grad, py_grad) occupation probabilities that pruning needs.
at::Tensor rnnt_loss_simple(const at::Tensor& lm, const at::Tensor& am,
                            const at::Tensor& symbols, int64_t termination_symbol,
                            const c10::optional<at::Tensor>& boundary,
                            c10::string_view rnnt_type, double delay_penalty,
                            c10::string_view reduction, bool zero_infinity) {
  return std::get<0>(simple_loss(lm, am, symbols, termination_symbol, boundary,
                                 rnnt_type, delay_penalty, reduction, zero_infinity, false));
}
LossWithGrad rnnt_loss_simple_with_grad(
    const at::Tensor& lm, const at::Tensor& am, const at::Tensor& symbols,
    int64_t termination_symbol, const c10::optional<at::Tensor>& boundary,
    c10::string_view rnnt_type, double delay_penalty, c10::string_view reduction, bool zero_infinity) {
  return simple_loss(lm, am, symbols, termination_symbol, boundary, rnnt_type,
                     delay_penalty, reduction, zero_infinity, true);
}

at::Tensor rnnt_loss_smoothed(const at::Tensor& lm, const at::Tensor& am,
                              const at::Tensor& symbols, int64_t termination_symbol,
                              double lm_only_scale, double am_only_scale,
                              const c10::optional<at::Tensor>& boundary,
                              c10::string_view rnnt_type, double delay_penalty,
                              c10::string_view reduction, bool zero_infinity) {
  return std::get<0>(smoothed_loss(lm, am, symbols, termination_symbol, lm_only_scale,
                                   am_only_scale, boundary, rnnt_type, delay_penalty,
                                   reduction, zero_infinity, false));
}
LossWithGrad rnnt_loss_smoothed_with_grad(
    const at::Tensor& lm, const at::Tensor& am, const at::Tensor& symbols,
    int64_t termination_symbol, double lm_only_scale, double am_only_scale,
    const c10::optional<at::Tensor>& boundary, c10::string_view rnnt_type,
    double delay_penalty, c10::string_view reduction, bool zero_infinity) {
  return smoothed_loss(lm, am, symbols, termination_symbol, lm_only_scale, am_only_scale,
                       boundary, rnnt_type, delay_penalty, reduction, zero_infinity, true);
}

at::Tensor rnnt_loss(const at::Tensor& logits, const at::Tensor& symbols,
                     int64_t termination_symbol, const c10::optional<at::Tensor>& boundary,
                     c10::string_view rnnt_type, double delay_penalty,
                     c10::string_view reduction, bool zero_infinity, bool inplace_grad,
                     double fastemit_lambda) {
  return std::get<0>(full_loss(logits, symbols, termination_symbol, boundary, rnnt_type,
                               delay_penalty, reduction, zero_infinity, inplace_grad,
                               fastemit_lambda, false));
}
LossWithGrad rnnt_loss_with_grad(const at::Tensor& logits, const at::Tensor& symbols,
                                 int64_t termination_symbol,
                                 const c10::optional<at::Tensor>& boundary,
                                 c10::string_view rnnt_type, double delay_penalty,
                                 c10::string_view reduction, bool zero_infinity,
                                 bool inplace_grad, double fastemit_lambda) {
  return full_loss(logits, symbols, termination_symbol, boundary, rnnt_type, delay_penalty,
                   reduction, zero_infinity, inplace_grad, fastemit_lambda, true);
}

at::Tensor rnnt_loss_pruned(const at::Tensor& logits, const at::Tensor& symbols,
                            const at::Tensor& ranges, int64_t termination_symbol,
                            const c10::optional<at::Tensor>& boundary,
                            c10::string_view rnnt_type, double delay_penalty,
                            c10::string_view reduction, bool use_hat_loss, bool zero_infinity,
                            bool inplace_grad, double fastemit_lambda) {
  return std::get<0>(pruned_loss(logits, symbols, ranges, termination_symbol, boundary,
                                 rnnt_type, delay_penalty, reduction, use_hat_loss,
                                 zero_infinity, inplace_grad, fastemit_lambda, false));
}
LossWithGrad rnnt_loss_pruned_with_grad(
    const at::Tensor& logits, const at::Tensor& symbols, const at::Tensor& ranges,
    int64_t termination_symbol, const c10::optional<at::Tensor>& boundary,
    c10::string_view rnnt_type, double delay_penalty, c10::string_view reduction,
    bool use_hat_loss, bool zero_infinity, bool inplace_grad, double fastemit_lambda) {
  return pruned_loss(logits, symbols, ranges, termination_symbol, boundary, rnnt_type,
                     delay_penalty, reduction, use_hat_loss, zero_infinity, inplace_grad,
                     fastemit_lambda, true);
}

}  // namespace

TORCH_LIBRARY_IMPL(rnnt, CompositeImplicitAutograd, m) {
  m.impl("get_rnnt_logprobs", &get_rnnt_logprobs);
  m.impl("get_rnnt_logprobs_smoothed", &get_rnnt_logprobs_smoothed);
  m.impl("get_rnnt_logprobs_joint", &get_rnnt_logprobs_joint);
  m.impl("get_rnnt_logprobs_pruned", &get_rnnt_logprobs_pruned);
  m.impl("rnnt_loss_simple", &rnnt_loss_simple);
  m.impl("rnnt_loss_simple_with_grad", &rnnt_loss_simple_with_grad);
  m.impl("rnnt_loss_smoothed", &rnnt_loss_smoothed);
  m.impl("rnnt_loss_smoothed_with_grad", &rnnt_loss_smoothed_with_grad);
  m.impl("rnnt_loss", &rnnt_loss);
  m.impl("rnnt_loss_with_grad", &rnnt_loss_with_grad);
  m.impl("rnnt_loss_pruned", &rnnt_loss_pruned);
  m.impl("rnnt_loss_pruned_with_grad", &rnnt_loss_pruned_with_grad);
  m.impl("_scale_emission_grad", &scale_emission_grad);
}

}  // namespace rnnt

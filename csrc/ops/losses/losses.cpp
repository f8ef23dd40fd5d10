// The RNN-T losses: px/py from logprobs.h, an optional delay penalty, the
// lattice recursion (rnnt::mutual_information, with its own autograd) and
// the reduction. CompositeImplicitAutograd: autograd comes from the parts.
#include <torch/library.h>

#include "common/checks.h"
#include "common/op_names.h"
#include "logprobs.h"
#include "loss_tail.h"

namespace rnnt {
namespace {

// The losses take int32 symbols and boundary too (torchaudio's index
// dtype): converted here, a copy of a [B][S] or [B][4] tensor; int64 and
// anything else (left for the checks to name) pass through as they are.
at::Tensor as_int64(const at::Tensor& t) {
  return t.defined() && t.scalar_type() == at::kInt ? t.to(at::kLong) : t;
}
c10::optional<at::Tensor> as_int64(const c10::optional<at::Tensor>& t) {
  if (!t.has_value()) return t;
  return as_int64(*t);
}

LossWithGrad simple_loss(const at::Tensor& lm, const at::Tensor& am,
                         const at::Tensor& symbols_in, int64_t termination_symbol,
                         const c10::optional<at::Tensor>& boundary_in,
                         c10::string_view rnnt_type, double delay_penalty,
                         c10::string_view reduction, bool zero_infinity,
                         bool return_grad) {
  const at::Tensor symbols = as_int64(symbols_in);
  const c10::optional<at::Tensor> boundary = as_int64(boundary_in);
  const char* op = op_name("rnnt::rnnt_loss_simple");
  const OpNameScope scope(op);
  const Reduction red = parse_reduction(reduction, op);
  return loss_from_logprobs(
      get_rnnt_logprobs(lm, am, symbols, termination_symbol, rnnt_type, boundary),
      boundary, parse_rnnt_type(rnnt_type, op), delay_penalty, red, zero_infinity, return_grad);
}

LossWithGrad smoothed_loss(const at::Tensor& lm, const at::Tensor& am,
                           const at::Tensor& symbols_in, int64_t termination_symbol,
                           double lm_only_scale, double am_only_scale,
                           const c10::optional<at::Tensor>& boundary_in,
                           c10::string_view rnnt_type, double delay_penalty,
                           c10::string_view reduction, bool zero_infinity,
                         bool return_grad) {
  const at::Tensor symbols = as_int64(symbols_in);
  const c10::optional<at::Tensor> boundary = as_int64(boundary_in);
  const char* op = op_name("rnnt::rnnt_loss_smoothed");
  const OpNameScope scope(op);
  const Reduction red = parse_reduction(reduction, op);
  return loss_from_logprobs(
      get_rnnt_logprobs_smoothed(lm, am, symbols, termination_symbol, lm_only_scale,
                                 am_only_scale, boundary, rnnt_type),
      boundary, parse_rnnt_type(rnnt_type, op), delay_penalty, red, zero_infinity, return_grad);
}

LossWithGrad full_loss(const at::Tensor& logits, const at::Tensor& symbols_in,
                       int64_t termination_symbol,
                       const c10::optional<at::Tensor>& boundary_in,
                       c10::string_view rnnt_type, double delay_penalty,
                       c10::string_view reduction, bool zero_infinity,
                       bool inplace_grad, bool return_grad) {
  const at::Tensor symbols = as_int64(symbols_in);
  const c10::optional<at::Tensor> boundary = as_int64(boundary_in);
  const char* op = op_name("rnnt::rnnt_loss");
  const OpNameScope scope(op);
  const Reduction red = parse_reduction(reduction, op);
  return loss_from_logprobs(
      get_rnnt_logprobs_joint(logits, symbols, termination_symbol, boundary, rnnt_type,
                              inplace_grad),
      boundary, parse_rnnt_type(rnnt_type, op), delay_penalty, red, zero_infinity, return_grad);
}

LossWithGrad pruned_loss(const at::Tensor& logits, const at::Tensor& symbols_in,
                         const at::Tensor& ranges, int64_t termination_symbol,
                         const c10::optional<at::Tensor>& boundary_in,
                         c10::string_view rnnt_type, double delay_penalty,
                         c10::string_view reduction, bool use_hat_loss,
                         bool zero_infinity, bool inplace_grad, bool return_grad) {
  const at::Tensor symbols = as_int64(symbols_in);
  const c10::optional<at::Tensor> boundary = as_int64(boundary_in);
  const char* op = op_name("rnnt::rnnt_loss_pruned");
  const OpNameScope scope(op);
  const Reduction red = parse_reduction(reduction, op);
  return loss_from_logprobs(
      get_rnnt_logprobs_pruned(logits, symbols, ranges, termination_symbol, boundary,
                               rnnt_type, use_hat_loss, inplace_grad),
      boundary, parse_rnnt_type(rnnt_type, op), delay_penalty, red, zero_infinity, return_grad);
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
                     int64_t termination_symbol,
                     const c10::optional<at::Tensor>& boundary,
                     c10::string_view rnnt_type, double delay_penalty,
                     c10::string_view reduction, bool zero_infinity, bool inplace_grad) {
  return std::get<0>(full_loss(logits, symbols, termination_symbol, boundary, rnnt_type,
                               delay_penalty, reduction, zero_infinity, inplace_grad, false));
}
LossWithGrad rnnt_loss_with_grad(const at::Tensor& logits, const at::Tensor& symbols,
                                 int64_t termination_symbol,
                                 const c10::optional<at::Tensor>& boundary,
                                 c10::string_view rnnt_type, double delay_penalty,
                                 c10::string_view reduction, bool zero_infinity,
                                 bool inplace_grad) {
  return full_loss(logits, symbols, termination_symbol, boundary, rnnt_type,
                   delay_penalty, reduction, zero_infinity, inplace_grad, true);
}

at::Tensor rnnt_loss_pruned(const at::Tensor& logits, const at::Tensor& symbols,
                            const at::Tensor& ranges, int64_t termination_symbol,
                            const c10::optional<at::Tensor>& boundary,
                            c10::string_view rnnt_type, double delay_penalty,
                            c10::string_view reduction, bool use_hat_loss, bool zero_infinity,
                            bool inplace_grad) {
  return std::get<0>(pruned_loss(logits, symbols, ranges, termination_symbol, boundary,
                                 rnnt_type, delay_penalty, reduction, use_hat_loss,
                                 zero_infinity, inplace_grad, false));
}
LossWithGrad rnnt_loss_pruned_with_grad(
    const at::Tensor& logits, const at::Tensor& symbols, const at::Tensor& ranges,
    int64_t termination_symbol, const c10::optional<at::Tensor>& boundary,
    c10::string_view rnnt_type, double delay_penalty, c10::string_view reduction,
    bool use_hat_loss, bool zero_infinity, bool inplace_grad) {
  return pruned_loss(logits, symbols, ranges, termination_symbol, boundary, rnnt_type,
                     delay_penalty, reduction, use_hat_loss, zero_infinity, inplace_grad,
                     true);
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
}

}  // namespace rnnt

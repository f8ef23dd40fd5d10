// The RNN-T losses: px/py from logprobs.cpp, an optional delay penalty, the
// lattice recursion (rnnt::mutual_information, with its own autograd) and
// the reduction. CompositeImplicitAutograd: autograd comes from the parts.
#include <torch/library.h>

#include "dispatch.h"
#include "logprobs.h"
#include "loss_options.h"
#include "loss_tail.h"
#include "op_names.h"

namespace rnnt {
namespace {

<<<<<<< HEAD
using LossWithGrad = std::tuple<at::Tensor, at::Tensor, at::Tensor>;

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

// FastEmit-like delay penalty (k2): px[b, s, t] += delay_penalty *
// ((t_end[b] - 1) / 2 - t), rewarding early emission; only when > 0.
at::Tensor add_delay_penalty(const at::Tensor& px, double delay_penalty,
                             RnntType type,
                             const c10::optional<at::Tensor>& boundary) {
  if (delay_penalty <= 0.0) return px;
  const c10::SymInt columns = px.sym_size(2);
  const c10::SymInt T = type == RnntType::Regular ? columns - 1 : columns;
  const auto opts = px.options();
  at::Tensor offset;  // [B][1][1] or scalar: (t_end - 1) / 2
  if (boundary.has_value() && boundary->defined()) {
    offset = ((boundary->select(1, 3).to(px.scalar_type()) - 1) / 2).view({-1, 1, 1});
  } else {
    offset = (at::scalar_tensor(c10::Scalar(T), opts) - 1) / 2;
  }
  const at::Tensor frames = at::arange(c10::Scalar(columns), opts).view({1, 1, -1});
  return px + (offset - frames) * delay_penalty;
}

// Per-item loss is -score; an item without any alignment has score -inf
// (loss inf, zero gradients), which zero_infinity turns into loss 0.
at::Tensor reduce(const at::Tensor& scores, Reduction reduction, bool zero_infinity) {
  const at::Tensor losses =
      zero_infinity ? at::where(scores == -std::numeric_limits<double>::infinity(),
                                at::zeros_like(scores), -scores)
                    : -scores;
  switch (reduction) {
    case Reduction::None: return losses;
    case Reduction::Mean: return losses.mean();
    case Reduction::Sum: return losses.sum();
  }
  TORCH_INTERNAL_ASSERT(false, "unknown reduction");
}

// Shared tail of every loss: penalty, recursion, reduction.
LossWithGrad loss_from_logprobs(std::tuple<at::Tensor, at::Tensor> logprobs,
                                const c10::optional<at::Tensor>& boundary,
                                RnntType type, double delay_penalty,
                                Reduction reduction, bool zero_infinity,
                                bool return_grad) {
  const at::Tensor px = add_delay_penalty(std::get<0>(logprobs), delay_penalty, type, boundary);
  const at::Tensor& py = std::get<1>(logprobs);
  if (return_grad) {
    auto [scores, px_grad, py_grad] = call_mutual_information_with_grad(px, py, boundary);
    return {reduce(scores, reduction, zero_infinity), px_grad, py_grad};
  }
  return {reduce(call_mutual_information(px, py, boundary), reduction, zero_infinity),
          at::Tensor(), at::Tensor()};
}

=======
>>>>>>> fused
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

// get_rnnt_logprobs in eager mode: the simple joiner's px/py with a
// hand-written backward (a C++ autograd::Function) around the fused lattice
// ops of simple_lattice.h. Forward: the two row maxima, the two shifted
// exponentials, one batched GEMM and one lattice kernel; backward: one
// kernel for d M, two GEMMs, two products and one kernel for the gather
// terms. The ATen composition in logprobs.cpp computes the same values with
// about four times as many kernels; traced calls keep it. Not twice
// differentiable (as the recursion).
#include <torch/autograd.h>

#include "dispatch.h"
#include "logprobs.h"

namespace rnnt {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class SimpleLogprobsFunction : public torch::autograd::Function<SimpleLogprobsFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& lm, const at::Tensor& am,
                               const at::Tensor& symbols, int64_t termination_symbol,
                               c10::string_view rnnt_type,
                               const c10::optional<at::Tensor>& boundary) {
    at::AutoDispatchBelowADInplaceOrView guard;
    const at::Tensor lm_max = at::amax(lm, {2}, /*keepdim=*/true);  // [B][S+1][1]
    const at::Tensor am_max = at::amax(am, {2}, /*keepdim=*/true);  // [B][T][1]
    const at::Tensor lm_exp = (lm - lm_max).exp_();                 // [B][S+1][C]
    const at::Tensor am_exp = (am - am_max).exp_();                 // [B][T][C]
    const at::Tensor M = at::bmm(lm_exp, am_exp.transpose(1, 2));   // [B][S+1][T]
    auto [px, py] = call_simple_lattice(lm, am, lm_max, am_max, M, symbols, termination_symbol,
                                        rnnt_type, boundary);
    const bool has_boundary = boundary.has_value() && boundary->defined();
    ctx->save_for_backward({lm_exp, am_exp, M, symbols, has_boundary ? *boundary : at::Tensor()});
    ctx->saved_data["termination_symbol"] = termination_symbol;
    ctx->saved_data["rnnt_type"] = std::string(rnnt_type);
    return {px, py};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &lm_exp = saved[0], &am_exp = saved[1], &M = saved[2];
    const at::Tensor& symbols = saved[3];
    const c10::optional<at::Tensor> boundary =
        saved[4].defined() ? c10::optional<at::Tensor>(saved[4]) : c10::nullopt;
    const int64_t termination_symbol = ctx->saved_data["termination_symbol"].toInt();
    const std::string rnnt_type = ctx->saved_data["rnnt_type"].toStringRef();
    // Undefined output gradients arrive as zeros (materialized by autograd).
    const at::Tensor &grad_px = grads[0], &grad_py = grads[1];
    at::AutoDispatchBelowADInplaceOrView guard;
    const at::Tensor W = call_simple_lattice_backward(grad_px, grad_py, M, rnnt_type, boundary);
    // d exp(x - max) = exp(x - max) * upstream; the maxima are constants.
    at::Tensor grad_lm = at::bmm(W, am_exp).mul_(lm_exp);
    at::Tensor grad_am = at::bmm(W.transpose(1, 2), lm_exp).mul_(am_exp);
    call_simple_lattice_gather_grads_(grad_lm, grad_am, grad_px, grad_py, symbols,
                                      termination_symbol, rnnt_type, boundary);
    return {grad_lm, grad_am, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

std::tuple<at::Tensor, at::Tensor> simple_logprobs_fused(
    const at::Tensor& lm, const at::Tensor& am, const at::Tensor& symbols,
    int64_t termination_symbol, c10::string_view rnnt_type,
    const c10::optional<at::Tensor>& boundary) {
  const auto out =
      SimpleLogprobsFunction::apply(lm, am, symbols, termination_symbol, rnnt_type, boundary);
  return {out[0], out[1]};
}

}  // namespace rnnt

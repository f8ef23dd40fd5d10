// Autograd of rnnt::_simple_lattice_logprobs, the simple joiner's px/py
// (a C++ autograd::Function on the Autograd key), and its forward-only
// kernel for calls below autograd. Forward: the two row maxima, the two
// shifted exponentials, one batched GEMM for M and one lattice kernel
// (_simple_lattice); backward: one kernel for W = d loss / d M, two GEMMs,
// two products and one kernel for the gather terms. The ATen compositions
// in losses/simple_logprobs.cpp compute the same values with about three times as
// many kernels; traced calls keep them. Not twice differentiable (as the
// recursion).
#include <torch/autograd.h>
#include <torch/library.h>

#include "common/differentiable_once.h"
#include "common/op_names.h"
#include "simple_lattice_ops.h"

namespace rnnt {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using OptTensor = c10::optional<at::Tensor>;

bool given(const OptTensor& t) { return t.has_value() && t->defined(); }

// x's row maxima [..][1] and exp(x - max) [..][C]: the given ones (computed
// by the caller already, detached), else computed here.
std::pair<at::Tensor, at::Tensor> shifted_exp(const at::Tensor& x, const OptTensor& x_max,
                                              const OptTensor& x_exp) {
  if (given(x_max) && given(x_exp)) return {*x_max, *x_exp};
  at::Tensor max = at::amax(x, {2}, /*keepdim=*/true);
  at::Tensor exp = (x - max).exp_();
  return {std::move(max), std::move(exp)};
}

// The forward's outputs and what its backward needs.
struct LatticeForward {
  at::Tensor px, py;
  at::Tensor lm_exp, am_exp, M;  // [B][S+1][C], [B][T][C], [B][S+1][T]
};

LatticeForward lattice_forward(const at::Tensor& lm, const at::Tensor& am,
                               const at::Tensor& symbols, int64_t termination_symbol,
                               c10::string_view rnnt_type, const OptTensor& boundary,
                               const OptTensor& symbol_offset, const OptTensor& blank_offset,
                               const OptTensor& frame_offset, double w_am, double w_lm,
                               double w_norm, const OptTensor& lm_max_given,
                               const OptTensor& lm_exp_given, const OptTensor& am_max_given,
                               const OptTensor& am_exp_given) {
  const auto [lm_max, lm_exp] = shifted_exp(lm, lm_max_given, lm_exp_given);
  const auto [am_max, am_exp] = shifted_exp(am, am_max_given, am_exp_given);
  at::Tensor M = at::bmm(lm_exp, am_exp.transpose(1, 2));
  auto [px, py] = ops::_simple_lattice::call(lm, am, lm_max, am_max, M, symbols,
                                             termination_symbol, rnnt_type, boundary,
                                             symbol_offset, blank_offset, frame_offset, w_am,
                                             w_lm, w_norm);
  return {std::move(px), std::move(py), lm_exp, am_exp, std::move(M)};
}

class LatticeFunction : public torch::autograd::Function<LatticeFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& lm, const at::Tensor& am,
                               const at::Tensor& symbols, int64_t termination_symbol,
                               c10::string_view rnnt_type, const OptTensor& boundary,
                               const OptTensor& symbol_offset, const OptTensor& blank_offset,
                               const OptTensor& frame_offset, double w_am, double w_lm,
                               double w_norm, const OptTensor& lm_max, const OptTensor& lm_exp,
                               const OptTensor& am_max, const OptTensor& am_exp) {
    at::AutoDispatchBelowADInplaceOrView guard;
    LatticeForward f = lattice_forward(lm, am, symbols, termination_symbol, rnnt_type, boundary,
                                       symbol_offset, blank_offset, frame_offset, w_am, w_lm,
                                       w_norm, lm_max, lm_exp, am_max, am_exp);
    ctx->save_for_backward(
        {f.lm_exp, f.am_exp, f.M, symbols, given(boundary) ? *boundary : at::Tensor()});
    ctx->saved_data["termination_symbol"] = termination_symbol;
    ctx->saved_data["rnnt_type"] = std::string(rnnt_type);
    remember_input_edges(ctx, op_name("rnnt::get_rnnt_logprobs"), lm, am);
    ctx->saved_data["weights"] = std::vector<double>{w_am, w_lm, w_norm};
    ctx->saved_data["offsets"] =
        std::vector<bool>{given(symbol_offset), given(blank_offset), given(frame_offset)};
    return {f.px, f.py};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &lm_exp = saved[0], &am_exp = saved[1], &M = saved[2];
    const at::Tensor& symbols = saved[3];
    const OptTensor boundary = saved[4].defined() ? OptTensor(saved[4]) : c10::nullopt;
    const int64_t termination_symbol = ctx->saved_data["termination_symbol"].toInt();
    const std::string rnnt_type = ctx->saved_data["rnnt_type"].toStringRef();
    const auto w = ctx->saved_data["weights"].toDoubleVector();
    const auto offsets = ctx->saved_data["offsets"].toBoolList();
    // Undefined output gradients arrive as zeros (materialized by autograd).
    const at::Tensor &grad_px = grads[0], &grad_py = grads[1];
    at::AutoDispatchBelowADInplaceOrView guard;
    const at::Tensor W =
        ops::_simple_lattice_backward::call(grad_px, grad_py, M, rnnt_type, boundary, w[2]);
    // d exp(x - max) = exp(x - max) * upstream; the maxima are constants.
    at::Tensor grad_lm = at::bmm(W, am_exp).mul_(lm_exp);
    at::Tensor grad_am = at::bmm(W.transpose(1, 2), lm_exp).mul_(am_exp);
    auto [grad_symbol, grad_blank, grad_frame] = ops::_simple_lattice_gather_grads_::call(
        grad_lm, grad_am, grad_px, grad_py, symbols, termination_symbol, rnnt_type, boundary,
        w[0], w[1]);
    const auto if_given = [](bool g, const at::Tensor& t) { return g ? t : at::Tensor(); };
    // The kernels above run below autograd: under create_graph=True these
    // gradients get a node that raises if differentiated again.
    return differentiable_once(
        ctx,
        {grad_lm, grad_am, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
         if_given(offsets[0], grad_symbol), if_given(offsets[1], grad_blank),
         if_given(offsets[2], grad_frame), at::Tensor(), at::Tensor(), at::Tensor(),
         at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()},
        grads[0]);
  }
};

std::tuple<at::Tensor, at::Tensor> simple_lattice_logprobs_autograd(
    const at::Tensor& lm, const at::Tensor& am, const at::Tensor& symbols,
    int64_t termination_symbol, c10::string_view rnnt_type, const OptTensor& boundary,
    const OptTensor& symbol_offset, const OptTensor& blank_offset, const OptTensor& frame_offset,
    double w_am, double w_lm, double w_norm, const OptTensor& lm_max, const OptTensor& lm_exp,
    const OptTensor& am_max, const OptTensor& am_exp) {
  const auto out = LatticeFunction::apply(lm, am, symbols, termination_symbol, rnnt_type,
                                          boundary, symbol_offset, blank_offset, frame_offset,
                                          w_am, w_lm, w_norm, lm_max, lm_exp, am_max, am_exp);
  return {out[0], out[1]};
}

// Below autograd (inference mode, or tensors without autograd).
std::tuple<at::Tensor, at::Tensor> simple_lattice_logprobs_plain(
    const at::Tensor& lm, const at::Tensor& am, const at::Tensor& symbols,
    int64_t termination_symbol, c10::string_view rnnt_type, const OptTensor& boundary,
    const OptTensor& symbol_offset, const OptTensor& blank_offset, const OptTensor& frame_offset,
    double w_am, double w_lm, double w_norm, const OptTensor& lm_max, const OptTensor& lm_exp,
    const OptTensor& am_max, const OptTensor& am_exp) {
  LatticeForward f = lattice_forward(lm, am, symbols, termination_symbol, rnnt_type, boundary,
                                     symbol_offset, blank_offset, frame_offset, w_am, w_lm,
                                     w_norm, lm_max, lm_exp, am_max, am_exp);
  return {std::move(f.px), std::move(f.py)};
}

}  // namespace

TORCH_LIBRARY_IMPL(rnnt, Autograd, m) {
  m.impl(ops::_simple_lattice_logprobs::name, &simple_lattice_logprobs_autograd);
}

TORCH_LIBRARY_IMPL(rnnt, CompositeExplicitAutograd, m) {
  m.impl(ops::_simple_lattice_logprobs::name, &simple_lattice_logprobs_plain);
}

}  // namespace rnnt

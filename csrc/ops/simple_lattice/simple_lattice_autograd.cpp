// get_rnnt_logprobs and get_rnnt_logprobs_smoothed in eager mode: the
// simple joiner's px/py with a hand-written backward (a C++
// autograd::Function) around the fused lattice ops of simple_lattice_ops.h.
// Forward: the two row maxima, the two shifted exponentials, one batched
// GEMM and one lattice kernel; backward: one kernel for d M, two GEMMs, two
// products and one kernel for the gather terms. The smoothed loss adds its
// weights and its per-row and per-frame offsets, computed here with ATen
// (their gradients by autograd) from the row maxima and exponentials that the
// lattice then reuses. The ATen compositions in logprobs.cpp
// compute the same values with about three times as many kernels; traced
// calls keep them. Not twice differentiable (as the recursion).
#include <torch/autograd.h>

#include <limits>

#include "common/differentiable_once.h"
#include "common/op_names.h"
#include "losses/logprobs.h"
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

class LatticeFunction : public torch::autograd::Function<LatticeFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& lm, const at::Tensor& am,
                               const at::Tensor& symbols, int64_t termination_symbol,
                               c10::string_view rnnt_type, const OptTensor& boundary,
                               const OptTensor& symbol_offset, const OptTensor& blank_offset,
                               const OptTensor& frame_offset, double w_am, double w_lm,
                               double w_norm, const OptTensor& lm_max_given,
                               const OptTensor& lm_exp_given, const OptTensor& am_max_given,
                               const OptTensor& am_exp_given) {
    at::AutoDispatchBelowADInplaceOrView guard;
    // [B][S+1][1] and [B][S+1][C]; [B][T][1] and [B][T][C].
    const auto [lm_max, lm_exp] = shifted_exp(lm, lm_max_given, lm_exp_given);
    const auto [am_max, am_exp] = shifted_exp(am, am_max_given, am_exp_given);
    const at::Tensor M = at::bmm(lm_exp, am_exp.transpose(1, 2));  // [B][S+1][T]
    auto [px, py] = ops::_simple_lattice::call(lm, am, lm_max, am_max, M, symbols, termination_symbol,
                                        rnnt_type, boundary, symbol_offset, blank_offset,
                                        frame_offset, w_am, w_lm, w_norm);
    ctx->save_for_backward(
        {lm_exp, am_exp, M, symbols, given(boundary) ? *boundary : at::Tensor()});
    ctx->saved_data["termination_symbol"] = termination_symbol;
    ctx->saved_data["rnnt_type"] = std::string(rnnt_type);
    remember_input_edges(ctx, lm, am, op_name("rnnt::get_rnnt_logprobs"));
    ctx->saved_data["weights"] = std::vector<double>{w_am, w_lm, w_norm};
    ctx->saved_data["offsets"] =
        std::vector<bool>{given(symbol_offset), given(blank_offset), given(frame_offset)};
    return {px, py};
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

std::tuple<at::Tensor, at::Tensor> apply_lattice(
    const at::Tensor& lm, const at::Tensor& am, const at::Tensor& symbols,
    int64_t termination_symbol, c10::string_view rnnt_type, const OptTensor& boundary,
    const OptTensor& symbol_offset, const OptTensor& blank_offset, const OptTensor& frame_offset,
    double w_am, double w_lm, double w_norm, const OptTensor& lm_max = c10::nullopt,
    const OptTensor& lm_exp = c10::nullopt, const OptTensor& am_max = c10::nullopt,
    const OptTensor& am_exp = c10::nullopt) {
  const auto out = LatticeFunction::apply(lm, am, symbols, termination_symbol, rnnt_type,
                                          boundary, symbol_offset, blank_offset, frame_offset,
                                          w_am, w_lm, w_norm, lm_max, lm_exp, am_max, am_exp);
  return {out[0], out[1]};
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> simple_logprobs_fused(
    const at::Tensor& lm, const at::Tensor& am, const at::Tensor& symbols,
    int64_t termination_symbol, c10::string_view rnnt_type, const OptTensor& boundary) {
  return apply_lattice(lm, am, symbols, termination_symbol, rnnt_type, boundary, c10::nullopt,
                       c10::nullopt, c10::nullopt, 1.0, 1.0, 1.0);
}

// k2's smoothed px/py, combined * (lm + am) + lm_scale * (LM only) +
// am_scale * (AM only), regrouped per term (simple_lattice_math.h):
//   w_am = combined + am_scale, w_lm = combined + lm_scale, w_norm = combined,
//   symbol_offset[s] = -lm_scale * lmonly[s] + am_scale * log unigram[y_s],
//   blank_offset[s]  = -lm_scale * lmonly[s] + am_scale * log unigram[blank],
//   frame_offset[t]  = -am_scale * amonly[t],
// with lmonly[s] = logsumexp_c lm[s][c], unigram = the LM's probabilities
// averaged over batch and positions, amonly[t] = log sum_c exp(am[t][c])
// unigram[c], and the scales of smoothing_scales (logprobs.h).
// lmonly and amonly are passed without their row maxima lm_max[s] and
// am_max[t], which cancel against the lattice's own (simple_lattice_math.h,
// mix): with huge logits no large numbers are subtracted.
std::tuple<at::Tensor, at::Tensor> smoothed_logprobs_fused(
    const at::Tensor& lm, const at::Tensor& am, const at::Tensor& symbols,
    int64_t termination_symbol, double lm_only_scale, double am_only_scale,
    const OptTensor& boundary, c10::string_view rnnt_type) {
  const SmoothingScales w = smoothing_scales(lm_only_scale, am_only_scale);
  const double combined = w.combined, lm_scale = w.lm, am_scale = w.am;
  const double tiny = tiny_of(am);
  const int64_t S = lm.size(1) - 1;
  const at::Tensor lm_max = std::get<0>(lm.max(2, true)).detach();    // [B][S+1][1]
  const at::Tensor am_max = std::get<0>(am.max(2, true)).detach();    // [B][T][1]
  const at::Tensor lm_probs = (lm - lm_max).exp();                    // [B][S+1][C]
  const at::Tensor lm_sums = lm_probs.sum(2);                         // [B][S+1]
  const at::Tensor unigram =                                          // [C]
      (lm_probs / lm_sums.unsqueeze(2)).mean(at::IntArrayRef{0, 1}) + tiny;
  const at::Tensor log_unigram = unigram.log();
  const at::Tensor am_probs = (am - am_max).exp();                    // [B][T][C]
  const at::Tensor amonly = at::matmul(am_probs, unigram).log();     // [B][T], less am_max
  const at::Tensor lm_part = lm_sums.log() * -lm_scale;               // [B][S+1], less lm_max
  const at::Tensor symbol_log_unigram =  // [B][S]
      log_unigram.index_select(0, symbols.flatten()).view_as(symbols);
  const at::Tensor symbol_offset = lm_part.narrow(1, 0, S) + symbol_log_unigram * am_scale;
  const at::Tensor blank_offset = lm_part + log_unigram.select(0, termination_symbol) * am_scale;
  // The lattice reuses the maxima and the exponentials (its own gradient
  // flows through lm and am, not through these).
  return apply_lattice(lm, am, symbols, termination_symbol, rnnt_type, boundary, symbol_offset,
                       blank_offset, amonly * -am_scale, combined + am_scale, combined + lm_scale,
                       combined, lm_max, lm_probs.detach(), am_max, am_probs.detach());
}

}  // namespace rnnt

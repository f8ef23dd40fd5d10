// Autograd of rnnt::_duration_lattice: the forward kernel saves alpha and the
// per-node normalisers; the backward kernel computes beta and writes the
// gradients of the logits (and duration logits) from them. Differentiable
// once (differentiable_once.h): a second-order gradient raises.
#include <torch/autograd.h>
#include <torch/library.h>

#include "common/differentiable_once.h"
#include "common/op_names.h"
#include "duration_lattice.h"
#include "tdt_ops.h"

namespace rnnt {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class DurationLatticeFunction : public torch::autograd::Function<DurationLatticeFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& logits,
                               const c10::optional<at::Tensor>& duration_logits,
                               const at::Tensor& symbols, const std::vector<int64_t>& arcs,
                               const c10::optional<at::Tensor>& boundary, double sigma,
                               double fastemit_lambda, bool label_logprobs) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [scores, alpha, norms] = ops::_duration_lattice_forward::call(
        logits, duration_logits, symbols, arcs, boundary, sigma, fastemit_lambda,
        label_logprobs);
    const bool has_z = duration_logits.has_value() && duration_logits->defined();
    const bool has_boundary = boundary.has_value() && boundary->defined();
    ctx->save_for_backward({logits, has_z ? *duration_logits : at::Tensor(), symbols,
                            has_boundary ? *boundary : at::Tensor(), scores, alpha, norms});
    remember_input_edges(ctx, op_name("rnnt::_duration_lattice"), logits,
                         has_z ? *duration_logits : at::Tensor());
    ctx->saved_data["arcs"] = arcs;
    ctx->saved_data["sigma"] = sigma;
    ctx->saved_data["fastemit_lambda"] = fastemit_lambda;
    ctx->saved_data["label_logprobs"] = label_logprobs;
    return {scores};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const auto optional = [](const at::Tensor& t) {
      return t.defined() ? c10::optional<at::Tensor>(t) : c10::nullopt;
    };
    const std::vector<int64_t> arcs = ctx->saved_data["arcs"].toIntVector();
    auto [grad_logits, grad_z] = ops::_duration_lattice_backward::call(
        grads[0], s[0], optional(s[1]), s[2], arcs, optional(s[3]),
        ctx->saved_data["sigma"].toDouble(), ctx->saved_data["fastemit_lambda"].toDouble(),
        s[4], s[5], s[6], ctx->saved_data["label_logprobs"].toBool());
    return differentiable_once(ctx,
                               {grad_logits, s[1].defined() ? grad_z : at::Tensor(),
                                at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
                                at::Tensor(), at::Tensor()},
                               grads[0]);
  }
};

// The scores with the gradients of their sum, from one forward and one
// backward kernel call; backward scales the saved gradients by each item's
// incoming gradient (the returned gradients are not differentiable).
class DurationLatticeWithGradFunction
    : public torch::autograd::Function<DurationLatticeWithGradFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& logits,
                               const c10::optional<at::Tensor>& duration_logits,
                               const at::Tensor& symbols, const std::vector<int64_t>& arcs,
                               const c10::optional<at::Tensor>& boundary, double sigma,
                               bool label_logprobs) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [scores, grad_logits, grad_z] = ops::_duration_lattice_with_grad::call(
        logits, duration_logits, symbols, arcs, boundary, sigma, label_logprobs);
    const bool has_z = duration_logits.has_value() && duration_logits->defined();
    ctx->save_for_backward({grad_logits, has_z ? grad_z : at::Tensor()});
    remember_input_edges(ctx, op_name("rnnt::_duration_lattice_with_grad"), logits,
                         has_z ? *duration_logits : at::Tensor());
    ctx->mark_non_differentiable({grad_logits, grad_z});
    return {scores, grad_logits, grad_z};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const at::Tensor& g = grads[0];
    const auto scaled = [&](const at::Tensor& saved) {
      if (!saved.defined() || !g.defined()) return at::Tensor();
      return saved * g.to(saved.scalar_type()).view({-1, 1, 1, 1});
    };
    return differentiable_once(ctx,
                               {scaled(s[0]), scaled(s[1]), at::Tensor(), at::Tensor(),
                                at::Tensor(), at::Tensor(), at::Tensor()},
                               g);
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor> duration_lattice_with_grad_autograd(
    const at::Tensor& logits, const c10::optional<at::Tensor>& duration_logits,
    const at::Tensor& symbols, c10::IntArrayRef arcs, const c10::optional<at::Tensor>& boundary,
    double sigma, bool label_logprobs) {
  const auto out = DurationLatticeWithGradFunction::apply(logits, duration_logits, symbols,
                                                          arcs.vec(), boundary, sigma,
                                                          label_logprobs);
  return {out[0], out[1], out[2]};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> duration_lattice_with_grad_plain(
    const at::Tensor& logits, const c10::optional<at::Tensor>& duration_logits,
    const at::Tensor& symbols, c10::IntArrayRef arcs, const c10::optional<at::Tensor>& boundary,
    double sigma, bool label_logprobs) {
  auto [scores, alpha, norms] = ops::_duration_lattice_forward::call(
      logits, duration_logits, symbols, arcs, boundary, sigma, 0.0, label_logprobs);
  auto [grad_logits, grad_z] = ops::_duration_lattice_backward::call(
      at::ones_like(scores), logits, duration_logits, symbols, arcs, boundary, sigma, 0.0, scores,
      alpha, norms, label_logprobs);
  return {scores, grad_logits, grad_z};
}

at::Tensor duration_lattice_autograd(const at::Tensor& logits,
                                     const c10::optional<at::Tensor>& duration_logits,
                                     const at::Tensor& symbols, c10::IntArrayRef arcs,
                                     const c10::optional<at::Tensor>& boundary, double sigma,
                                     double fastemit_lambda, bool label_logprobs) {
  return DurationLatticeFunction::apply(logits, duration_logits, symbols, arcs.vec(), boundary,
                                        sigma, fastemit_lambda, label_logprobs)[0];
}

at::Tensor duration_lattice_plain(const at::Tensor& logits,
                                  const c10::optional<at::Tensor>& duration_logits,
                                  const at::Tensor& symbols, c10::IntArrayRef arcs,
                                  const c10::optional<at::Tensor>& boundary, double sigma,
                                  double fastemit_lambda, bool label_logprobs) {
  return std::get<0>(ops::_duration_lattice_forward::call(
      logits, duration_logits, symbols, arcs, boundary, sigma, fastemit_lambda, label_logprobs));
}

}  // namespace

TORCH_LIBRARY_IMPL(rnnt, Autograd, m) {
  m.impl(ops::_duration_lattice::name, &duration_lattice_autograd);
  m.impl(ops::_duration_lattice_with_grad::name, &duration_lattice_with_grad_autograd);
}

TORCH_LIBRARY_IMPL(rnnt, CompositeExplicitAutograd, m) {
  m.impl(ops::_duration_lattice::name, &duration_lattice_plain);
  m.impl(ops::_duration_lattice_with_grad::name, &duration_lattice_with_grad_plain);
}

}  // namespace rnnt

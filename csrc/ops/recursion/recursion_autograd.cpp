// Gradients of rnnt::mutual_information and rnnt::mutual_information_with_grad
// (Autograd key, a C++ autograd::Function, so TorchScript and LibTorch get
// them too), and their backend-agnostic kernels below autograd, which take
// an int32 boundary as well (converted).
//
// As in k2, the forward pass also runs the backward kernel with a unit
// gradient per batch item: d scores[b] / d px[b] does not depend on the other
// items, so the true backward only scales the saved occupation probabilities
// by grad_scores[b]. The same tensors are what return_grad=True returns.
#include <torch/autograd.h>
#include <torch/library.h>

#include "common/checks.h"
#include "common/differentiable_once.h"
#include "common/op_names.h"
#include "recursion_ops.h"

namespace rnnt {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::tuple<at::Tensor, at::Tensor, at::Tensor> scores_and_unit_grads(
    const at::Tensor& px_in, const at::Tensor& py_in,
    const c10::optional<at::Tensor>& boundary_in) {
  // Both kernels read px and py contiguously: copy a strided input once,
  // not once per kernel (the pruned loss's px/py are transposed views).
  const at::Tensor px = px_in.contiguous(), py = py_in.contiguous();
  const c10::optional<at::Tensor> boundary = int64_index(boundary_in);
  auto [scores, p] = ops::_mutual_information_forward::call(px, py, boundary);
  auto [px_grad, py_grad] = ops::_mutual_information_backward::call(px, py, boundary, p);
  return {scores, px_grad, py_grad};
}

class MutualInformationFunction
    : public torch::autograd::Function<MutualInformationFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& px,
                               const at::Tensor& py,
                               const c10::optional<at::Tensor>& boundary) {
    at::AutoDispatchBelowADInplaceOrView guard;
    // Redispatch the same public op below autograd (not the backend ops), so
    // that tracers below autograd (torch.export's decompositions, hence the
    // dynamo ONNX exporter) record rnnt::mutual_information_with_grad.
    auto [scores, px_grad, py_grad] =
        ops::mutual_information_with_grad::call(px, py, boundary);
    ctx->save_for_backward({px_grad, py_grad});
    remember_input_edges(ctx, op_name("rnnt::mutual_information"), px, py);
    ctx->mark_non_differentiable({px_grad, py_grad});
    // No zero tensors for the gradients of px_grad and py_grad (never used).
    ctx->set_materialize_grads(false);
    return {scores, px_grad, py_grad};
  }

  // Not twice differentiable: the saved occupation probabilities are
  // treated as constants (a second-order gradient raises:
  // differentiable_once.h).
  static variable_list backward(AutogradContext* ctx,
                                variable_list grad_outputs) {
    const at::Tensor& grad_scores = grad_outputs[0];
    if (!grad_scores.defined()) return {at::Tensor(), at::Tensor(), at::Tensor()};
    const auto saved = ctx->get_saved_variables();
    const at::Tensor scale = grad_scores.reshape({-1, 1, 1});
    return differentiable_once(ctx, {saved[0] * scale, saved[1] * scale, at::Tensor()},
                               grad_scores);
  }
};

at::Tensor mutual_information_autograd(
    const at::Tensor& px, const at::Tensor& py,
    const c10::optional<at::Tensor>& boundary) {
  const bool needs_grad = at::GradMode::is_enabled() &&
                          (px.requires_grad() || py.requires_grad());
  if (!needs_grad) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return ops::mutual_information::call(px, py, boundary);  // same op, see above
  }
  return MutualInformationFunction::apply(px, py, boundary)[0];
}

std::tuple<at::Tensor, at::Tensor, at::Tensor>
mutual_information_with_grad_autograd(
    const at::Tensor& px, const at::Tensor& py,
    const c10::optional<at::Tensor>& boundary) {
  const auto out = MutualInformationFunction::apply(px, py, boundary);
  return {out[0], out[1], out[2]};
}

// Below autograd (inference mode, or tensors without autograd).
at::Tensor mutual_information_plain(const at::Tensor& px, const at::Tensor& py,
                                    const c10::optional<at::Tensor>& boundary) {
  return std::get<0>(ops::_mutual_information_forward::call(px, py, int64_index(boundary)));
}

}  // namespace

TORCH_LIBRARY_IMPL(rnnt, Autograd, m) {
  m.impl("mutual_information", &mutual_information_autograd);
  m.impl("mutual_information_with_grad", &mutual_information_with_grad_autograd);
}

TORCH_LIBRARY_IMPL(rnnt, CompositeExplicitAutograd, m) {
  m.impl("mutual_information", &mutual_information_plain);
  m.impl("mutual_information_with_grad", &scores_and_unit_grads);
}

}  // namespace rnnt

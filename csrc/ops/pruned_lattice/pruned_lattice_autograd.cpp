// Autograd of rnnt::_pruned_lattice: its backward is one gather kernel,
// rnnt::_pruned_lattice_backward (the gradient of each kept log-prob read at
// its lattice position). Not twice differentiable (as the recursion).
#include <torch/autograd.h>
#include <torch/library.h>

#include "common/differentiable_once.h"
#include "common/op_names.h"
#include "pruned_lattice_ops.h"

namespace rnnt {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class PrunedLatticeFunction : public torch::autograd::Function<PrunedLatticeFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& px_kept,
                               const at::Tensor& py_kept, const at::Tensor& ranges, int64_t S,
                               c10::string_view rnnt_type,
                               const c10::optional<at::Tensor>& boundary) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [px, py] = ops::_pruned_lattice::call(px_kept, py_kept, ranges, S, rnnt_type, boundary);
    const bool has_boundary = boundary.has_value() && boundary->defined();
    ctx->save_for_backward({ranges, has_boundary ? *boundary : at::Tensor()});
    remember_input_edges(ctx, op_name("rnnt::_pruned_lattice"), px_kept, py_kept);
    ctx->saved_data["rnnt_type"] = std::string(rnnt_type);
    return {px, py};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& ranges = saved[0];
    const c10::optional<at::Tensor> boundary =
        saved[1].defined() ? c10::optional<at::Tensor>(saved[1]) : c10::nullopt;
    const std::string rnnt_type = ctx->saved_data["rnnt_type"].toStringRef();
    // Undefined output gradients arrive as zeros (materialized by autograd).
    const at::Tensor &grad_px = grads[0], &grad_py = grads[1];
    auto [grad_px_kept, grad_py_kept] =
        ops::_pruned_lattice_backward::call(grad_px, grad_py, ranges, rnnt_type, boundary);
    return differentiable_once(
        ctx, {grad_px_kept, grad_py_kept, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()},
        grad_px);
  }
};

std::tuple<at::Tensor, at::Tensor> pruned_lattice_autograd(
    const at::Tensor& px_kept, const at::Tensor& py_kept, const at::Tensor& ranges, int64_t S,
    c10::string_view rnnt_type, const c10::optional<at::Tensor>& boundary) {
  const auto out = PrunedLatticeFunction::apply(px_kept, py_kept, ranges, S, rnnt_type, boundary);
  return {out[0], out[1]};
}

}  // namespace

TORCH_LIBRARY_IMPL(rnnt, Autograd, m) {
  m.impl("_pruned_lattice", &pruned_lattice_autograd);
}

}  // namespace rnnt

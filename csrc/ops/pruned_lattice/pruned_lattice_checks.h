// rnnt::_pruned_lattice(px_kept, py_kept, ranges, S, rnnt_type, boundary)
// -> (px, py) and its backward rnnt::_pruned_lattice_backward(grad_px,
// grad_py, ranges, rnnt_type, boundary) -> (grad_px_kept, grad_py_kept): the
// checks and prepared inputs shared by the CPU and CUDA kernels (math in
// pruned_lattice_math.h; autograd in pruned_lattice_autograd.cpp).
#pragma once

#include <ATen/ATen.h>

#include "common/op_names.h"
#include "pruned_lattice_math.h"
#include "simple_lattice/simple_lattice_checks.h"

namespace rnnt {

// ranges int64 [B][T][R] on `like`'s device, contiguous.
inline at::Tensor check_ranges(const at::Tensor& ranges, int64_t B, int64_t T,
                               const at::Tensor& like, const char* op) {
  TORCH_CHECK(ranges.scalar_type() == at::kLong && ranges.dim() == 3 && ranges.size(0) == B &&
                  ranges.size(1) == T,
              op, ": ranges must be an int64 [B][T][R] tensor with B = ", B, ", T = ", T,
              ", got a ", ranges.scalar_type(), " ", shape_str(ranges), " tensor");
  TORCH_CHECK(ranges.device() == like.device(), op, ": ranges must be on ", like.device(),
              ", got ", ranges.device());
  return ranges.contiguous();
}

template <typename scalar_t>
PrunedLatticeBatch<scalar_t> pruned_batch_of(const at::Tensor& px_kept, const at::Tensor& py_kept,
                                             const at::Tensor& ranges, const at::Tensor& boundary,
                                             SimpleLatticeDims d) {
  return {px_kept.data_ptr<scalar_t>(),           py_kept.data_ptr<scalar_t>(),
          ranges.data_ptr<int64_t>(),              data_or_null<int64_t>(boundary),
          ranges.size(0),                          ranges.size(2),
          d};
}

struct PrunedForwardInputs {
  SimpleLatticeDims d;
  at::Tensor px_kept, py_kept, ranges, boundary;  // contiguous
};

// px_kept, py_kept [B][T][R] float32/float64; ranges int64 [B][T][R];
// S >= R - 1 >= 0.
inline PrunedForwardInputs check_pruned_lattice_inputs(
    const at::Tensor& px_kept, const at::Tensor& py_kept, const at::Tensor& ranges, int64_t S,
    c10::string_view rnnt_type, const c10::optional<at::Tensor>& boundary) {
  const char* op = op_name("rnnt::_pruned_lattice");
  TORCH_CHECK(py_kept.dim() == 3, op, ": py_kept must be 3-D [B][T][R], got ", shape_str(py_kept));
  check_float(py_kept, op, "py_kept");
  const int64_t B = py_kept.size(0), T = py_kept.size(1), R = py_kept.size(2);
  check_simple_tensor(px_kept, "px_kept", {B, T, R}, py_kept, op);
  TORCH_CHECK_VALUE(S >= 0 && R >= 1 && R <= S + 1, op, ": need 1 <= R <= S + 1, got R = ", R,
                    " and S = ", S);
  at::Tensor r = check_ranges(ranges, B, T, py_kept, op);
  TORCH_CHECK(r.size(2) == R, op, ": ranges must be [B][T][R] = ", py_kept.sizes(), ", got ",
              shape_str(r));
  at::Tensor bounds = check_simple_indices(at::Tensor(), boundary, B, S, py_kept, op);
  return {simple_lattice_dims(S, T, rnnt_type, op), px_kept.contiguous(), py_kept.contiguous(),
          r, bounds};
}

struct PrunedBackwardInputs {
  SimpleGradInputs grads;
  at::Tensor ranges;  // contiguous [B][T][R]
};

inline PrunedBackwardInputs check_pruned_backward_inputs(
    const at::Tensor& grad_px, const at::Tensor& grad_py, const at::Tensor& ranges,
    c10::string_view rnnt_type, const c10::optional<at::Tensor>& boundary) {
  const char* op = op_name("rnnt::_pruned_lattice_backward");
  SimpleGradInputs g = check_simple_grads(grad_px, grad_py, rnnt_type, boundary, at::Tensor(), op);
  return {g, check_ranges(ranges, g.B, g.d.T, grad_py, op)};
}

}  // namespace rnnt

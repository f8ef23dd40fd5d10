// The fused backend op behind get_rnnt_prune_ranges in eager mode,
// rnnt::_prune_ranges(px_grad, py_grad, boundary, s_range, max_step): its
// checks and prepared inputs, shared by the CPU and CUDA kernels (math in
// prune_ranges_math.h).
#pragma once

#include <ATen/ATen.h>

#include "common/checks.h"
#include "common/op_names.h"
#include "recursion/recursion_checks.h"
#include "prune_ranges_math.h"

namespace rnnt {

struct PruneInputs {
  int64_t B;
  PruneDims dims;
  at::Tensor px_grad;   // contiguous [B][S][T+1] or [B][S][T]
  at::Tensor py_grad;   // contiguous [B][S+1][T]
  at::Tensor boundary;  // contiguous int64 [B][4] on px_grad's device, or undefined
};

// px_grad [B][S][T(+1)] and py_grad [B][S+1][T], float32 or float64, on one
// device; s_range (the final window size) in [1, S+1]; max_step in
// [1, S+2] (s_range for regular RNN-T, 2 otherwise); boundary, if given,
// int64 [B][4] (its values need not lie in the lattice: the ranges lie in
// [0, S] whatever they are).
inline PruneInputs check_prune_inputs(const at::Tensor& px_grad, const at::Tensor& py_grad,
                                      const c10::optional<at::Tensor>& boundary,
                                      int64_t s_range, int64_t max_step) {
  const char* op = op_name("rnnt::_prune_ranges");
  TORCH_CHECK(px_grad.dim() == 3 && py_grad.dim() == 3, op,
              ": px_grad and py_grad must be 3-D, got ", shape_str(px_grad), " and ",
              shape_str(py_grad));
  check_float(px_grad, op, "px_grad");
  TORCH_CHECK(py_grad.scalar_type() == px_grad.scalar_type(), op,
              ": py_grad must have the dtype of px_grad (", px_grad.scalar_type(), "), got ",
              py_grad.scalar_type());
  TORCH_CHECK(py_grad.device() == px_grad.device(), op,
              ": px_grad and py_grad must be on one device, got ", px_grad.device(), " and ",
              py_grad.device());
  const int64_t B = py_grad.size(0), S = py_grad.size(1) - 1, T = py_grad.size(2);
  TORCH_CHECK(S >= 0 && px_grad.size(0) == B && px_grad.size(1) == S &&
                  (px_grad.size(2) == T || px_grad.size(2) == T + 1),
              op, ": px_grad must be [B][S][T+1] or [B][S][T] for py_grad [B][S+1][T] = ",
              shape_str(py_grad), ", got ", shape_str(px_grad));
  TORCH_CHECK_VALUE(s_range >= 1 && s_range <= S + 1, op, ": s_range must be in [1, S+1 = ",
                    S + 1, "], got ", s_range);
  TORCH_CHECK_VALUE(max_step >= 1 && max_step <= S + 2, op, ": max_step must be in [1, S+2 = ",
                    S + 2, "], got ", max_step);
  check_boundary_shape(boundary, B, py_grad, op);
  PruneInputs in{B, PruneDims{S, T, s_range, max_step}, px_grad.contiguous(),
                 py_grad.contiguous(), at::Tensor()};
  if (boundary.has_value() && boundary->defined()) {
    in.boundary = boundary->to(px_grad.device()).contiguous();
  }
  return in;
}

}  // namespace rnnt

// Input checks shared by every backend of the rnnt ops. Errors name the
// argument and the expected shape/dtype/device, so Python, TorchScript and
// LibTorch users all see the same message.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "common/checked_values.h"
#include "common/checks.h"
#include "common/op_names.h"
#include "rnnt_math.h"
#include "common/value_checks.h"

namespace rnnt {

// Validated lattice sizes and per-item boxes of a (px, py, boundary) triple.
struct RecursionInputs {
  int64_t B;
  LatticeDims dims;
  // [B][4] int64, contiguous, on px's device: (s_begin, t_begin, s_end, t_end).
  at::Tensor boxes;
};

// Each of the B rows `v` (4 values each, read on the host) satisfies
// 0 <= s_begin <= s_end <= S and 0 <= t_begin <= t_end <= T.
inline void check_boundary_rows(const int64_t* v, int64_t B, int64_t S, int64_t T,
                                const char* op) {
  for (int64_t i = 0; i < B; ++i) {
    const Box box{v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]};
    TORCH_CHECK_VALUE(box_inside(box, S, T), op, ": boundary[", i, "] = (", box.s_begin, ", ",
                box.t_begin, ", ", box.s_end, ", ", box.t_end,
                ") must satisfy 0 <= s_begin <= s_end <= S = ", S,
                " and 0 <= t_begin <= t_end <= T = ", T);
  }
}

// Each row of boundary [B][4] int64 satisfies 0 <= s_begin <= s_end <= S
// and 0 <= t_begin <= t_end <= T (read on the host: on CUDA, a sync).
// A boundary that passed for some (S', T') and is unchanged since passes
// for every S >= its largest s_end and T >= its largest t_end without a
// second read (checked_values.h).
inline void check_boundary_values(const at::Tensor& boundary, int64_t S,
                                  int64_t T, const char* op) {
  int64_t max_s_end = 0, max_t_end = 0;
  if (CheckedValues::instance().lookup(boundary, CheckedKind::kBoundaryExtent, max_s_end,
                                       max_t_end) &&
      max_s_end <= S && max_t_end <= T) {
    return;
  }
  RNNT_RECORD_HOST_READ();
  const at::Tensor host = boundary.cpu().contiguous();
  check_boundary_rows(host.data_ptr<int64_t>(), host.size(0), S, T, op);
  remember_boundary_rows(boundary, host.data_ptr<int64_t>());
}

// Whether check_recursion_inputs reads the boundary's values: a copy to
// the host, which on CUDA waits for the device. The forward ops check them
// (unless value checks are off: value_checks.h); the backward ops trust the
// boundary the forward checked. The kernels clamp every box into the
// lattice, so an unchecked bad one cannot reach outside the tables.
enum class BoundaryValues { kCheck, kTrust };

// Checks px [B][S][T+1] or [B][S][T], py [B][S+1][T], optional boundary
// [B][4] int64 with (kCheck) 0 <= s_begin <= s_end <= S and
// 0 <= t_begin <= t_end <= T. A boundary on another device than px is moved
// there.
inline RecursionInputs check_recursion_inputs(
    const at::Tensor& px, const at::Tensor& py,
    const c10::optional<at::Tensor>& boundary, const char* op,
    BoundaryValues values = BoundaryValues::kCheck) {
  op = op_name(op);
  TORCH_CHECK(px.dim() == 3, op,
              ": px must be 3-D, [B][S][T+1] (regular) or [B][S][T] "
              "(modified), got shape ", shape_str(px));
  TORCH_CHECK(py.dim() == 3, op, ": py must be 3-D [B][S+1][T], got shape ",
              shape_str(py));
  check_float(px, op, "px");
  TORCH_CHECK(py.scalar_type() == px.scalar_type(), op,
              ": py must have the dtype of px (", px.scalar_type(), "), got ",
              py.scalar_type());
  TORCH_CHECK(py.device() == px.device(), op,
              ": px and py must be on the same device, got px on ",
              px.device(), " and py on ", py.device());
  const int64_t B = px.size(0), S = px.size(1), T = py.size(2);
  TORCH_CHECK(py.size(0) == B && py.size(1) == S + 1, op,
              ": py must be [B][S+1][T] = [", B, ", ", S + 1,
              ", T] given px of shape ", shape_str(px), ", got ",
              shape_str(py));
  TORCH_CHECK(px.size(2) == T || px.size(2) == T + 1, op,
              ": px must be [B][S][T+1] (regular) or [B][S][T] (modified) "
              "with T = py.size(2) = ", T, ", got px of shape ",
              shape_str(px));
  const LatticeDims dims{S, T, px.size(2) == T};

  at::Tensor boxes;
  if (boundary.has_value() && boundary->defined()) {
    const at::Tensor& b = *boundary;
    TORCH_CHECK(b.dim() == 2 && b.size(0) == B && b.size(1) == 4, op,
                ": boundary must be [B][4] = [", B,
                ", 4] (s_begin, t_begin, s_end, t_end), got shape ",
                shape_str(b));
    TORCH_CHECK(b.scalar_type() == at::kLong, op,
                ": boundary must be int64, got ", b.scalar_type());
    check_index_device(b, "boundary", px, "px", op);
    if (values == BoundaryValues::kCheck && value_checks_enabled()) {
      check_boundary_values(b, S, T, op);
    }
    boxes = b.to(px.device()).contiguous();
  } else {
    // Made on px's device: a copy from the host would wait for the device.
    boxes = at::zeros({B, 4}, px.options().dtype(at::kLong));
    boxes.select(1, 2).fill_(S);
    boxes.select(1, 3).fill_(T);
  }
  return {B, dims, boxes};
}

// p: the [B][S+1][T+1] forward table of px's dtype and device that
// _mutual_information_forward returned for these inputs.
inline void check_forward_table(const at::Tensor& p, const at::Tensor& px,
                                const RecursionInputs& in) {
  TORCH_CHECK(p.dim() == 3 && p.size(0) == in.B && p.size(1) == in.dims.S + 1 &&
                  p.size(2) == in.dims.p_cols() && p.scalar_type() == px.scalar_type() &&
                  p.device() == px.device(),
              "rnnt::mutual_information_backward: p must be the [B][S+1][T+1] "
              "forward table of px's dtype and device, got shape ", shape_str(p));
}

inline Box box_of(const int64_t* boxes, int64_t b, LatticeDims d) {
  return clamped_to(Box{boxes[4 * b], boxes[4 * b + 1], boxes[4 * b + 2], boxes[4 * b + 3]}, d);
}

}  // namespace rnnt

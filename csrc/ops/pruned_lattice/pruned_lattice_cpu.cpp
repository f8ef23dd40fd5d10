// CPU kernels of rnnt::_pruned_lattice and its backward (pruned_lattice_checks.h):
// lattice rows, and kept entries, in parallel.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

#include "pruned_lattice_checks.h"

namespace rnnt {
namespace {

// Every range in [0, S], whether or not value checks are on (free here).
void check_range_values(const at::Tensor& ranges, int64_t S, const char* own_op) {
  const char* op = op_name(own_op);
  const int64_t* v = ranges.data_ptr<int64_t>();
  for (int64_t i = 0; i < ranges.numel(); ++i) {
    TORCH_CHECK(v[i] >= 0 && v[i] <= S, op, ": ranges value ", v[i], " at flat index ", i,
                " is outside [0, S = ", S, "]");
  }
}

std::tuple<at::Tensor, at::Tensor> pruned_lattice_cpu(const at::Tensor& px_kept,
                                                      const at::Tensor& py_kept,
                                                      const at::Tensor& ranges, int64_t S,
                                                      c10::string_view rnnt_type,
                                                      const c10::optional<at::Tensor>& boundary) {
  const PrunedForwardInputs in =
      check_pruned_lattice_inputs(px_kept, py_kept, ranges, S, rnnt_type, boundary);
  check_range_values(in.ranges, S, "rnnt::_pruned_lattice");
  const SimpleLatticeDims d = in.d;
  const int64_t B = in.ranges.size(0);
  at::Tensor px = at::empty({B, d.S, d.px_cols()}, py_kept.options());
  at::Tensor py = at::empty({B, d.S + 1, d.T}, py_kept.options());
  AT_DISPATCH_FLOATING_TYPES(py_kept.scalar_type(), "rnnt_pruned_lattice_cpu", [&] {
    const PrunedLatticeBatch<scalar_t> batch =
        pruned_batch_of<scalar_t>(in.px_kept, in.py_kept, in.ranges, in.boundary, d);
    scalar_t* px_out = px.data_ptr<scalar_t>();
    scalar_t* py_out = py.data_ptr<scalar_t>();
    const int64_t grain = std::max<int64_t>(1, at::internal::GRAIN_SIZE / 8);
    at::parallel_for(0, batch.cells(), grain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) batch.write_cell(i, px_out, py_out);
    });
  });
  return {px, py};
}

std::tuple<at::Tensor, at::Tensor> pruned_lattice_backward_cpu(
    const at::Tensor& grad_px, const at::Tensor& grad_py, const at::Tensor& ranges,
    c10::string_view rnnt_type, const c10::optional<at::Tensor>& boundary) {
  const PrunedBackwardInputs in =
      check_pruned_backward_inputs(grad_px, grad_py, ranges, rnnt_type, boundary);
  check_range_values(in.ranges, in.grads.d.S, "rnnt::_pruned_lattice_backward");
  at::Tensor grad_px_kept = at::empty(in.ranges.sizes(), grad_py.options());
  at::Tensor grad_py_kept = at::empty(in.ranges.sizes(), grad_py.options());
  AT_DISPATCH_FLOATING_TYPES(grad_py.scalar_type(), "rnnt_pruned_lattice_backward_cpu", [&] {
    const SimpleGradBatch<scalar_t> grads = batch_of<scalar_t>(in.grads);
    const int64_t* r = in.ranges.data_ptr<int64_t>();
    const int64_t R = in.ranges.size(2);
    scalar_t* gx = grad_px_kept.data_ptr<scalar_t>();
    scalar_t* gy = grad_py_kept.data_ptr<scalar_t>();
    at::parallel_for(0, in.ranges.numel(), at::internal::GRAIN_SIZE, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) pruned_kept_grads(grads, r, R, i, gx, gy);
    });
  });
  return {grad_px_kept, grad_py_kept};
}

}  // namespace

TORCH_LIBRARY_IMPL(rnnt, CPU, m) {
  m.impl("_pruned_lattice", &pruned_lattice_cpu);
  m.impl("_pruned_lattice_backward", &pruned_lattice_backward_cpu);
}

}  // namespace rnnt

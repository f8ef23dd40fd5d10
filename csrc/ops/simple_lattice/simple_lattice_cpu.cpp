// CPU kernels of the simple loss's fused lattice ops (simple_lattice_checks.h): rows
// of the lattice in parallel (at::parallel_for), each cell or row by the
// functions of simple_lattice_math.h that the CUDA kernels also run.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

#include "simple_lattice_checks.h"

namespace rnnt {
namespace {

// Every symbol in [0, C), whether or not value checks are on: the kernels
// index with them (free on the CPU: nothing to wait for).
void check_symbol_values(const at::Tensor& symbols, int64_t C, const char* own_op) {
  const char* op = op_name(own_op);
  const int64_t* y = symbols.data_ptr<int64_t>();
  for (int64_t i = 0; i < symbols.numel(); ++i) {
    TORCH_CHECK(y[i] >= 0 && y[i] < C, op, ": symbols[", i / symbols.size(1), "][",
                i % symbols.size(1), "] = ", y[i], " is outside [0, C = ", C, ")");
  }
}

// Items (cells or rows) per parallel task: about at::internal::GRAIN_SIZE
// cells.
int64_t items_per_task(int64_t cells_per_item) {
  return std::max<int64_t>(1, at::internal::GRAIN_SIZE / std::max<int64_t>(cells_per_item, 1));
}

std::tuple<at::Tensor, at::Tensor> simple_lattice_cpu(
    const at::Tensor& lm, const at::Tensor& am, const at::Tensor& lm_max, const at::Tensor& am_max,
    const at::Tensor& M, const at::Tensor& symbols, int64_t termination_symbol,
    c10::string_view rnnt_type, const c10::optional<at::Tensor>& boundary,
    const c10::optional<at::Tensor>& symbol_offset, const c10::optional<at::Tensor>& blank_offset,
    const c10::optional<at::Tensor>& frame_offset, double w_am, double w_lm, double w_norm) {
  const SimpleLatticeInputs in = check_simple_lattice_inputs(
      lm, am, lm_max, am_max, M, symbols, termination_symbol, rnnt_type, boundary, symbol_offset,
      blank_offset, frame_offset, w_am, w_lm, w_norm);
  const SimpleLatticeDims d = in.d;
  check_symbol_values(in.symbols, d.C, "rnnt::_simple_lattice");
  at::Tensor px = at::empty({in.B, d.S, d.px_cols()}, lm.options());
  at::Tensor py = at::empty({in.B, d.S + 1, d.T}, lm.options());
  AT_DISPATCH_FLOATING_TYPES(lm.scalar_type(), "rnnt_simple_lattice_cpu", [&] {
    const SimpleLatticeBatch<scalar_t> batch = batch_of<scalar_t>(in);
    scalar_t* px_out = px.data_ptr<scalar_t>();
    scalar_t* py_out = py.data_ptr<scalar_t>();
    at::parallel_for(0, in.B * (d.S + 1), items_per_task(2 * d.T), [&](int64_t lo, int64_t hi) {
      for (int64_t row = lo; row < hi; ++row) batch.write_row(row, px_out, py_out);
    });
  });
  return {px, py};
}

at::Tensor simple_lattice_backward_cpu(const at::Tensor& grad_px, const at::Tensor& grad_py,
                                       const at::Tensor& M, c10::string_view rnnt_type,
                                       const c10::optional<at::Tensor>& boundary, double w_norm) {
  const SimpleGradInputs in =
      check_simple_backward_inputs(grad_px, grad_py, M, rnnt_type, boundary, w_norm);
  const SimpleLatticeDims d = in.d;
  at::Tensor W = at::empty({in.B, d.S + 1, d.T}, grad_py.options());
  AT_DISPATCH_FLOATING_TYPES(grad_py.scalar_type(), "rnnt_simple_lattice_backward_cpu", [&] {
    const SimpleGradBatch<scalar_t> batch = batch_of<scalar_t>(in);
    const scalar_t* m = in.M.data_ptr<scalar_t>();
    scalar_t* w = W.data_ptr<scalar_t>();
    at::parallel_for(0, in.B * (d.S + 1), items_per_task(d.T), [&](int64_t lo, int64_t hi) {
      for (int64_t row = lo; row < hi; ++row) batch.write_d_M_row(row, m, w);
    });
  });
  return W;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> simple_lattice_gather_grads_cpu(
    const at::Tensor& grad_lm, const at::Tensor& grad_am, const at::Tensor& grad_px,
    const at::Tensor& grad_py, const at::Tensor& symbols, int64_t termination_symbol,
    c10::string_view rnnt_type, const c10::optional<at::Tensor>& boundary, double w_am,
    double w_lm) {
  const SimpleGradInputs in = check_gather_grads_inputs(grad_lm, grad_am, grad_px, grad_py,
                                                        symbols, termination_symbol, rnnt_type,
                                                        boundary, w_am, w_lm);
  check_symbol_values(in.symbols, in.d.C, "rnnt::_simple_lattice_gather_grads_");
  const OffsetGrads offsets(in, grad_py.options());
  AT_DISPATCH_FLOATING_TYPES(grad_py.scalar_type(), "rnnt_simple_lattice_gather_grads_cpu", [&] {
    const SimpleGradBatch<scalar_t> batch = gather_batch_of<scalar_t>(in, offsets);
    scalar_t* lm_out = grad_lm.data_ptr<scalar_t>();
    scalar_t* am_out = grad_am.data_ptr<scalar_t>();
    at::parallel_for(0, batch.gather_rows(), items_per_task(in.d.S + in.d.T),
                     [&](int64_t lo, int64_t hi) {
                       for (int64_t row = lo; row < hi; ++row) {
                         batch.add_gather_terms(row, lm_out, am_out);
                       }
                     });
  });
  return offsets.as_tuple();
}

}  // namespace

TORCH_LIBRARY_IMPL(rnnt, CPU, m) {
  m.impl("_simple_lattice", &simple_lattice_cpu);
  m.impl("_simple_lattice_backward", &simple_lattice_backward_cpu);
  m.impl("_simple_lattice_gather_grads_", &simple_lattice_gather_grads_cpu);
}

}  // namespace rnnt

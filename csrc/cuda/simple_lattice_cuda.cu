// CUDA kernels of the simple loss's fused lattice ops (checks in
// simple_lattice_checks.h, math in simple_lattice_math.h, as the CPU kernels):
// one thread per lattice cell for px/py and for d M, one thread per row of
// am or lm for the gather terms of the gradient (each row's additions in a
// fixed order: deterministic, no atomics). Grid-stride loops.
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "launch.cuh"
#include "simple_lattice/simple_lattice_checks.h"

namespace rnnt {
namespace cuda {
namespace {

template <typename scalar_t>
__global__ void simple_lattice_kernel(SimpleLatticeBatch<scalar_t> batch, scalar_t* px,
                                      scalar_t* py) {
  const SimpleLatticeDims d = batch.d;
  RNNT_GRID_STRIDE_LOOP(i, batch.cells()) {
    const int64_t row = i / d.px_cols();
    const int64_t b = row / (d.S + 1), s = row % (d.S + 1);
    if (s < d.S) {
      const int64_t y = batch.symbols[b * d.S + s];
      CUDA_KERNEL_ASSERT(y >= 0 && y < d.C);
    }
    batch.write_cell(i, px, py);
  }
}

template <typename scalar_t>
__global__ void simple_lattice_backward_kernel(SimpleGradBatch<scalar_t> batch, const scalar_t* M,
                                               scalar_t* W) {
  RNNT_GRID_STRIDE_LOOP(i, batch.cells()) batch.write_d_M(i, M, W);
}

template <typename scalar_t>
__global__ void simple_lattice_gather_grads_kernel(SimpleGradBatch<scalar_t> batch,
                                                   scalar_t* grad_lm, scalar_t* grad_am) {
  const SimpleLatticeDims d = batch.d;
  RNNT_GRID_STRIDE_LOOP(row, batch.gather_rows()) {
    const int64_t b = batch.gather_item(row);
    for (int64_t s = 0; s < d.S; ++s) {
      CUDA_KERNEL_ASSERT(batch.symbols[b * d.S + s] >= 0 && batch.symbols[b * d.S + s] < d.C);
    }
    batch.add_gather_terms(row, grad_lm, grad_am);
  }
}

std::tuple<at::Tensor, at::Tensor> simple_lattice_cuda(
    const at::Tensor& lm, const at::Tensor& am, const at::Tensor& lm_max, const at::Tensor& am_max,
    const at::Tensor& M, const at::Tensor& symbols, int64_t termination_symbol,
    c10::string_view rnnt_type, const c10::optional<at::Tensor>& boundary,
    const c10::optional<at::Tensor>& symbol_offset, const c10::optional<at::Tensor>& blank_offset,
    const c10::optional<at::Tensor>& frame_offset, double w_am, double w_lm, double w_norm) {
  const SimpleLatticeInputs in = check_simple_lattice_inputs(
      lm, am, lm_max, am_max, M, symbols, termination_symbol, rnnt_type, boundary, symbol_offset,
      blank_offset, frame_offset, w_am, w_lm, w_norm);
  const c10::cuda::CUDAGuard guard(lm.device());
  const SimpleLatticeDims d = in.d;
  at::Tensor px = at::empty({in.B, d.S, d.px_cols()}, lm.options());
  at::Tensor py = at::empty({in.B, d.S + 1, d.T}, lm.options());
  const int64_t cells = in.B * (d.S + 1) * d.px_cols();  // batch.cells(B)
  if (cells == 0) return {px, py};
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(lm.scalar_type(), "rnnt_simple_lattice_cuda", [&] {
    simple_lattice_kernel<scalar_t><<<elementwise_blocks(cells), kElementwiseThreads, 0, stream>>>(
        batch_of<scalar_t>(in), px.data_ptr<scalar_t>(), py.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {px, py};
}

at::Tensor simple_lattice_backward_cuda(const at::Tensor& grad_px, const at::Tensor& grad_py,
                                        const at::Tensor& M, c10::string_view rnnt_type,
                                        const c10::optional<at::Tensor>& boundary,
                                        double w_norm) {
  const SimpleGradInputs in =
      check_simple_backward_inputs(grad_px, grad_py, M, rnnt_type, boundary, w_norm);
  const c10::cuda::CUDAGuard guard(grad_py.device());
  const SimpleLatticeDims d = in.d;
  at::Tensor W = at::empty({in.B, d.S + 1, d.T}, grad_py.options());
  if (W.numel() == 0) return W;
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(grad_py.scalar_type(), "rnnt_simple_lattice_backward_cuda", [&] {
    simple_lattice_backward_kernel<scalar_t>
        <<<elementwise_blocks(W.numel()), kElementwiseThreads, 0, stream>>>(
            batch_of<scalar_t>(in), in.M.data_ptr<scalar_t>(), W.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return W;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> simple_lattice_gather_grads_cuda(
    const at::Tensor& grad_lm, const at::Tensor& grad_am, const at::Tensor& grad_px,
    const at::Tensor& grad_py, const at::Tensor& symbols, int64_t termination_symbol,
    c10::string_view rnnt_type, const c10::optional<at::Tensor>& boundary, double w_am,
    double w_lm) {
  const SimpleGradInputs in = check_gather_grads_inputs(grad_lm, grad_am, grad_px, grad_py,
                                                        symbols, termination_symbol, rnnt_type,
                                                        boundary, w_am, w_lm);
  const c10::cuda::CUDAGuard guard(grad_py.device());
  const OffsetGrads offsets(in, grad_py.options());
  const int64_t rows = in.B * (in.d.T + in.d.S + 1);
  if (rows == 0) return offsets.as_tuple();
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(grad_py.scalar_type(), "rnnt_simple_lattice_gather_grads_cuda", [&] {
    simple_lattice_gather_grads_kernel<scalar_t>
        <<<elementwise_blocks(rows), kElementwiseThreads, 0, stream>>>(
            gather_batch_of<scalar_t>(in, offsets), grad_lm.data_ptr<scalar_t>(),
            grad_am.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return offsets.as_tuple();
}

}  // namespace
}  // namespace cuda

TORCH_LIBRARY_IMPL(rnnt, CUDA, m) {
  m.impl("_simple_lattice", &cuda::simple_lattice_cuda);
  m.impl("_simple_lattice_backward", &cuda::simple_lattice_backward_cuda);
  m.impl("_simple_lattice_gather_grads_", &cuda::simple_lattice_gather_grads_cuda);
}

}  // namespace rnnt

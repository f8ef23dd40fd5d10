// CUDA kernels of rnnt::_pruned_lattice and its backward (checks in
// pruned_lattice_checks.h, math in pruned_lattice_math.h, as the CPU kernels): one
// thread per lattice cell forward, one per kept entry backward.
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "launch.cuh"
#include "pruned_lattice/pruned_lattice_checks.h"

namespace rnnt {
namespace cuda {
namespace {

template <typename scalar_t>
__global__ void pruned_lattice_kernel(PrunedLatticeBatch<scalar_t> batch, scalar_t* px,
                                      scalar_t* py) {
  RNNT_GRID_STRIDE_LOOP(i, batch.cells()) batch.write_cell(i, px, py);
}

template <typename scalar_t>
__global__ void pruned_lattice_backward_kernel(SimpleGradBatch<scalar_t> grads,
                                               const int64_t* ranges, int64_t R, int64_t n,
                                               scalar_t* grad_px_kept, scalar_t* grad_py_kept) {
  RNNT_GRID_STRIDE_LOOP(i, n) {
    CUDA_KERNEL_ASSERT(ranges[i] >= 0 && ranges[i] <= grads.d.S);
    pruned_kept_grads(grads, ranges, R, i, grad_px_kept, grad_py_kept);
  }
}

std::tuple<at::Tensor, at::Tensor> pruned_lattice_cuda(const at::Tensor& px_kept,
                                                       const at::Tensor& py_kept,
                                                       const at::Tensor& ranges, int64_t S,
                                                       c10::string_view rnnt_type,
                                                       const c10::optional<at::Tensor>& boundary) {
  const PrunedForwardInputs in =
      check_pruned_lattice_inputs(px_kept, py_kept, ranges, S, rnnt_type, boundary);
  const c10::cuda::CUDAGuard guard(py_kept.device());
  const SimpleLatticeDims d = in.d;
  const int64_t B = in.ranges.size(0);
  at::Tensor px = at::empty({B, d.S, d.px_cols()}, py_kept.options());
  at::Tensor py = at::empty({B, d.S + 1, d.T}, py_kept.options());
  const int64_t cells = B * (d.S + 1) * d.px_cols();  // batch.cells()
  if (cells == 0) return {px, py};
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(py_kept.scalar_type(), "rnnt_pruned_lattice_cuda", [&] {
    pruned_lattice_kernel<scalar_t><<<elementwise_blocks(cells), kElementwiseThreads, 0, stream>>>(
        pruned_batch_of<scalar_t>(in.px_kept, in.py_kept, in.ranges, in.boundary, d),
        px.data_ptr<scalar_t>(), py.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {px, py};
}

std::tuple<at::Tensor, at::Tensor> pruned_lattice_backward_cuda(
    const at::Tensor& grad_px, const at::Tensor& grad_py, const at::Tensor& ranges,
    c10::string_view rnnt_type, const c10::optional<at::Tensor>& boundary) {
  const PrunedBackwardInputs in =
      check_pruned_backward_inputs(grad_px, grad_py, ranges, rnnt_type, boundary);
  const c10::cuda::CUDAGuard guard(grad_py.device());
  at::Tensor grad_px_kept = at::empty(in.ranges.sizes(), grad_py.options());
  at::Tensor grad_py_kept = at::empty(in.ranges.sizes(), grad_py.options());
  const int64_t n = in.ranges.numel();
  if (n == 0) return {grad_px_kept, grad_py_kept};
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(grad_py.scalar_type(), "rnnt_pruned_lattice_backward_cuda", [&] {
    pruned_lattice_backward_kernel<scalar_t>
        <<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(
            batch_of<scalar_t>(in.grads), in.ranges.data_ptr<int64_t>(), in.ranges.size(2), n,
            grad_px_kept.data_ptr<scalar_t>(), grad_py_kept.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {grad_px_kept, grad_py_kept};
}

}  // namespace
}  // namespace cuda

TORCH_LIBRARY_IMPL(rnnt, CUDA, m) {
  m.impl("_pruned_lattice", &cuda::pruned_lattice_cuda);
  m.impl("_pruned_lattice_backward", &cuda::pruned_lattice_backward_cuda);
}

}  // namespace rnnt

// CUDA kernels of the lattice recursion (same outputs as
// csrc/ops/recursion/recursion_cpu.cpp): one thread block per batch item
// sweeping its box one anti-diagonal at a time; the per-thread step is
// wavefront.h, the node math rnnt_math.h, shared with the CPU kernels.
//
// Includes: only c10/cuda headers, not ATen/cuda/CUDAContext.h, which pulls in
// cuBLAS/cuSPARSE/cuSOLVER headers the kernels do not need
// (at::cuda::getCurrentCUDAStream is c10::cuda's, declared in CUDAStream.h).
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <limits>

#include "recursion/recursion_checks.h"
#include "launch.cuh"
#include "wavefront.h"

namespace rnnt {
namespace cuda {
namespace {

__device__ __forceinline__ Box load_box(const int64_t* boxes, LatticeDims d) {
  const int64_t* v = boxes + 4 * static_cast<int64_t>(blockIdx.x);
  return clamped_to(Box{v[0], v[1], v[2], v[3]}, d);
}

// Forward. In parallel: the batch items (one block each, independent) and,
// within a block, the nodes of one anti-diagonal (they depend only on the two
// previous diagonals, held in the ring). Sequential: the diagonals, with one
// __syncthreads per step, reached by every thread (the loop bounds depend on
// the block's box only).
template <typename scalar_t>
__global__ void __launch_bounds__(kMaxThreads)
    mutual_information_forward_kernel(const scalar_t* px, const scalar_t* py,
                                      const int64_t* boxes, LatticeDims d,
                                      scalar_t* p, scalar_t* scores,
                                      scalar_t* ring_workspace) {
  const int64_t b = blockIdx.x;
  const Box box = load_box(boxes, d);
  const ForwardSweep<scalar_t> sweep{px + b * d.S * d.px_cols(),
                                     py + b * (d.S + 1) * d.py_cols(),
                                     p + b * (d.S + 1) * d.p_cols(),
                                     scores + b, d, box};
  const DiagonalRing<scalar_t> ring{ring_storage(ring_workspace, d.S + 1),
                                    d.S + 1};
  const int tid = threadIdx.x;
  const int64_t first = first_diagonal(box), last = last_diagonal(box);
  Lookahead<NodeArcs<scalar_t>> ahead;
#pragma unroll
  for (int j = 0; j < kLookahead; ++j) ahead.slot[j] = sweep.first_arcs(first + j, tid);
  for (int64_t base = first; base <= last; base += kLookahead) {
#pragma unroll
    for (int j = 0; j < kLookahead; ++j) {
      const int64_t k = base + j;
      if (k > last) break;  // uniform over the block
      const NodeArcs<scalar_t> mine = ahead.slot[j];
      ahead.slot[j] = sweep.first_arcs(k + kLookahead, tid);
      sweep.step(ring, k, tid, blockDim.x, mine);
      __syncthreads();
    }
  }
}

// Backward (rnnt_math.h, backward_node_from): the block first splits every
// node's occupation among its incoming arcs (independent nodes; the shares
// go where the gradients will), then, after a barrier, sweeps the diagonals
// in decreasing order as the forward does in increasing order (g of
// diagonal k needs diagonals k+1 and k+2). An item without a path (score
// -inf) returns at once; the test is uniform over the block, so no thread
// waits at a barrier the others skip.
template <typename scalar_t>
__global__ void __launch_bounds__(kMaxThreads)
    mutual_information_backward_kernel(const scalar_t* px, const scalar_t* py,
                                       const int64_t* boxes, LatticeDims d,
                                       const scalar_t* p, scalar_t* px_grad,
                                       scalar_t* py_grad,
                                       scalar_t* ring_workspace) {
  const int64_t b = blockIdx.x;
  const Box box = load_box(boxes, d);
  const int64_t x_off = b * d.S * d.px_cols();
  const int64_t y_off = b * (d.S + 1) * d.py_cols();
  const scalar_t* p_item = p + b * (d.S + 1) * d.p_cols();
  if (p_item[box.s_end * d.p_cols() + box.t_end] == neg_inf<scalar_t>()) return;
  const BackwardSweep<scalar_t> sweep{px + x_off,      py + y_off, p_item,
                                      px_grad + x_off, py_grad + y_off,
                                      d,               box};
  const DiagonalRing<scalar_t> ring{ring_storage(ring_workspace, d.S + 1),
                                    d.S + 1};
  const int tid = threadIdx.x;
  sweep.split(tid, blockDim.x);
  __syncthreads();
  const int64_t first = first_diagonal(box), last = last_diagonal(box);
  Lookahead<NodeArcs<scalar_t>> ahead;
#pragma unroll
  for (int j = 0; j < kLookahead; ++j) ahead.slot[j] = sweep.first_arcs(last - j, tid);
  for (int64_t base = last; base >= first; base -= kLookahead) {
#pragma unroll
    for (int j = 0; j < kLookahead; ++j) {
      const int64_t k = base - j;
      if (k < first) break;  // uniform over the block
      const NodeArcs<scalar_t> mine = ahead.slot[j];
      ahead.slot[j] = sweep.first_arcs(k - kLookahead, tid);
      sweep.step(ring, k, tid, blockDim.x, mine);
      __syncthreads();
    }
  }
}

std::tuple<at::Tensor, at::Tensor> mutual_information_forward_cuda(
    const at::Tensor& px_in, const at::Tensor& py_in,
    const c10::optional<at::Tensor>& boundary) {
  const RecursionInputs in = check_recursion_inputs(
      px_in, py_in, boundary, "rnnt::mutual_information");
  const c10::cuda::CUDAGuard guard(px_in.device());
  const at::Tensor px = px_in.contiguous(), py = py_in.contiguous();
  const LatticeDims d = in.dims;
  // -inf outside each box, as on the CPU; the kernel writes the box only.
  at::Tensor p = at::full({in.B, d.S + 1, d.p_cols()},
                          -std::numeric_limits<double>::infinity(),
                          px.options());
  at::Tensor scores = at::empty({in.B}, px.options());
  if (in.B == 0) return {scores, p};
  const RingPlacement ring = place_ring(d, in.B, px.options());
  const int threads = threads_for(d);
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(px.scalar_type(), "mutual_information_forward_cuda", [&] {
    mutual_information_forward_kernel<scalar_t>
        <<<in.B, threads, ring.shared_bytes, stream>>>(
            px.data_ptr<scalar_t>(), py.data_ptr<scalar_t>(),
            in.boxes.data_ptr<int64_t>(), d, p.data_ptr<scalar_t>(),
            scores.data_ptr<scalar_t>(), data_or_null<scalar_t>(ring.workspace));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {scores, p};
}

std::tuple<at::Tensor, at::Tensor> mutual_information_backward_cuda(
    const at::Tensor& px_in, const at::Tensor& py_in,
    const c10::optional<at::Tensor>& boundary, const at::Tensor& p_in) {
  const RecursionInputs in = check_recursion_inputs(
      px_in, py_in, boundary, "rnnt::mutual_information_backward", BoundaryValues::kTrust);
  const LatticeDims d = in.dims;
  check_forward_table(p_in, px_in, in);
  const c10::cuda::CUDAGuard guard(px_in.device());
  const at::Tensor px = px_in.contiguous(), py = py_in.contiguous(),
                   p = p_in.contiguous();
  // Zero outside each box and for items without a path.
  at::Tensor px_grad = at::zeros_like(px);
  at::Tensor py_grad = at::zeros_like(py);
  if (in.B == 0) return {px_grad, py_grad};
  const RingPlacement ring = place_ring(d, in.B, px.options());
  const int threads = threads_for(d);
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(px.scalar_type(), "mutual_information_backward_cuda", [&] {
    mutual_information_backward_kernel<scalar_t>
        <<<in.B, threads, ring.shared_bytes, stream>>>(
            px.data_ptr<scalar_t>(), py.data_ptr<scalar_t>(),
            in.boxes.data_ptr<int64_t>(), d, p.data_ptr<scalar_t>(),
            px_grad.data_ptr<scalar_t>(), py_grad.data_ptr<scalar_t>(),
            data_or_null<scalar_t>(ring.workspace));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {px_grad, py_grad};
}

}  // namespace
}  // namespace cuda

TORCH_LIBRARY_IMPL(rnnt, CUDA, m) {
  m.impl("_mutual_information_forward", &cuda::mutual_information_forward_cuda);
  m.impl("_mutual_information_backward", &cuda::mutual_information_backward_cuda);
}

}  // namespace rnnt

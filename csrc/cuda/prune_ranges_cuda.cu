// CUDA kernel of rnnt::_prune_ranges: one block per batch item running the
// phases of prune_block.h with a barrier after each (the math, shared with
// the CPU kernel, is in prune_ranges_math.h). One launch replaces the ~25
// small ATen kernels of the composite path.
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>

#include "prune_block.h"
#include "prune_ranges/prune_ranges_checks.h"

namespace rnnt {
namespace cuda {
namespace {

constexpr int kPruneThreads = 256;

template <typename scalar_t>
__global__ void __launch_bounds__(kPruneThreads)
    prune_ranges_kernel(const scalar_t* px, int64_t px_cols, const scalar_t* py,
                        const int64_t* bounds, PruneDims d, int64_t* ranges) {
  __shared__ int64_t scan[2 * kPruneThreads];
  const int64_t b = blockIdx.x;
  const SettleParams p = settle_params(bounds, b, d);
  const PruneBlock<scalar_t> block{px + b * d.S * px_cols, px_cols, py + b * (d.S + 1) * d.T,
                                   ranges + b * d.T * d.R, scan, d, p,
                                   static_cast<int>(blockDim.x)};
  const int phases = block.phases();
  for (int phase = 0; phase < phases; ++phase) {
    block.run(phase, threadIdx.x);
    __syncthreads();
  }
}

// Whole warps, enough for one frame per thread on short items.
int threads_for_frames(int64_t T) {
  const int64_t warps = (T + 31) / 32;
  return static_cast<int>(std::clamp<int64_t>(warps * 32, 32, kPruneThreads));
}

at::Tensor prune_ranges_cuda(const at::Tensor& px_grad, const at::Tensor& py_grad,
                             const c10::optional<at::Tensor>& boundary, int64_t s_range,
                             int64_t max_step) {
  const PruneInputs in = check_prune_inputs(px_grad, py_grad, boundary, s_range, max_step);
  const c10::cuda::CUDAGuard guard(py_grad.device());
  const PruneDims d = in.dims;
  at::Tensor ranges = at::empty({in.B, d.T, d.R}, py_grad.options().dtype(at::kLong));
  if (ranges.numel() == 0) return ranges;
  TORCH_CHECK(in.B <= std::numeric_limits<int32_t>::max(),
              "rnnt::_prune_ranges: at most 2^31 - 1 batch items on CUDA, got ", in.B);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const int64_t* bounds = data_or_null<int64_t>(in.boundary);
  AT_DISPATCH_FLOATING_TYPES(in.py_grad.scalar_type(), "rnnt_prune_ranges_cuda", [&] {
    prune_ranges_kernel<scalar_t>
        <<<static_cast<unsigned>(in.B), threads_for_frames(d.T), 0, stream>>>(
            in.px_grad.data_ptr<scalar_t>(), in.px_grad.size(2), in.py_grad.data_ptr<scalar_t>(),
            bounds, d, ranges.data_ptr<int64_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return ranges;
}

}  // namespace
}  // namespace cuda

TORCH_LIBRARY_IMPL(rnnt, CUDA, m) {
  m.impl("_prune_ranges", &cuda::prune_ranges_cuda);
}

}  // namespace rnnt

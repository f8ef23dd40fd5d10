// CUDA kernels of the fused joiner log-probs (same outputs as
// csrc/ops/joiner/joiner_cpu.cpp; per-element math in joiner_math.h).
// One warp per row of C logits: lanes stride over the classes, the row's max
// and sum of exponentials are warp reductions (shuffles, no shared memory),
// and rows are independent, so blocks of kWarpsPerBlock warps cover them in a
// grid-stride loop. float16/bfloat16 logits accumulate in float32.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>

#include "joiner/joiner_checks.h"
#include "joiner/joiner_math.h"

namespace rnnt {
namespace cuda {
namespace {

constexpr int kWarpsPerBlock = 8;
constexpr int kWarp = 32;

template <typename acc_t>
__device__ __forceinline__ acc_t warp_max(acc_t v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    v = nan_max(v, __shfl_xor_sync(0xffffffffu, v, offset));
  }
  return v;
}

template <typename acc_t>
__device__ __forceinline__ acc_t warp_sum(acc_t v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  }
  return v;
}

// logsumexp of one row, the same value in every lane of the warp.
template <typename scalar_t, typename acc_t>
__device__ __forceinline__ acc_t row_log_norm(const scalar_t* row, int64_t C, int lane) {
  acc_t mx = neg_inf<acc_t>();
  for (int64_t c = lane; c < C; c += kWarp) mx = nan_max(mx, static_cast<acc_t>(row[c]));
  mx = warp_max(mx);
  if (mx == neg_inf<acc_t>()) return mx;
  acc_t sum = 0;
  for (int64_t c = lane; c < C; c += kWarp) sum += exp(static_cast<acc_t>(row[c]) - mx);
  return mx + log(warp_sum(sum));
}

template <typename scalar_t, typename acc_t>
__global__ void joiner_logprobs_kernel(const scalar_t* logits, const int64_t* index,
                                       int64_t N, int64_t C, int64_t blank,
                                       acc_t* symbol_logp, acc_t* blank_logp,
                                       acc_t* log_norm) {
  const int lane = threadIdx.x % kWarp;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t n = first; n < N; n += stride) {  // uniform per warp
    const scalar_t* row = logits + n * C;
    const acc_t norm = row_log_norm<scalar_t, acc_t>(row, C, lane);
    if (lane == 0) {
      const int64_t sym = index[n];
      CUDA_KERNEL_ASSERT(sym >= 0 && sym < C);
      symbol_logp[n] = row_logprob(static_cast<acc_t>(row[sym]), norm);
      blank_logp[n] = row_logprob(static_cast<acc_t>(row[blank]), norm);
      log_norm[n] = norm;
    }
  }
}

template <typename scalar_t, typename acc_t>
__global__ void joiner_logprobs_backward_kernel(const scalar_t* logits, const int64_t* index,
                                                const acc_t* log_norm, const acc_t* grad_symbol,
                                                const acc_t* grad_blank, int64_t N, int64_t C,
                                                int64_t blank, scalar_t* grad_logits) {
  const int lane = threadIdx.x % kWarp;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t n = first; n < N; n += stride) {
    const int64_t sym = index[n];
    const acc_t norm = log_norm[n], gs = grad_symbol[n], gb = grad_blank[n];
    for (int64_t c = lane; c < C; c += kWarp) {
      grad_logits[n * C + c] = static_cast<scalar_t>(joiner_logit_grad<acc_t>(
          static_cast<acc_t>(logits[n * C + c]), norm, gs, gb, c == sym, c == blank));
    }
  }
}

int blocks_for(int64_t N) {
  const int64_t needed = (N + kWarpsPerBlock - 1) / kWarpsPerBlock;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(needed, 65535)));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> joiner_logprobs_cuda(
    const at::Tensor& logits_in, const at::Tensor& index_in, int64_t termination_symbol,
    bool /*inplace_grad: the autograd kernel's*/) {
  const JoinerRows rows = check_joiner_inputs(logits_in, index_in, termination_symbol);
  const c10::cuda::CUDAGuard guard(logits_in.device());
  const at::Tensor logits = logits_in.contiguous();
  const at::Tensor index = index_in.contiguous();
  const auto out_opts = logits.options().dtype(at::toOpMathType(logits.scalar_type()));
  at::Tensor symbol_logp = at::empty(index.sizes(), out_opts);
  at::Tensor blank_logp = at::empty(index.sizes(), out_opts);
  at::Tensor log_norm = at::empty(index.sizes(), out_opts);
  if (rows.N == 0) return {symbol_logp, blank_logp, log_norm};
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, logits.scalar_type(), "joiner_logprobs_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    joiner_logprobs_kernel<scalar_t, acc_t><<<blocks_for(rows.N), kWarpsPerBlock * kWarp, 0, stream>>>(
        logits.data_ptr<scalar_t>(), index.data_ptr<int64_t>(), rows.N, rows.C, termination_symbol,
        symbol_logp.data_ptr<acc_t>(), blank_logp.data_ptr<acc_t>(), log_norm.data_ptr<acc_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {symbol_logp, blank_logp, log_norm};
}

// Writes the gradient of the logits into grad_logits (which may be logits:
// each element is read and then written by the same thread).
void write_logits_grad_cuda(const JoinerGradInputs& in, const at::Tensor& logits,
                            const at::Tensor& grad_logits) {
  if (in.rows.N == 0) return;
  const c10::cuda::CUDAGuard guard(logits.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, logits.scalar_type(), "joiner_logprobs_backward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    joiner_logprobs_backward_kernel<scalar_t, acc_t>
        <<<blocks_for(in.rows.N), kWarpsPerBlock * kWarp, 0, stream>>>(
            logits.data_ptr<scalar_t>(), in.symbol_index.data_ptr<int64_t>(),
            in.log_norm.data_ptr<acc_t>(), in.grad_symbol.data_ptr<acc_t>(),
            in.grad_blank.data_ptr<acc_t>(), in.rows.N, in.rows.C, in.termination_symbol,
            grad_logits.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace
}  // namespace cuda

TORCH_LIBRARY_IMPL(rnnt, CUDA, m) {
  m.impl("_joiner_logprobs", &cuda::joiner_logprobs_cuda);
  m.impl("_joiner_logprobs_backward",
         &joiner_backward_new_buffer<cuda::write_logits_grad_cuda>);
  m.impl("_joiner_logprobs_backward_", &joiner_backward_in_place<cuda::write_logits_grad_cuda>);
}

}  // namespace rnnt

// CUDA kernels of the duration lattice (TDT / multi-blank; same outputs as
// csrc/ops/tdt/duration_lattice_cpu.cpp, per-node math in
// duration_lattice_math.h). Every arc leaves (t, u) for a node on a later
// anti-diagonal t + u (a symbol of duration 0 moves to the next one), so
// alpha and beta run as wavefronts over the diagonals: one block per item,
// threads over a diagonal's nodes, a block barrier between diagonals (all
// earlier diagonals, however long the longest duration, are then final).
// Normalisers and gradients are one warp per lattice node, lanes striding
// over the classes. float16/bfloat16 logits accumulate in float32.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <limits>

#include "common/value_checks.h"
#include "joiner/joiner_math.h"
#include "launch.cuh"
#include "recursion/recursion_checks.h"
#include "tdt/duration_lattice.h"
#include "tdt/tdt_ops.h"

namespace rnnt {
namespace cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 8;

struct ArcList {
  DurationArc arcs[kMaxDurationArcs];
  int64_t n;
};

ArcList arc_list(const std::vector<DurationArc>& arcs) {
  ArcList list{};
  for (size_t i = 0; i < arcs.size(); ++i) list.arcs[i] = arcs[i];
  list.n = static_cast<int64_t>(arcs.size());
  return list;
}

// The whole batch's tensors; item(b) is one item's view.
template <typename scalar_t, typename acc_t>
struct Lattice {
  const scalar_t* x;
  const scalar_t* z;  // null without duration logits
  const int64_t* y;
  const acc_t* norms;
  const int64_t* lengths;  // [B][2]: (T_b, U_b)
  acc_t sigma;
  int64_t B, T, S, C, D;

  __device__ DurationItem<scalar_t, acc_t> item(int64_t b) const {
    const int64_t cells = T * (S + 1);
    return {x + b * cells * C, z ? z + b * cells * D : nullptr, y + b * S,
            norms + b * cells * 2, sigma, S + 1, C, D, lengths[2 * b], lengths[2 * b + 1]};
  }
};

template <typename acc_t>
__device__ __forceinline__ acc_t warp_max(acc_t v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v = nan_max(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

template <typename acc_t>
__device__ __forceinline__ acc_t warp_sum(acc_t v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// logsumexp of a row of n values by one warp (every lane gets the result).
template <typename scalar_t, typename acc_t>
__device__ acc_t warp_logsumexp(const scalar_t* row, int64_t n, int lane) {
  acc_t mx = neg_inf<acc_t>();
  for (int64_t i = lane; i < n; i += kWarp) mx = nan_max(mx, static_cast<acc_t>(row[i]));
  mx = warp_max(mx);
  if (mx == neg_inf<acc_t>() || mx != mx) return mx;
  acc_t sum = 0;
  for (int64_t i = lane; i < n; i += kWarp) sum += exp(static_cast<acc_t>(row[i]) - mx);
  return mx + log(warp_sum(sum));
}

#define RNNT_WARP_ROWS(row, rows)                                                          \
  for (int64_t row = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp; \
       row < (rows); row += static_cast<int64_t>(gridDim.x) * blockDim.x / kWarp)

template <typename scalar_t, typename acc_t>
__global__ void norms_kernel(Lattice<scalar_t, acc_t> L, acc_t* norms) {
  const int lane = threadIdx.x % kWarp;
  const int64_t S1 = L.S + 1;
  RNNT_WARP_ROWS(r, L.B * L.T * S1) {
    const int64_t b = r / (L.T * S1), t = (r / S1) % L.T, u = r % S1;
    if (t >= L.lengths[2 * b] || u > L.lengths[2 * b + 1]) continue;
    const acc_t x_norm = warp_logsumexp<scalar_t, acc_t>(L.x + r * L.C, L.C, lane);
    const acc_t z_norm = L.z ? warp_logsumexp<scalar_t, acc_t>(L.z + r * L.D, L.D, lane) : acc_t(0);
    if (lane == 0) {
      norms[2 * r] = x_norm;
      norms[2 * r + 1] = z_norm;
    }
  }
}

template <typename scalar_t, typename acc_t>
__global__ void alpha_kernel(Lattice<scalar_t, acc_t> L, ArcList arcs, acc_t* alpha_all,
                             acc_t* scores) {
  const int64_t b = blockIdx.x;
  const auto v = L.item(b);
  acc_t* alpha = alpha_all + b * L.T * (L.S + 1);
  for (int64_t n = 0; n < v.T + v.U; ++n) {
    for (int64_t u = threadIdx.x; u <= v.U; u += blockDim.x) {
      const int64_t t = n - u;
      if (t >= 0 && t < v.T) alpha[v.node(t, u)] = alpha_at(v, arcs.arcs, arcs.n, alpha, t, u);
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) scores[b] = total_score(v, arcs.arcs, arcs.n, alpha);
}

template <typename scalar_t, typename acc_t>
__global__ void beta_kernel(Lattice<scalar_t, acc_t> L, ArcList arcs, acc_t* beta_all) {
  const int64_t b = blockIdx.x;
  const auto v = L.item(b);
  acc_t* beta = beta_all + b * L.T * (L.S + 1);
  for (int64_t n = v.T + v.U - 1; n >= 0; --n) {
    for (int64_t u = threadIdx.x; u <= v.U; u += blockDim.x) {
      const int64_t t = n - u;
      if (t >= 0 && t < v.T) beta[v.node(t, u)] = beta_at(v, arcs.arcs, arcs.n, beta, t, u);
    }
    __syncthreads();
  }
}

// One warp per node: the arcs' occupations in shared memory, then the
// gradient rows of the logits and duration logits.
template <typename scalar_t, typename acc_t>
__global__ void grad_kernel(Lattice<scalar_t, acc_t> L, ArcList arcs, const acc_t* alpha_all,
                            const acc_t* beta_all, const acc_t* scores, const acc_t* grad_scores,
                            acc_t lambda, scalar_t* gx_all, scalar_t* gz_all) {
  __shared__ acc_t gamma_shared[kWarpsPerBlock][kMaxDurationArcs];
  const int lane = threadIdx.x % kWarp;
  acc_t* gamma = gamma_shared[threadIdx.x / kWarp];
  const int64_t S1 = L.S + 1;
  RNNT_WARP_ROWS(r, L.B * L.T * S1) {
    const int64_t b = r / (L.T * S1), t = (r / S1) % L.T, u = r % S1;
    const auto v = L.item(b);
    scalar_t* gx = gx_all + r * L.C;
    scalar_t* gz = gz_all ? gz_all + r * L.D : nullptr;
    const acc_t log_p = scores[b];
    if (!(log_p > neg_inf<acc_t>()) || t >= v.T || u > v.U) {
      for (int64_t c = lane; c < L.C; c += kWarp) gx[c] = scalar_t(0);
      if (gz) for (int64_t i = lane; i < L.D; i += kWarp) gz[i] = scalar_t(0);
      continue;
    }
    const acc_t* beta = beta_all + b * L.T * S1;
    const acc_t alpha_tu = alpha_all[b * L.T * S1 + v.node(t, u)];
    for (int64_t i = lane; i < arcs.n; i += kWarp) {
      gamma[i] = exp_or_zero(alpha_tu + arc_onward(v, arcs.arcs[i], beta, t, u) - log_p);
    }
    __syncwarp();
    acc_t occ = 0, occ_symbol = 0;
    for (int64_t i = 0; i < arcs.n; ++i) {
      occ += gamma[i];
      if (emits_symbol(arcs.arcs[i])) occ_symbol += gamma[i];
    }
    const acc_t g = grad_scores[b];
    const acc_t base = occ + lambda * occ_symbol;
    const int64_t n = v.node(t, u), next = v.next_symbol(u);
    for (int64_t c = lane; c < L.C; c += kWarp) {
      acc_t hit = 0;
      for (int64_t i = 0; i < arcs.n; ++i) {
        const DurationArc& a = arcs.arcs[i];
        if (arc_class(a, next) == c) hit += emits_symbol(a) ? (1 + lambda) * gamma[i] : gamma[i];
      }
      gx[c] = static_cast<scalar_t>(g * logit_grad(hit, base, static_cast<acc_t>(v.x[n * L.C + c]),
                                                   v.norms[2 * n]));
    }
    if (gz) {
      for (int64_t d = lane; d < L.D; d += kWarp) {
        acc_t hit = 0;
        for (int64_t i = 0; i < arcs.n; ++i) {
          if (arcs.arcs[i].duration_index == d) hit += gamma[i];
        }
        gz[d] = static_cast<scalar_t>(
            g * logit_grad(hit, occ, static_cast<acc_t>(v.z[n * L.D + d]), v.norms[2 * n + 1]));
      }
    }
    __syncwarp();
  }
}

int warp_row_blocks(int64_t rows) {
  const int64_t per_block = kWarpsPerBlock;
  return static_cast<int>(std::clamp<int64_t>((rows + per_block - 1) / per_block, 1, 65535));
}

template <typename scalar_t, typename acc_t>
Lattice<scalar_t, acc_t> lattice_of(const DurationLatticeInputs& in, const at::Tensor& logits,
                                    const at::Tensor& z, const at::Tensor& symbols,
                                    const at::Tensor& norms, double sigma) {
  return {logits.data_ptr<scalar_t>(), z.defined() ? z.data_ptr<scalar_t>() : nullptr,
          symbols.data_ptr<int64_t>(), norms.data_ptr<acc_t>(), in.lengths.data_ptr<int64_t>(),
          static_cast<acc_t>(sigma), in.B, in.T, in.S, in.C, in.D};
}

int wavefront_threads(int64_t S) {
  return static_cast<int>(std::min<int64_t>((S + 1 + kWarp - 1) / kWarp * kWarp, kMaxThreads));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> duration_lattice_forward_cuda(
    const at::Tensor& logits_in, const c10::optional<at::Tensor>& duration_logits,
    const at::Tensor& symbols_in, c10::IntArrayRef arcs,
    const c10::optional<at::Tensor>& boundary, double sigma, double /*fastemit_lambda*/) {
  const c10::cuda::CUDAGuard guard(logits_in.device());
  const DurationForward f = prepare_duration_forward(logits_in, duration_logits, symbols_in, arcs,
                                                     boundary, "rnnt::_duration_lattice_forward");
  const DurationLatticeInputs& in = f.in;
  const at::Tensor &logits = f.logits, &symbols = f.symbols, &z = f.z;
  const at::Tensor &scores = f.scores, &alpha = f.alpha, &norms = f.norms;
  const int64_t S1 = in.S + 1;
  if (in.B == 0) return {scores, alpha, norms};
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const ArcList list = arc_list(in.arcs);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, logits.scalar_type(), "tdt_fwd", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const auto L = lattice_of<scalar_t, acc_t>(in, logits, z, symbols, norms, sigma);
    norms_kernel<scalar_t, acc_t><<<warp_row_blocks(in.B * in.T * S1), kWarpsPerBlock * kWarp, 0,
                                    stream>>>(L, norms.data_ptr<acc_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    alpha_kernel<scalar_t, acc_t><<<in.B, wavefront_threads(in.S), 0, stream>>>(
        L, list, alpha.data_ptr<acc_t>(), scores.data_ptr<acc_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {scores, alpha, norms};
}

std::tuple<at::Tensor, at::Tensor> duration_lattice_backward_cuda(
    const at::Tensor& grad_scores_in, const at::Tensor& logits_in,
    const c10::optional<at::Tensor>& duration_logits, const at::Tensor& symbols_in,
    c10::IntArrayRef arcs, const c10::optional<at::Tensor>& boundary, double sigma,
    double fastemit_lambda, const at::Tensor& scores_in, const at::Tensor& alpha,
    const at::Tensor& norms) {
  const c10::cuda::CUDAGuard guard(logits_in.device());
  const DurationBackward prep = prepare_duration_backward(
      grad_scores_in, logits_in, duration_logits, symbols_in, arcs, boundary, scores_in, alpha,
      norms, "rnnt::_duration_lattice_backward");
  const DurationLatticeInputs& in = prep.in;
  const at::Tensor &logits = prep.logits, &symbols = prep.symbols, &z = prep.z;
  const at::Tensor &scores = prep.scores, &grad_scores = prep.grad_scores, &beta = prep.beta;
  const at::Tensor &grad_logits = prep.grad_logits, &grad_z = prep.grad_z;
  if (in.B == 0) return {grad_logits, grad_z};
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const ArcList list = arc_list(in.arcs);
  const int64_t rows = in.B * in.T * (in.S + 1);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, logits.scalar_type(), "tdt_bwd", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const auto L = lattice_of<scalar_t, acc_t>(in, logits, z, symbols, norms, sigma);
    beta_kernel<scalar_t, acc_t><<<in.B, wavefront_threads(in.S), 0, stream>>>(
        L, list, beta.data_ptr<acc_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    if (rows == 0) return;
    grad_kernel<scalar_t, acc_t><<<warp_row_blocks(rows), kWarpsPerBlock * kWarp, 0, stream>>>(
        L, list, alpha.data_ptr<acc_t>(), beta.data_ptr<acc_t>(), scores.data_ptr<acc_t>(),
        grad_scores.data_ptr<acc_t>(), static_cast<acc_t>(fastemit_lambda),
        grad_logits.data_ptr<scalar_t>(), z.defined() ? grad_z.data_ptr<scalar_t>() : nullptr);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {grad_logits, grad_z};
}

}  // namespace
}  // namespace cuda

TORCH_LIBRARY_IMPL(rnnt, CUDA, m) {
  m.impl(ops::_duration_lattice_forward::name, &cuda::duration_lattice_forward_cuda);
  m.impl(ops::_duration_lattice_backward::name, &cuda::duration_lattice_backward_cuda);
}

}  // namespace rnnt

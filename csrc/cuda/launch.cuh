// Launch shapes. The wavefront kernels: one block per batch item, threads
// over the rows of a diagonal, the diagonal ring in shared memory when it
// fits the default 48 KiB, else in a global workspace. The elementwise
// kernels of the lattices: grid-stride loops over cells or rows.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>

#include "recursion/rnnt_math.h"

namespace rnnt {
namespace cuda {

constexpr int kMaxThreads = 512;
constexpr size_t kMaxSharedBytes = 48 * 1024;

// A diagonal has at most min(S, T) + 1 nodes; one warp at least, rounded up
// to whole warps, at most kMaxThreads (longer diagonals loop).
inline int threads_for(const LatticeDims& d) {
  const int64_t longest = std::min(d.S, d.T) + 1;
  const int64_t warps = (longest + 31) / 32;
  return static_cast<int>(std::min<int64_t>(warps * 32, kMaxThreads));
}

// Where the [3][S+1] ring of each block lives.
struct RingPlacement {
  size_t shared_bytes;   // dynamic shared memory per block, 0 if global
  at::Tensor workspace;  // [B][3][S+1] when not in shared memory
};

inline RingPlacement place_ring(const LatticeDims& d, int64_t B,
                                const at::TensorOptions& options) {
  const size_t bytes =
      3 * static_cast<size_t>(d.S + 1) * options.dtype().itemsize();
  if (bytes <= kMaxSharedBytes) return {bytes, at::Tensor()};
  return {0, at::empty({B, 3, d.S + 1}, options)};
}

constexpr int kElementwiseThreads = 256;

inline int elementwise_blocks(int64_t n) {
  const int64_t blocks = (n + kElementwiseThreads - 1) / kElementwiseThreads;
  return static_cast<int>(std::clamp<int64_t>(blocks, 1, 65535));
}

#ifdef __CUDACC__
// for (int64_t i = this thread's first; i < n; i += all threads of the grid)
#define RNNT_GRID_STRIDE_LOOP(i, n)                                                          \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// Block b's ring: the dynamic shared memory, or its slice of the workspace.
template <typename scalar_t>
__device__ __forceinline__ scalar_t* ring_storage(scalar_t* workspace,
                                                  int64_t rows) {
  extern __shared__ __align__(16) unsigned char ring_shared[];
  if (workspace == nullptr) return reinterpret_cast<scalar_t*>(ring_shared);
  return workspace + static_cast<int64_t>(blockIdx.x) * 3 * rows;
}
#endif

}  // namespace cuda
}  // namespace rnnt

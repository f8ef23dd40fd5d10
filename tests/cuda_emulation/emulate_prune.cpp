// CPU emulation of the CUDA prune-range kernel's block (csrc/cuda/prune_block.h),
// run by tests/test_cuda_emulation.py. Each phase runs every emulated thread
// (in a shuffled order, so a thread reading what another writes in the same
// phase shows up as an order-dependent result), then ends as at
// __syncthreads. The ranges must equal the CPU kernel's serial sweep
// (prune_item_serial) bit for bit. Inputs are exact-size vectors (ASan
// catches any read past them), with ties and NaNs among the scores, and
// boundaries both inside and far outside the lattice. Exit 0 = ok.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <vector>

#include "expect.h"
#include "prune_block.h"

using namespace rnnt;

template <typename scalar_t>
void run_case(std::mt19937& rng, int64_t S, int64_t T, int64_t R, int64_t max_step,
              int threads) {
  auto uniform = [&](int64_t lo, int64_t hi) {  // inclusive
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const PruneDims d{S, T, R, max_step};
  const int64_t px_cols = T + uniform(0, 1);
  // Occupation-like values on a coarse grid, so that window scores tie.
  std::vector<scalar_t> px(S * px_cols), py((S + 1) * T);
  for (auto& v : px) v = scalar_t(uniform(0, 4)) / 4;
  for (auto& v : py) v = scalar_t(uniform(0, 4)) / 4;
  if (uniform(0, 9) == 0 && !py.empty()) py[uniform(0, py.size() - 1)] = std::nan("");
  // Boundary: inside the lattice, or anywhere.
  std::vector<int64_t> boundary(4);
  if (uniform(0, 3) == 0) {
    boundary[2] = uniform(-1000, 1000);
    boundary[3] = uniform(-1000, 1000);
  } else {
    boundary[2] = uniform(0, S);
    boundary[3] = uniform(0, T);
  }
  const bool whole_lattice = uniform(0, 4) == 0;
  const SettleParams p = settle_params(whole_lattice ? nullptr : boundary.data(), 0, d);

  std::vector<int64_t> expected(T * R, -1);
  prune_item_serial(px.data(), px_cols, py.data(), p, d, expected.data());
  for (int64_t v : expected) EXPECT(0 <= v && v <= S);

  for (int repeat = 0; repeat < 3; ++repeat) {
    std::vector<int64_t> ranges(T * R, -7), scan(2 * threads, -7);
    const PruneBlock<scalar_t> block{px.data(), px_cols, py.data(), ranges.data(),
                                     scan.data(), d, p, threads};
    std::vector<int> order(threads);
    for (int i = 0; i < threads; ++i) order[i] = i;
    for (int phase = 0; phase < block.phases(); ++phase) {
      if (repeat == 1) {
        std::reverse(order.begin(), order.end());
      } else {
        std::shuffle(order.begin(), order.end(), rng);
      }
      for (int tid : order) block.run(phase, tid);
    }
    EXPECT(ranges == expected);
  }
}

int main() {
  std::mt19937 rng(1234);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const int thread_counts[] = {1, 2, 32, 96, 256};
  int cases = 0;
  for (int i = 0; i < 600; ++i) {
    const int64_t S = uniform(0, 20), T = uniform(1, i % 10 == 0 ? 700 : 40);
    const int64_t R = uniform(1, S + 1);
    const int64_t max_step = uniform(0, 1) ? R : 2;
    if (max_step > S + 2) continue;
    const int threads = thread_counts[uniform(0, 4)];
    if (i % 2) {
      run_case<float>(rng, S, T, R, max_step, threads);
    } else {
      run_case<double>(rng, S, T, R, max_step, threads);
    }
    ++cases;
  }
  std::printf("ok: %d prune-block cases\n", cases);
  return 0;
}

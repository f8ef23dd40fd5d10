// CPU emulation of the CUDA wavefront kernels (csrc/cuda/wavefront.h), run by
// tests/test_cuda_emulation.py. One "block" per batch item: at each step every
// emulated thread runs the kernel's step function (in a shuffled order), then
// the step ends as at __syncthreads. The ring checks every access: a read must
// find the value of exactly that node, written in an earlier step (so no
// intra-step race and no stale slot), a write must be on the current
// diagonal. Results must equal the serial CPU sweep bit for bit. Exit 0 = ok.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "expect.h"
#include "recursion/recursion_item.h"
#include "wavefront.h"

using namespace rnnt;

template <typename scalar_t>
struct CheckedRing {
  DiagonalRing<scalar_t> ring;
  std::vector<int64_t>* stamps;  // diagonal whose value each cell holds
  const int64_t* step;           // the diagonal being computed
  scalar_t get(int64_t s, int64_t t) const {
    EXPECT(s >= 0 && s < ring.rows);
    EXPECT((*stamps)[ring.index(s, t)] == s + t);
    EXPECT(s + t != *step);
    return ring.get(s, t);
  }
  void set(int64_t s, int64_t t, scalar_t v) const {
    EXPECT(s >= 0 && s < ring.rows && s + t == *step);
    (*stamps)[ring.index(s, t)] = s + t;
    ring.set(s, t, v);
  }
};

template <typename scalar_t>
bool same(const std::vector<scalar_t>& a, const std::vector<scalar_t>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(scalar_t)) == 0);
}

template <typename scalar_t>
void run_case(std::mt19937& rng, int64_t S, int64_t T, bool modified,
              int nthreads) {
  const LatticeDims d{S, T, modified};
  auto uniform = [&](int64_t lo, int64_t hi) {  // inclusive
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  Box box;
  box.s_begin = uniform(0, S / 2);
  box.t_begin = uniform(0, T / 2);
  box.s_end = uniform(box.s_begin, S);
  box.t_end = uniform(box.t_begin, T);
  // Exact-size inputs (ASan catches reads past them), NaN outside the box.
  const scalar_t nan = std::numeric_limits<scalar_t>::quiet_NaN();
  std::normal_distribution<double> normal;
  std::vector<scalar_t> px(S * d.px_cols(), nan), py((S + 1) * T, nan);
  for (int64_t s = box.s_begin; s < box.s_end; ++s)
    for (int64_t t = box.t_begin; t <= box.t_end - (modified ? 1 : 0); ++t)
      px[s * d.px_cols() + t] = scalar_t(normal(rng));
  for (int64_t s = box.s_begin; s <= box.s_end; ++s)
    for (int64_t t = box.t_begin; t < box.t_end; ++t)
      py[s * T + t] = scalar_t(normal(rng));

  const size_t p_size = (S + 1) * (T + 1);
  std::vector<scalar_t> p_ref(p_size), g(p_size);
  std::vector<scalar_t> gx_ref(px.size()), gy_ref(py.size());
  const scalar_t score_ref = forward_item(px.data(), py.data(), p_ref.data(), d, box);
  backward_item(px.data(), py.data(), p_ref.data(), g.data(), gx_ref.data(),
                gy_ref.data(), d, box);

  std::vector<int> order(nthreads);
  for (int i = 0; i < nthreads; ++i) order[i] = i;
  std::vector<scalar_t> ring_data(3 * (S + 1), nan);
  std::vector<int64_t> stamps(3 * (S + 1), -1);
  int64_t step = 0;
  const CheckedRing<scalar_t> ring{{ring_data.data(), S + 1}, &stamps, &step};

  // Forward, as mutual_information_forward_kernel (host fills p with -inf).
  std::vector<scalar_t> p(p_size, neg_inf<scalar_t>());
  scalar_t score = nan;
  const ForwardSweep<scalar_t> fwd{px.data(), py.data(), p.data(), &score, d, box};
  // Each thread's lookahead slots, filled and refilled as the kernel does.
  const int64_t first = first_diagonal(box), last = last_diagonal(box);
  std::vector<Lookahead<NodeArcs<scalar_t>>> fwd_ahead(nthreads);
  for (int tid = 0; tid < nthreads; ++tid)
    for (int j = 0; j < kLookahead; ++j) fwd_ahead[tid].slot[j] = fwd.first_arcs(first + j, tid);
  for (step = first; step <= last; ++step) {
    std::shuffle(order.begin(), order.end(), rng);
    const int j = static_cast<int>((step - first) % kLookahead);
    for (int tid : order) {
      const NodeArcs<scalar_t> mine = fwd_ahead[tid].slot[j];
      fwd_ahead[tid].slot[j] = fwd.first_arcs(step + kLookahead, tid);
      fwd.step(ring, step, tid, nthreads, mine);
    }
  }
  EXPECT(same(p, p_ref));
  EXPECT(std::memcmp(&score, &score_ref, sizeof score) == 0);

  // Backward, as mutual_information_backward_kernel (host zero-fills grads).
  std::vector<scalar_t> gx(px.size(), 0), gy(py.size(), 0);
  std::fill(stamps.begin(), stamps.end(), -1);
  std::fill(ring_data.begin(), ring_data.end(), nan);
  const scalar_t total = p[box.s_end * d.p_cols() + box.t_end];
  if (total != neg_inf<scalar_t>()) {
    const BackwardSweep<scalar_t> bwd{px.data(), py.data(), p.data(), gx.data(),
                                      gy.data(), d, box};
    for (int tid : order) bwd.split(tid, nthreads);  // then __syncthreads
    std::vector<Lookahead<NodeArcs<scalar_t>>> bwd_ahead(nthreads);
    for (int tid = 0; tid < nthreads; ++tid)
      for (int j = 0; j < kLookahead; ++j) bwd_ahead[tid].slot[j] = bwd.first_arcs(last - j, tid);
    for (step = last; step >= first; --step) {
      std::shuffle(order.begin(), order.end(), rng);
      const int j = static_cast<int>((last - step) % kLookahead);
      for (int tid : order) {
        const NodeArcs<scalar_t> mine = bwd_ahead[tid].slot[j];
        bwd_ahead[tid].slot[j] = bwd.first_arcs(step - kLookahead, tid);
        bwd.step(ring, step, tid, nthreads, mine);
      }
    }
  }
  EXPECT(same(gx, gx_ref));
  EXPECT(same(gy, gy_ref));
}

int main() {
  std::mt19937 rng(1234);
  int cases = 0;
  for (int rep = 0; rep < 300; ++rep) {
    const int64_t S = rep % 7 == 0 ? 0 : rep % 13;
    const int64_t T = rep % 11 == 0 ? 0 : (rep * 7) % 17;
    const int nthreads = 1 + rep % 5;  // fewer threads than nodes: chunk loop
    run_case<float>(rng, S, T, rep % 2 == 0, nthreads);
    run_case<double>(rng, S, T, rep % 2 == 1, 32);
    cases += 2;
  }
  for (bool modified : {false, true}) {  // larger than one block
    run_case<double>(rng, 70, 300, modified, 32);
    run_case<float>(rng, 120, 474, modified, 96);
    run_case<double>(rng, 600, 700, modified, 512);
    cases += 3;
  }
  std::printf("ok: %d cases\n", cases);
  return 0;
}

// CPU emulation of the duration-lattice CUDA wavefronts (csrc/cuda/tdt_cuda.cu),
// run by tests/test_tdt_cuda_emulation.py. One "block" per item: at each
// anti-diagonal step every emulated thread computes its node (threads in a
// shuffled order), then the step ends as at __syncthreads. Tables start as
// NaN, so a read of a node not written in an earlier step (an intra-step
// race or a wrong order for long durations) poisons the result. Alpha, beta
// and the score must equal the serial row-by-row sweep of the CPU kernel bit
// for bit, also on label log-prob rows (the pruned TDT loss's: C = 2, norm
// 0, -inf outside random windows). Exit 0 = ok.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "expect.h"
#include "tdt/duration_lattice_math.h"

using namespace rnnt;
using Item = DurationItem<double, double>;

struct Case {
  std::vector<double> x, z, norms;
  std::vector<int64_t> y;
  std::vector<DurationArc> arcs;
  Item item;
};

// kind: 0 multi-blank, 1 TDT, 2 TDT on label log-prob rows.
Case make_case(std::mt19937& rng, int kind) {
  const bool tdt = kind >= 1, label_logprobs = kind == 2;
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  std::normal_distribution<double> normal;
  Case c;
  const int64_t T = uniform(1, 12), U = uniform(0, 6), C = label_logprobs ? 2 : uniform(3, 6);
  const int64_t S1 = U + 1, D = tdt ? uniform(1, 4) : 0;
  if (tdt) {  // distinct durations in [0, 6], one >= 1
    std::vector<int64_t> pool{0, 1, 2, 3, 4, 5, 6};
    std::shuffle(pool.begin(), pool.end(), rng);
    if (pool[0] == 0) std::swap(pool[0], pool[1]);
    for (int64_t i = 0; i < D; ++i) {
      if (pool[i] >= 1) c.arcs.push_back({0, pool[i], i});
      c.arcs.push_back({kNextSymbol, pool[i], i});
    }
  } else {  // standard blank, next symbol, big blanks C-1.. of durations 2..5
    c.arcs = {{0, 1, -1}, {kNextSymbol, 0, -1}};
    for (int64_t id = C - 1; id > C - 1 - uniform(0, 2); --id) c.arcs.push_back({id, uniform(2, 5), -1});
  }
  for (int64_t i = 0; i < T * S1 * C; ++i) c.x.push_back(normal(rng));
  for (int64_t i = 0; i < T * S1 * D; ++i) c.z.push_back(normal(rng));
  for (int64_t u = 0; u < U; ++u) c.y.push_back(label_logprobs ? 1 : uniform(1, 2));
  if (label_logprobs) {  // log-probs: no normaliser, -inf outside a window per frame
    for (int64_t t = 0; t < T; ++t) {
      const int64_t lo = uniform(0, U), hi = uniform(lo, U);
      for (int64_t u = 0; u <= U; ++u) {
        for (int64_t k = 0; k < C; ++k) {
          double& x = c.x[(t * S1 + u) * C + k];
          x = (u < lo || u > hi) ? -std::numeric_limits<double>::infinity() : -std::fabs(x);
        }
      }
    }
  }
  c.norms.assign(2 * T * S1, 0.0);
  for (int64_t n = 0; n < T * S1; ++n) {
    double sx = 0, sz = 0;
    for (int64_t k = 0; k < C; ++k) sx += std::exp(c.x[n * C + k]);
    for (int64_t k = 0; k < D; ++k) sz += std::exp(c.z[n * D + k]);
    c.norms[2 * n] = label_logprobs ? 0.0 : std::log(sx);
    c.norms[2 * n + 1] = D ? std::log(sz) : 0.0;
  }
  c.item = Item{c.x.data(), D ? c.z.data() : nullptr, c.y.data(), c.norms.data(), 0.1,
                S1, C, D, T, U};
  return c;
}

bool same(const std::vector<double>& a, const std::vector<double>& b) {
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] == b[i] || (std::isinf(a[i]) && std::isinf(b[i])))) return false;
  }
  return true;
}

void run_case(std::mt19937& rng, int kind) {
  Case c = make_case(rng, kind);
  const Item& v = c.item;
  const int64_t n_arcs = static_cast<int64_t>(c.arcs.size()), nodes = v.T * v.S1;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> alpha_serial(nodes), beta_serial(nodes), alpha(nodes, nan), beta(nodes, nan);
  for (int64_t t = 0; t < v.T; ++t)
    for (int64_t u = 0; u <= v.U; ++u)
      alpha_serial[v.node(t, u)] = alpha_at(v, c.arcs.data(), n_arcs, alpha_serial.data(), t, u);
  for (int64_t t = v.T - 1; t >= 0; --t)
    for (int64_t u = v.U; u >= 0; --u)
      beta_serial[v.node(t, u)] = beta_at(v, c.arcs.data(), n_arcs, beta_serial.data(), t, u);
  std::vector<int64_t> threads(v.U + 1);
  for (int64_t u = 0; u <= v.U; ++u) threads[u] = u;
  for (int64_t n = 0; n < v.T + v.U; ++n) {  // alpha_kernel's steps
    std::shuffle(threads.begin(), threads.end(), rng);
    for (int64_t u : threads) {
      const int64_t t = n - u;
      if (t >= 0 && t < v.T) alpha[v.node(t, u)] = alpha_at(v, c.arcs.data(), n_arcs, alpha.data(), t, u);
    }
  }
  for (int64_t n = v.T + v.U - 1; n >= 0; --n) {  // beta_kernel's steps
    std::shuffle(threads.begin(), threads.end(), rng);
    for (int64_t u : threads) {
      const int64_t t = n - u;
      if (t >= 0 && t < v.T) beta[v.node(t, u)] = beta_at(v, c.arcs.data(), n_arcs, beta.data(), t, u);
    }
  }
  EXPECT(same(alpha, alpha_serial));
  EXPECT(same(beta, beta_serial));
  const double score = total_score(v, c.arcs.data(), n_arcs, alpha.data());
  EXPECT(score == beta[v.node(0, 0)] || std::fabs(score - beta[v.node(0, 0)]) < 1e-9);
}

int main() {
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) run_case(rng, i % 3);
  std::printf("ok: 300 duration-lattice cases\n");
  return 0;
}

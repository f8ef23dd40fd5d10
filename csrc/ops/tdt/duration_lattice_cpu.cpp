// CPU kernels of the duration lattice (duration_lattice_math.h): the forward
// computes each node's normalisers in one pass over its logits (SIMD), then
// alpha per item; the backward computes beta per item and writes the
// gradients of the logits row by row, from the normalisers (no log-softmax
// copy of the logits is ever made). float16/bfloat16 logits accumulate in
// float32.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "common/value_checks.h"
#include "duration_lattice.h"
#include "recursion/recursion_checks.h"
#include "tdt_ops.h"

namespace rnnt {
namespace {

// logsumexp of a row of n values, in acc_t (a widened copy in buf for
// float16/bfloat16).
template <typename scalar_t, typename acc_t>
acc_t row_logsumexp(const scalar_t* row, int64_t n, std::vector<acc_t>& buf) {
  using Vec = at::vec::Vectorized<acc_t>;
  const acc_t* x;
  if constexpr (std::is_same_v<scalar_t, acc_t>) {
    x = row;
  } else {
    buf.resize(n);
    at::vec::convert(row, buf.data(), n);
    x = buf.data();
  }
  const acc_t mx = at::vec::reduce_all<acc_t>(
      [](const Vec& a, const Vec& b) { return at::vec::maximum(a, b); }, x, n);
  if (mx == neg_inf<acc_t>() || mx != mx) return mx;
  const acc_t sum = at::vec::map_reduce_all<acc_t>(
      [mx](const Vec& v) { return (v - Vec(mx)).exp(); },
      [](const Vec& a, const Vec& b) { return a + b; }, x, n);
  return mx + std::log(sum);
}

template <typename scalar_t, typename acc_t>
using ItemView = DurationItem<scalar_t, acc_t>;

template <typename scalar_t, typename acc_t>
void beta_item(const ItemView<scalar_t, acc_t>& v, const std::vector<DurationArc>& arcs,
               acc_t* beta) {
  const int64_t n = static_cast<int64_t>(arcs.size());
  for (int64_t t = v.T - 1; t >= 0; --t) {
    for (int64_t u = v.U; u >= 0; --u) beta[v.node(t, u)] = beta_at(v, arcs.data(), n, beta, t, u);
  }
}

// The gradient rows of node (t, u) scaled by g = d loss / d score, with the
// symbol arcs' label gradient scaled by 1 + fastemit_lambda.
template <typename scalar_t, typename acc_t>
void grad_node(const ItemView<scalar_t, acc_t>& v, const std::vector<DurationArc>& arcs,
               int64_t t, int64_t u, acc_t alpha_tu, const acc_t* beta, acc_t log_p, acc_t g,
               acc_t lambda, scalar_t* gx, scalar_t* gz, std::vector<acc_t>& row,
               std::vector<acc_t>& dur) {
  const int64_t n = v.node(t, u);
  std::fill(row.begin(), row.end(), acc_t(0));
  std::fill(dur.begin(), dur.end(), acc_t(0));
  acc_t occ = 0, occ_symbol = 0;
  for (const DurationArc& arc : arcs) {
    const acc_t gamma = exp_or_zero(alpha_tu + arc_onward(v, arc, beta, t, u) - log_p);
    occ += gamma;
    if (emits_symbol(arc)) occ_symbol += gamma;
    row[arc_class(arc, v.next_symbol(u))] += emits_symbol(arc) ? (1 + lambda) * gamma : gamma;
    if (arc.duration_index >= 0) dur[arc.duration_index] += gamma;
  }
  const acc_t base = occ + lambda * occ_symbol;
  const scalar_t* x = v.x + n * v.C;
  for (int64_t c = 0; c < v.C; ++c) {
    gx[c] = static_cast<scalar_t>(
        g * logit_grad(row[c], base, static_cast<acc_t>(x[c]), v.norms[2 * n]));
  }
  if (gz != nullptr) {
    const scalar_t* z = v.z + n * v.D;
    for (int64_t i = 0; i < v.D; ++i) {
      gz[i] = static_cast<scalar_t>(
          g * logit_grad(dur[i], occ, static_cast<acc_t>(z[i]), v.norms[2 * n + 1]));
    }
  }
}

template <typename scalar_t, typename acc_t>
ItemView<scalar_t, acc_t> item_view(const DurationLatticeInputs& in, int64_t b,
                                    const at::Tensor& logits, const at::Tensor& z,
                                    const at::Tensor& symbols, const at::Tensor& norms,
                                    double sigma) {
  const int64_t S1 = in.S + 1, cells = in.T * S1;
  const int64_t* len = in.lengths.data_ptr<int64_t>();
  return {logits.data_ptr<scalar_t>() + b * cells * in.C,
          z.defined() ? z.data_ptr<scalar_t>() + b * cells * in.D : nullptr,
          symbols.data_ptr<int64_t>() + b * in.S,
          norms.data_ptr<acc_t>() + b * cells * 2,
          static_cast<acc_t>(sigma), S1, in.C, in.D, len[2 * b], len[2 * b + 1]};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> duration_lattice_forward_cpu(
    const at::Tensor& logits_in, const c10::optional<at::Tensor>& duration_logits,
    const at::Tensor& symbols_in, c10::IntArrayRef arcs,
    const c10::optional<at::Tensor>& boundary, double sigma, double /*fastemit_lambda*/) {
  const DurationForward f = prepare_duration_forward(logits_in, duration_logits, symbols_in, arcs,
                                                     boundary, "rnnt::_duration_lattice_forward");
  const DurationLatticeInputs& in = f.in;
  const at::Tensor &logits = f.logits, &symbols = f.symbols, &z = f.z;
  const at::Tensor &scores = f.scores, &alpha = f.alpha, &norms = f.norms;
  const int64_t S1 = in.S + 1;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, logits.scalar_type(), "duration_lattice_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const int64_t* len = in.lengths.data_ptr<int64_t>();
    const int64_t grain = std::max<int64_t>(1, at::internal::GRAIN_SIZE / (S1 * (in.C + in.D)));
    at::parallel_for(0, in.B * in.T, grain, [&](int64_t begin, int64_t end) {
      std::vector<acc_t> buf;
      for (int64_t r = begin; r < end; ++r) {
        const int64_t b = r / in.T, t = r % in.T;
        if (t >= len[2 * b]) continue;
        acc_t* nr = norms.data_ptr<acc_t>() + r * S1 * 2;
        for (int64_t u = 0; u <= len[2 * b + 1]; ++u) {
          const int64_t cell = r * S1 + u;
          nr[2 * u] = row_logsumexp(logits.data_ptr<scalar_t>() + cell * in.C, in.C, buf);
          if (z.defined()) {
            nr[2 * u + 1] = row_logsumexp(z.data_ptr<scalar_t>() + cell * in.D, in.D, buf);
          }
        }
      }
    });
    at::parallel_for(0, in.B, 1, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const auto v = item_view<scalar_t, acc_t>(in, b, logits, z, symbols, norms, sigma);
        scores.data_ptr<acc_t>()[b] = forward_duration_item(
            v, in.arcs.data(), static_cast<int64_t>(in.arcs.size()),
            alpha.data_ptr<acc_t>() + b * in.T * S1);
      }
    });
  });
  return {scores, alpha, norms};
}

std::tuple<at::Tensor, at::Tensor> duration_lattice_backward_cpu(
    const at::Tensor& grad_scores_in, const at::Tensor& logits_in,
    const c10::optional<at::Tensor>& duration_logits, const at::Tensor& symbols_in,
    c10::IntArrayRef arcs, const c10::optional<at::Tensor>& boundary, double sigma,
    double fastemit_lambda, const at::Tensor& scores_in, const at::Tensor& alpha,
    const at::Tensor& norms) {
  const DurationBackward prep = prepare_duration_backward(
      grad_scores_in, logits_in, duration_logits, symbols_in, arcs, boundary, scores_in, alpha,
      norms, "rnnt::_duration_lattice_backward");
  const DurationLatticeInputs& in = prep.in;
  const at::Tensor &logits = prep.logits, &symbols = prep.symbols, &z = prep.z;
  const at::Tensor &scores = prep.scores, &grad_scores = prep.grad_scores, &beta = prep.beta;
  const at::Tensor &grad_logits = prep.grad_logits, &grad_z = prep.grad_z;
  const int64_t S1 = in.S + 1;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, logits.scalar_type(), "duration_lattice_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const int64_t* len = in.lengths.data_ptr<int64_t>();
    at::parallel_for(0, in.B, 1, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const auto v = item_view<scalar_t, acc_t>(in, b, logits, z, symbols, norms, sigma);
        beta_item(v, in.arcs, beta.data_ptr<acc_t>() + b * in.T * S1);
      }
    });
    const int64_t grain = std::max<int64_t>(1, at::internal::GRAIN_SIZE / (S1 * (in.C + in.D)));
    at::parallel_for(0, in.B * in.T, grain, [&](int64_t begin, int64_t end) {
      std::vector<acc_t> row(in.C), dur(in.D);
      for (int64_t r = begin; r < end; ++r) {
        const int64_t b = r / in.T, t = r % in.T;
        const auto v = item_view<scalar_t, acc_t>(in, b, logits, z, symbols, norms, sigma);
        const acc_t log_p = scores.data_ptr<acc_t>()[b];
        const acc_t g = grad_scores.data_ptr<acc_t>()[b];
        const bool has_path = log_p > neg_inf<acc_t>() && t < len[2 * b];
        for (int64_t u = 0; u < S1; ++u) {
          const int64_t cell = r * S1 + u;
          scalar_t* gx = grad_logits.data_ptr<scalar_t>() + cell * in.C;
          scalar_t* gz = z.defined() ? grad_z.data_ptr<scalar_t>() + cell * in.D : nullptr;
          if (!has_path || u > len[2 * b + 1]) {
            std::fill(gx, gx + in.C, scalar_t(0));
            if (gz) std::fill(gz, gz + in.D, scalar_t(0));
            continue;
          }
          const int64_t node = b * in.T * S1 + t * S1 + u;
          grad_node(v, in.arcs, t, u, alpha.data_ptr<acc_t>()[node],
                    beta.data_ptr<acc_t>() + b * in.T * S1, log_p, g,
                    static_cast<acc_t>(fastemit_lambda), gx, gz, row, dur);
        }
      }
    });
  });
  return {grad_logits, grad_z};
}

}  // namespace

TORCH_LIBRARY_IMPL(rnnt, CPU, m) {
  m.impl(ops::_duration_lattice_forward::name, &duration_lattice_forward_cpu);
  m.impl(ops::_duration_lattice_backward::name, &duration_lattice_backward_cpu);
}

}  // namespace rnnt

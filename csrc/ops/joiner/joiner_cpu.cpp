// CPU kernels of the fused joiner log-probs: one pass over each row of
// logits computes its normaliser and the symbol/blank log-probs, so no
// log-softmax copy of [B][T][S+1][C] logits is ever made; the backward
// writes d loss / d logits directly (into the logits themselves for
// _joiner_logprobs_backward_). Rows run in parallel (at::parallel_for), and
// the loops over a row's C classes are SIMD (at::vec). float16/bfloat16
// logits are widened to float32 one row at a time and accumulate in float32.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "joiner_checks.h"
#include "joiner_math.h"

namespace rnnt {
namespace {

// Rows per parallel task: about at::internal::GRAIN_SIZE logits, so small
// inputs (few rows, or few classes) stay on one thread.
inline int64_t rows_per_task(int64_t C) {
  return std::max<int64_t>(1, at::internal::GRAIN_SIZE / std::max<int64_t>(C, 1));
}

// One row of logits in the accumulation type: the row itself when the
// types agree, else a widened copy in a per-task buffer of C elements.
template <typename scalar_t, typename acc_t>
class AccRow {
 public:
  explicit AccRow(int64_t C) : buffer_(std::is_same_v<scalar_t, acc_t> ? 0 : C) {}
  const acc_t* load(const scalar_t* row, int64_t C) {
    if constexpr (std::is_same_v<scalar_t, acc_t>) {
      return row;
    } else {
      at::vec::convert(row, buffer_.data(), C);
      return buffer_.data();
    }
  }
  // Where a row's gradient is built before it is stored as scalar_t.
  acc_t* scratch(scalar_t* out) {
    if constexpr (std::is_same_v<scalar_t, acc_t>) {
      return out;
    } else {
      return buffer_.data();
    }
  }
  void store(scalar_t* out, int64_t C) {
    if constexpr (!std::is_same_v<scalar_t, acc_t>) at::vec::convert(buffer_.data(), out, C);
  }

 private:
  std::vector<acc_t> buffer_;
};

// logsumexp of a row, NaN if the row has a NaN, -inf if it is all -inf.
template <typename acc_t>
acc_t row_log_norm(const acc_t* x, int64_t C) {
  using Vec = at::vec::Vectorized<acc_t>;
  const acc_t mx = at::vec::reduce_all<acc_t>(
      [](Vec& a, Vec& b) { return at::vec::maximum(a, b); }, x, C);
  if (mx == neg_inf<acc_t>() || mx != mx) return mx;
  const acc_t sum = at::vec::map_reduce_all<acc_t>(
      [mx](Vec v) { return (v - Vec(mx)).exp(); },
      [](Vec& a, Vec& b) { return a + b; }, x, C);
  return mx + std::log(sum);
}

// grad[c] = g_s [c == sym] + g_b [c == blank] - (g_s + g_b) softmax(x)[c]
// (joiner_math.h); grad may alias x. A row that no path visits (both
// upstream gradients 0, e.g. padding past an item's lengths) gets 0,
// whatever its values (NaN or inf padding included).
template <typename acc_t>
void row_grad(const acc_t* x, acc_t norm, acc_t gs, acc_t gb, int64_t sym, int64_t blank,
              int64_t C, acc_t* grad) {
  using Vec = at::vec::Vectorized<acc_t>;
  if (unvisited_row(gs, gb) || norm == neg_inf<acc_t>()) {
    at::vec::map([](Vec) { return Vec(acc_t(0)); }, grad, x, C);
  } else {
    const Vec scale(-(gs + gb));
    at::vec::map([norm, scale](Vec v) { return scale * (v - Vec(norm)).exp(); }, grad, x, C);
  }
  grad[sym] += gs;
  grad[blank] += gb;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> joiner_logprobs_cpu(
    const at::Tensor& logits_in, const at::Tensor& symbol_index_in,
    int64_t termination_symbol, bool /*inplace_grad: the autograd kernel's*/) {
  const JoinerRows rows = check_joiner_inputs(logits_in, symbol_index_in, termination_symbol);
  const at::Tensor logits = logits_in.contiguous();
  const at::Tensor index = symbol_index_in.contiguous();
  const auto out_opts = logits.options().dtype(at::toOpMathType(logits.scalar_type()));
  at::Tensor symbol_logp = at::empty(index.sizes(), out_opts);
  at::Tensor blank_logp = at::empty(index.sizes(), out_opts);
  at::Tensor log_norm = at::empty(index.sizes(), out_opts);
  const int64_t C = rows.C;
  const int64_t* idx = index.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, logits.scalar_type(), "joiner_logprobs_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* x = logits.data_ptr<scalar_t>();
    acc_t* sym_out = symbol_logp.data_ptr<acc_t>();
    acc_t* blank_out = blank_logp.data_ptr<acc_t>();
    acc_t* norm_out = log_norm.data_ptr<acc_t>();
    at::parallel_for(0, rows.N, rows_per_task(C), [&](int64_t begin, int64_t end) {
      AccRow<scalar_t, acc_t> acc(C);
      for (int64_t n = begin; n < end; ++n) {
        const int64_t sym = idx[n];
        TORCH_CHECK(sym >= 0 && sym < C, "rnnt::_joiner_logprobs: symbol_index[", n,
                    "] = ", sym, " is outside [0, C = ", C, ")");
        const acc_t* row = acc.load(x + n * C, C);
        const acc_t lse = row_log_norm(row, C);
        sym_out[n] = row_logprob(row[sym], lse);
        blank_out[n] = row_logprob(row[termination_symbol], lse);
        norm_out[n] = lse;
      }
    });
  });
  return {symbol_logp, blank_logp, log_norm};
}

// Writes the gradient of the logits into grad_logits (which may be logits).
void write_logits_grad_cpu(const JoinerGradInputs& in, const at::Tensor& logits,
                           const at::Tensor& grad_logits) {
  const int64_t C = in.rows.C;
  const int64_t* idx = in.symbol_index.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, logits.scalar_type(), "joiner_logprobs_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* x = logits.data_ptr<scalar_t>();
    scalar_t* gx = grad_logits.data_ptr<scalar_t>();
    const acc_t* gs = in.grad_symbol.data_ptr<acc_t>();
    const acc_t* gb = in.grad_blank.data_ptr<acc_t>();
    const acc_t* norm = in.log_norm.data_ptr<acc_t>();
    at::parallel_for(0, in.rows.N, rows_per_task(C), [&](int64_t begin, int64_t end) {
      AccRow<scalar_t, acc_t> acc(C);
      for (int64_t n = begin; n < end; ++n) {
        const acc_t* row = acc.load(x + n * C, C);
        row_grad(row, norm[n], gs[n], gb[n], idx[n], in.termination_symbol, C,
                 acc.scratch(gx + n * C));
        acc.store(gx + n * C, C);
      }
    });
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(rnnt, CPU, m) {
  m.impl("_joiner_logprobs", &joiner_logprobs_cpu);
  m.impl("_joiner_logprobs_backward", &joiner_backward_new_buffer<write_logits_grad_cpu>);
  m.impl("_joiner_logprobs_backward_", &joiner_backward_in_place<write_logits_grad_cpu>);
}

}  // namespace rnnt

// Typed calls of our own ops through the dispatcher, for C++ code that
// composes them (autograd kernels, losses).
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ATen.h>
#include <ATen/TensorSubclassLikeUtils.h>
#include <torch/csrc/jit/frontend/tracer.h>

#include <algorithm>
#include <limits>
#include <tuple>

#include "checked_values.h"
#include "rnnt_math.h"
#include "value_checks.h"

namespace rnnt {

inline std::tuple<at::Tensor, at::Tensor> call_mutual_information_forward(
    const at::Tensor& px, const at::Tensor& py,
    const c10::optional<at::Tensor>& boundary) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("rnnt::_mutual_information_forward", "")
          .typed<std::tuple<at::Tensor, at::Tensor>(
              const at::Tensor&, const at::Tensor&,
              const c10::optional<at::Tensor>&)>();
  return op.call(px, py, boundary);
}

inline std::tuple<at::Tensor, at::Tensor> call_mutual_information_backward(
    const at::Tensor& px, const at::Tensor& py,
    const c10::optional<at::Tensor>& boundary, const at::Tensor& p) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("rnnt::_mutual_information_backward", "")
          .typed<std::tuple<at::Tensor, at::Tensor>(
              const at::Tensor&, const at::Tensor&,
              const c10::optional<at::Tensor>&, const at::Tensor&)>();
  return op.call(px, py, boundary, p);
}

inline at::Tensor call_mutual_information(
    const at::Tensor& px, const at::Tensor& py,
    const c10::optional<at::Tensor>& boundary) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("rnnt::mutual_information", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&,
                            const c10::optional<at::Tensor>&)>();
  return op.call(px, py, boundary);
}

inline std::tuple<at::Tensor, at::Tensor, at::Tensor>
call_mutual_information_with_grad(const at::Tensor& px, const at::Tensor& py,
                                  const c10::optional<at::Tensor>& boundary) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("rnnt::mutual_information_with_grad", "")
          .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
              const at::Tensor&, const at::Tensor&,
              const c10::optional<at::Tensor>&)>();
  return op.call(px, py, boundary);
}

// Whether `t` is a real tensor run eagerly: not fake or functional, no
// dispatch mode, no TorchScript tracer recording ops.
inline bool is_eager(const at::Tensor& t) {
  return !at::isTensorSubclassLike(t) && !torch::jit::tracer::isTracing();
}

// One host read for the two value checks of a loss call, in eager mode:
// when neither `symbols` nor `boundary` is known to the memo of checked
// values (checked_values.h), the symbols' bounds and the boundary rows are
// copied to the host together and what they show is remembered. The checks
// that follow (the symbols' by call_checked_index, the boundary's in the
// recursion op) then find it there and read nothing, or read again and
// raise their own errors if the values are bad. Raises nothing itself.
inline void read_symbols_and_boundary_together(const at::Tensor& symbols,
                                               const c10::optional<at::Tensor>& boundary) {
  if (!value_checks_enabled() || !boundary.has_value() || !boundary->defined()) return;
  const at::Tensor& rows = *boundary;
  // Traced tensors first: their sizes may be symbolic.
  if (!is_eager(symbols) || !CheckedValues::memoisable(symbols) ||
      !CheckedValues::memoisable(rows) || symbols.numel() == 0 ||
      symbols.scalar_type() != at::kLong || rows.scalar_type() != at::kLong ||
      rows.dim() != 2 || rows.size(1) != 4 || symbols.device() != rows.device()) {
    return;
  }
  CheckedValues& memo = CheckedValues::instance();
  int64_t x = 0, y = 0;
  if (memo.lookup(symbols, CheckedKind::kIndexRange, x, y) ||
      memo.lookup(rows, CheckedKind::kBoundaryExtent, x, y)) {
    return;
  }
  RNNT_RECORD_HOST_READ();
  const auto [lo, hi] = at::aminmax(symbols);
  const at::Tensor host = at::cat({at::stack({lo, hi}), rows.flatten()}).cpu();
  const int64_t* v = host.data_ptr<int64_t>();
  memo.remember(symbols, CheckedKind::kIndexRange, v[0], v[1]);
  int64_t max_s_end = 0, max_t_end = 0;
  for (int64_t i = 0; i < rows.size(0); ++i) {
    const int64_t* r = v + 2 + 4 * i;
    const Box box{r[0], r[1], r[2], r[3]};
    constexpr int64_t kAny = std::numeric_limits<int64_t>::max();
    if (!box_inside(box, kAny, kAny)) return;  // 0 <= begin <= end, both axes
    max_s_end = std::max(max_s_end, r[2]);
    max_t_end = std::max(max_t_end, r[3]);
  }
  memo.remember(rows, CheckedKind::kBoundaryExtent, max_s_end, max_t_end);
}

// `index` (int64), checked to lie in [0, size) unless value checks are off
// (value_checks.h): a copy, made by a backend kernel so that the check also
// runs inside torch.compile'd graphs. `name` is the argument named in the
// error.
//
// In eager mode the op is skipped, and `index` itself used, when there is
// nothing to read: value checks off, or an index already checked against
// this size and unchanged since (checked_values.h). Traced (fake or
// functional tensors, a dispatch mode, the TorchScript tracer), the op is
// always called, so that graphs keep their checks.
inline at::Tensor call_checked_index(const at::Tensor& index,
                                     const c10::SymInt& size,
                                     c10::string_view name) {
  if (index.scalar_type() == at::kLong && is_eager(index)) {
    if (!value_checks_enabled()) return index;
    int64_t lo = 0, hi = 0;
    const auto upper = size.maybe_as_int();
    if (upper && CheckedValues::instance().lookup(index, CheckedKind::kIndexRange, lo, hi) &&
        lo >= 0 && hi < *upper) {
      return index;
    }
  }
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("rnnt::_checked_index", "")
          .typed<at::Tensor(const at::Tensor&, c10::SymInt, c10::string_view)>();
  return op.call(index, size, name);
}

// Fused joiner log-probs (joiner_logprobs_cpu.cpp): per row of logits
// [..., C], (logits[sym] - lse, logits[termination] - lse, lse) in the
// accumulation dtype (float32 for float16/bfloat16 logits); with
// inplace_grad the backward overwrites logits with its gradient.
inline std::tuple<at::Tensor, at::Tensor, at::Tensor> call_joiner_logprobs(
    const at::Tensor& logits, const at::Tensor& symbol_index, int64_t termination_symbol,
    bool inplace_grad) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("rnnt::_joiner_logprobs", "")
          .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
              const at::Tensor&, const at::Tensor&, int64_t, bool)>();
  return op.call(logits, symbol_index, termination_symbol, inplace_grad);
}

inline at::Tensor call_joiner_logprobs_backward(
    const at::Tensor& grad_symbol, const at::Tensor& grad_blank, const at::Tensor& logits,
    const at::Tensor& symbol_index, const at::Tensor& log_norm, int64_t termination_symbol) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("rnnt::_joiner_logprobs_backward", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                            const at::Tensor&, const at::Tensor&, int64_t)>();
  return op.call(grad_symbol, grad_blank, logits, symbol_index, log_norm, termination_symbol);
}

inline void call_joiner_logprobs_backward_inplace(
    const at::Tensor& grad_symbol, const at::Tensor& grad_blank, const at::Tensor& logits,
    const at::Tensor& symbol_index, const at::Tensor& log_norm, int64_t termination_symbol) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("rnnt::_joiner_logprobs_backward_", "")
          .typed<void(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                      const at::Tensor&, const at::Tensor&, int64_t)>();
  op.call(grad_symbol, grad_blank, logits, symbol_index, log_norm, termination_symbol);
}

}  // namespace rnnt

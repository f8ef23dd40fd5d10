// Typed calls of our own ops through the dispatcher, for C++ code that
// composes them (autograd kernels, losses).
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ATen.h>
#include <ATen/TensorSubclassLikeUtils.h>
#include <torch/csrc/jit/frontend/tracer.h>

#include <tuple>

#include "checked_values.h"
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

// Whether an optional boundary lets a call take its fused eager kernels:
// absent, or eager (and on `device`, where the kernel reads it there).
inline bool is_eager_boundary(const c10::optional<at::Tensor>& boundary,
                              c10::optional<c10::Device> device = c10::nullopt) {
  if (!boundary.has_value() || !boundary->defined()) return true;
  return is_eager(*boundary) && (!device.has_value() || boundary->device() == *device);
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

// Pruning ranges from the simple loss's occupation probabilities, fused
// (prune_ranges_math.h): s_range is the final window size.
inline at::Tensor call_prune_ranges(const at::Tensor& px_grad, const at::Tensor& py_grad,
                                    const c10::optional<at::Tensor>& boundary, int64_t s_range,
                                    int64_t max_step) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("rnnt::_prune_ranges", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&,
                            const c10::optional<at::Tensor>&, int64_t, int64_t)>();
  return op.call(px_grad, py_grad, boundary, s_range, max_step);
}

// The simple (and smoothed) loss's fused lattice ops (simple_lattice.h).
inline std::tuple<at::Tensor, at::Tensor> call_simple_lattice(
    const at::Tensor& lm, const at::Tensor& am, const at::Tensor& lm_max, const at::Tensor& am_max,
    const at::Tensor& M, const at::Tensor& symbols, int64_t termination_symbol,
    c10::string_view rnnt_type, const c10::optional<at::Tensor>& boundary,
    const c10::optional<at::Tensor>& symbol_offset, const c10::optional<at::Tensor>& blank_offset,
    const c10::optional<at::Tensor>& frame_offset, double w_am, double w_lm, double w_norm) {
  using Opt = const c10::optional<at::Tensor>&;
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("rnnt::_simple_lattice", "")
          .typed<std::tuple<at::Tensor, at::Tensor>(
              const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
              const at::Tensor&, const at::Tensor&, int64_t, c10::string_view, Opt, Opt, Opt, Opt,
              double, double, double)>();
  return op.call(lm, am, lm_max, am_max, M, symbols, termination_symbol, rnnt_type, boundary,
                 symbol_offset, blank_offset, frame_offset, w_am, w_lm, w_norm);
}

inline at::Tensor call_simple_lattice_backward(const at::Tensor& grad_px,
                                               const at::Tensor& grad_py, const at::Tensor& M,
                                               c10::string_view rnnt_type,
                                               const c10::optional<at::Tensor>& boundary,
                                               double w_norm) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("rnnt::_simple_lattice_backward", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                            c10::string_view, const c10::optional<at::Tensor>&, double)>();
  return op.call(grad_px, grad_py, M, rnnt_type, boundary, w_norm);
}

inline std::tuple<at::Tensor, at::Tensor, at::Tensor> call_simple_lattice_gather_grads_(
    const at::Tensor& grad_lm, const at::Tensor& grad_am, const at::Tensor& grad_px,
    const at::Tensor& grad_py, const at::Tensor& symbols, int64_t termination_symbol,
    c10::string_view rnnt_type, const c10::optional<at::Tensor>& boundary, double w_am,
    double w_lm) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("rnnt::_simple_lattice_gather_grads_", "")
          .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
              const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
              const at::Tensor&, int64_t, c10::string_view, const c10::optional<at::Tensor>&,
              double, double)>();
  return op.call(grad_lm, grad_am, grad_px, grad_py, symbols, termination_symbol, rnnt_type,
                 boundary, w_am, w_lm);
}

// The pruned loss's fused lattice (pruned_lattice.h), and its backward.
inline std::tuple<at::Tensor, at::Tensor> call_pruned_lattice(
    const at::Tensor& px_kept, const at::Tensor& py_kept, const at::Tensor& ranges, int64_t S,
    c10::string_view rnnt_type, const c10::optional<at::Tensor>& boundary) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("rnnt::_pruned_lattice", "")
          .typed<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                    const at::Tensor&, int64_t, c10::string_view,
                                                    const c10::optional<at::Tensor>&)>();
  return op.call(px_kept, py_kept, ranges, S, rnnt_type, boundary);
}

inline std::tuple<at::Tensor, at::Tensor> call_pruned_lattice_backward(
    const at::Tensor& grad_px, const at::Tensor& grad_py, const at::Tensor& ranges,
    c10::string_view rnnt_type, const c10::optional<at::Tensor>& boundary) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("rnnt::_pruned_lattice_backward", "")
          .typed<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                    const at::Tensor&, c10::string_view,
                                                    const c10::optional<at::Tensor>&)>();
  return op.call(grad_px, grad_py, ranges, rnnt_type, boundary);
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

// Typed calls of our own ops through the dispatcher, for C++ code that
// composes them (autograd kernels, losses).
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ATen.h>

#include <tuple>

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

// `index` (int64), checked to lie in [0, size): a copy, made by a backend
// kernel so that the check also runs inside torch.compile'd graphs. `name`
// is the argument named in the error.
inline at::Tensor call_checked_index(const at::Tensor& index,
                                     const c10::SymInt& size,
                                     c10::string_view name) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("rnnt::_checked_index", "")
          .typed<at::Tensor(const at::Tensor&, c10::SymInt, c10::string_view)>();
  return op.call(index, size, name);
}

}  // namespace rnnt

// Typed dispatcher calls of the fused joiner's backend ops.
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <tuple>

namespace rnnt {
namespace fused_joiner {

using OptTensor = c10::optional<at::Tensor>;

inline std::tuple<at::Tensor, at::Tensor, at::Tensor> call_fused_joiner_logprobs(
    const at::Tensor& am, const at::Tensor& lm, const at::Tensor& weight, const OptTensor& bias,
    const at::Tensor& symbol_index, const OptTensor& ranges, int64_t termination_symbol,
    const OptTensor& boundary, c10::string_view activation, bool use_hat_loss,
    int64_t chunk_cells) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("rnnt::_fused_joiner_logprobs", "")
          .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
              const at::Tensor&, const at::Tensor&, const at::Tensor&, const OptTensor&,
              const at::Tensor&, const OptTensor&, int64_t, const OptTensor&,
              c10::string_view, bool, int64_t)>();
  return op.call(am, lm, weight, bias, symbol_index, ranges, termination_symbol, boundary,
                 activation, use_hat_loss, chunk_cells);
}

inline std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>
call_fused_joiner_logprobs_backward(
    const at::Tensor& grad_symbol, const at::Tensor& grad_blank, const at::Tensor& am,
    const at::Tensor& lm, const at::Tensor& weight, const OptTensor& bias,
    const at::Tensor& symbol_index, const OptTensor& ranges, const at::Tensor& log_norm,
    int64_t termination_symbol, const OptTensor& boundary, c10::string_view activation,
    bool use_hat_loss, int64_t chunk_cells) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("rnnt::_fused_joiner_logprobs_backward", "")
          .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>(
              const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
              const at::Tensor&, const OptTensor&, const at::Tensor&, const OptTensor&,
              const at::Tensor&, int64_t, const OptTensor&, c10::string_view, bool,
              int64_t)>();
  return op.call(grad_symbol, grad_blank, am, lm, weight, bias, symbol_index, ranges,
                 log_norm, termination_symbol, boundary, activation, use_hat_loss,
                 chunk_cells);
}

}  // namespace fused_joiner
}  // namespace rnnt

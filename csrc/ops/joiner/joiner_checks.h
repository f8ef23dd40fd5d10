// Checks and backward-op wrappers of the fused joiner log-probs ops, shared
// by CPU and CUDA.
#pragma once

#include <ATen/ATen.h>

#include "common/checks.h"
#include "common/op_names.h"

namespace rnnt {

struct JoinerRows {
  int64_t N;  // rows: every leading position of logits
  int64_t C;  // classes
};

// logits [..., C] (float16/bfloat16/float32/float64), symbol_index int64
// with logits' leading shape, termination_symbol in [0, C).
inline JoinerRows check_joiner_inputs(const at::Tensor& logits,
                                      const at::Tensor& symbol_index,
                                      int64_t termination_symbol) {
  const char* op = op_name("rnnt::_joiner_logprobs");
  TORCH_CHECK(logits.dim() >= 1, op, ": logits must have a class dimension");
  TORCH_CHECK(at::isFloatingType(logits.scalar_type()), op,
              ": logits must be float16, bfloat16, float32 or float64, got ",
              logits.scalar_type());
  TORCH_CHECK(symbol_index.scalar_type() == at::kLong, op,
              ": symbol_index must be int64, got ", symbol_index.scalar_type());
  TORCH_CHECK(symbol_index.device() == logits.device(), op,
              ": symbol_index and logits must be on the same device");
  TORCH_CHECK(symbol_index.dim() == logits.dim() - 1 &&
                  symbol_index.sizes() == logits.sizes().slice(0, logits.dim() - 1),
              op, ": symbol_index must have the leading shape of logits ",
              shape_str(logits), ", got ", shape_str(symbol_index));
  const int64_t C = logits.size(-1);
  TORCH_CHECK_VALUE(termination_symbol >= 0 && termination_symbol < C, op,
                    ": termination_symbol must be in [0, C = ", C, "), got ",
                    termination_symbol);
  return {symbol_index.numel(), C};
}

// The inputs of a backend's gradient writer, checked and laid out: index,
// log_norm and the upstream gradients contiguous, the gradients in
// log_norm's (accumulation) dtype.
struct JoinerGradInputs {
  JoinerRows rows;
  at::Tensor grad_symbol, grad_blank, symbol_index, log_norm;
  int64_t termination_symbol;
};

inline JoinerGradInputs prepare_joiner_grad_inputs(
    const at::Tensor& grad_symbol, const at::Tensor& grad_blank, const at::Tensor& logits,
    const at::Tensor& symbol_index, const at::Tensor& log_norm, int64_t termination_symbol) {
  const JoinerRows rows = check_joiner_inputs(logits, symbol_index, termination_symbol);
  const at::Tensor norm = log_norm.contiguous();
  return {rows, grad_symbol.to(norm.scalar_type()).contiguous(),
          grad_blank.to(norm.scalar_type()).contiguous(), symbol_index.contiguous(), norm,
          termination_symbol};
}

// The two backward ops of _joiner_logprobs, for a backend's gradient writer
// write_grad(inputs, logits, out), which writes d loss / d logits into out
// (out may be logits itself).
using JoinerGradWriter = void (*)(const JoinerGradInputs&, const at::Tensor&,
                                  const at::Tensor&);

// _joiner_logprobs_backward: the gradient in a new tensor.
template <JoinerGradWriter write_grad>
at::Tensor joiner_backward_new_buffer(const at::Tensor& grad_symbol,
                                      const at::Tensor& grad_blank,
                                      const at::Tensor& logits_in,
                                      const at::Tensor& symbol_index,
                                      const at::Tensor& log_norm, int64_t termination_symbol) {
  const at::Tensor logits = logits_in.contiguous();
  const JoinerGradInputs in = prepare_joiner_grad_inputs(
      grad_symbol, grad_blank, logits, symbol_index, log_norm, termination_symbol);
  at::Tensor grad_logits = at::empty_like(logits);
  write_grad(in, logits, grad_logits);
  return grad_logits;
}

// _joiner_logprobs_backward_: the gradient over the logits, which must be
// contiguous (their own memory receives it).
template <JoinerGradWriter write_grad>
void joiner_backward_in_place(const at::Tensor& grad_symbol, const at::Tensor& grad_blank,
                              const at::Tensor& logits, const at::Tensor& symbol_index,
                              const at::Tensor& log_norm, int64_t termination_symbol) {
  TORCH_CHECK(logits.is_contiguous(), "rnnt::_joiner_logprobs_backward_: logits must be "
              "contiguous to receive its gradient in place, got strides ",
              logits.strides());
  write_grad(prepare_joiner_grad_inputs(grad_symbol, grad_blank, logits, symbol_index,
                                        log_norm, termination_symbol),
             logits, logits);
}

}  // namespace rnnt

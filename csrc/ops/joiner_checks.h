// Checks of the fused joiner log-probs ops, shared by CPU and CUDA.
#pragma once

#include <ATen/ATen.h>

#include "checks.h"

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
  const char* op = "rnnt::_joiner_logprobs";
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

// The in-place backward overwrites logits with its gradient: it needs the
// logits' own (contiguous) memory.
inline void check_inplace_logits(const at::Tensor& logits) {
  TORCH_CHECK(logits.is_contiguous(), "rnnt::_joiner_logprobs_backward_: logits must be "
              "contiguous to receive its gradient in place, got strides ",
              logits.strides());
}

}  // namespace rnnt

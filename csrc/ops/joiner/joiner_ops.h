// The fused joiner log-probs ops: schemas, defined in joiner_schema.cpp, and
// typed calls.
#pragma once

#include <tuple>

#include "common/op.h"

namespace rnnt::ops {

// For logits [..., C] and an int64 symbol index of the leading shape,
// (logits[sym] - lse, logits[termination] - lse, lse) per row, in float32
// for float16/bfloat16 logits (float64 for float64); the backward writes
// d loss / d logits without a log-softmax copy, into the memory of
// (contiguous) logits itself when inplace_grad is set.
RNNT_OP(_joiner_logprobs,
        "(Tensor logits, Tensor symbol_index, int termination_symbol,"
        " bool inplace_grad=False) -> (Tensor, Tensor, Tensor)",
        std::tuple<Tensor, Tensor, Tensor>(TensorArg, TensorArg, int64_t, bool));
RNNT_OP(_joiner_logprobs_backward,
        "(Tensor grad_symbol, Tensor grad_blank, Tensor logits,"
        " Tensor symbol_index, Tensor log_norm, int termination_symbol) -> Tensor",
        Tensor(TensorArg, TensorArg, TensorArg, TensorArg, TensorArg, int64_t));
// Same, overwriting logits with its gradient (logits must be contiguous).
RNNT_OP(_joiner_logprobs_backward_,
        "(Tensor grad_symbol, Tensor grad_blank, Tensor(a!) logits,"
        " Tensor symbol_index, Tensor log_norm, int termination_symbol) -> ()",
        void(TensorArg, TensorArg, TensorArg, TensorArg, TensorArg, int64_t));

}  // namespace rnnt::ops

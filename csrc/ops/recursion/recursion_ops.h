// The lattice recursion's ops (see rnnt_ops/mutual_information.py for the
// math): schemas, defined in recursion_schema.cpp, and typed calls.
#pragma once

#include <tuple>

#include "common/op.h"

namespace rnnt::ops {

// The total log-score per batch item, [B].
RNNT_OP(mutual_information, "(Tensor px, Tensor py, Tensor? boundary=None) -> Tensor",
        Tensor(TensorArg, TensorArg, OptTensorArg));

// Same, plus the gradients of the summed scores w.r.t. px and py
// (occupation probabilities), computed in the same call.
RNNT_OP(mutual_information_with_grad,
        "(Tensor px, Tensor py, Tensor? boundary=None) -> (Tensor, Tensor, Tensor)",
        std::tuple<Tensor, Tensor, Tensor>(TensorArg, TensorArg, OptTensorArg));

// The backend kernels behind the two ops above: the forward returns
// (scores, p) with p the [B][S+1][T+1] forward table; the backward returns
// the gradients of sum(scores) w.r.t. (px, py).
RNNT_OP(_mutual_information_forward,
        "(Tensor px, Tensor py, Tensor? boundary=None) -> (Tensor, Tensor)",
        std::tuple<Tensor, Tensor>(TensorArg, TensorArg, OptTensorArg));
RNNT_OP(_mutual_information_backward,
        "(Tensor px, Tensor py, Tensor? boundary, Tensor p) -> (Tensor, Tensor)",
        std::tuple<Tensor, Tensor>(TensorArg, TensorArg, OptTensorArg, TensorArg));

}  // namespace rnnt::ops

// The pruned loss's fused lattice ops, behind get_rnnt_logprobs_pruned in
// eager mode: schemas, defined in pruned_lattice_schema.cpp, and typed calls.
#pragma once

#include <tuple>

#include "common/op.h"

namespace rnnt::ops {

// px/py from the kept log-probs px_kept, py_kept [B][T][R] at label
// positions ranges [B][T][R] (-inf elsewhere; pruned_lattice_math.h).
RNNT_OP(_pruned_lattice,
        "(Tensor px_kept, Tensor py_kept, Tensor ranges, int S, str rnnt_type,"
        " Tensor? boundary) -> (Tensor, Tensor)",
        std::tuple<Tensor, Tensor>(TensorArg, TensorArg, TensorArg, int64_t, c10::string_view,
                                   OptTensorArg));
// Its backward: the gradients of the kept entries.
RNNT_OP(_pruned_lattice_backward,
        "(Tensor grad_px, Tensor grad_py, Tensor ranges, str rnnt_type,"
        " Tensor? boundary) -> (Tensor, Tensor)",
        std::tuple<Tensor, Tensor>(TensorArg, TensorArg, TensorArg, c10::string_view,
                                   OptTensorArg));

}  // namespace rnnt::ops

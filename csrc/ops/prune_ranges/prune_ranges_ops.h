// Pruning's ops (k2's pruned RNN-T, arXiv:2206.13236 sec. 3.2): schemas,
// defined in prune_ranges_schema.cpp, and typed calls.
#pragma once

#include <tuple>

#include "common/op.h"

namespace rnnt::ops {

// ranges [B][T][s_range] of kept label positions per frame, from the simple
// loss's occupation probabilities.
RNNT_SCHEMA(get_rnnt_prune_ranges,
            "(Tensor px_grad, Tensor py_grad, Tensor? boundary, int s_range) -> Tensor");
// am and lm gathered into the ranges, each [B][T][s_range][C].
RNNT_SCHEMA(do_rnnt_pruning, "(Tensor am, Tensor lm, Tensor ranges) -> (Tensor, Tensor)");
// The fused kernel behind get_rnnt_prune_ranges in eager mode (traced
// graphs keep the ATen composition): ranges [B][T][s_range] for the final
// window size s_range, starts growing by less than max_step per frame.
RNNT_OP(_prune_ranges,
        "(Tensor px_grad, Tensor py_grad, Tensor? boundary, int s_range,"
        " int max_step) -> Tensor",
        Tensor(TensorArg, TensorArg, OptTensorArg, int64_t, int64_t));

}  // namespace rnnt::ops

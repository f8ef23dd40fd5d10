// The fused joiner + loss ops (rnnt_ops/fused.py has the math): schemas,
// defined in fused_joiner_schema.cpp, and typed calls. The joiner
// act(am[b, t] + lm[b, s]) @ weight^T + bias is computed chunk by chunk
// inside the loss, so the [B][T][S+1][C] logits never exist.
#pragma once

#include <tuple>

#include "common/op.h"

namespace rnnt::ops {

// Backend kernel: per lattice cell (b, t, k) of the items' boxes, the
// joiner's log-probs of symbol_index[b, t, k] and of the blank, and the
// log-normaliser, each [B][T][K] in the accumulation dtype (float32 for
// float16/bfloat16, 0 outside the boxes). Full lattice (ranges None): the
// cell's decoder row is lm[b, k], K = S+1, boxed to [s_begin, s_end];
// pruned: lm[b, ranges[b, t, k]], K = s_range, every slot kept.
// use_hat_loss: HAT factorisation (blank = sigmoid(logit 0)). chunk_cells
// > 0 fixes the cells per chunk; 0 picks it from a memory budget.
// sparse_backward is the backward's (kept for it by the autograd).
RNNT_OP(_fused_joiner_logprobs,
        "(Tensor am, Tensor lm, Tensor weight, Tensor? bias,"
        " Tensor symbol_index, Tensor? ranges, int termination_symbol, Tensor? boundary,"
        " str activation, bool use_hat_loss, int chunk_cells, bool sparse_backward)"
        " -> (Tensor, Tensor, Tensor)",
        std::tuple<Tensor, Tensor, Tensor>(TensorArg, TensorArg, TensorArg, OptTensorArg,
                                           TensorArg, OptTensorArg, int64_t, OptTensorArg,
                                           c10::string_view, bool, int64_t, bool));
// Its backward: recomputes the chunks and returns the gradients of
// (am, lm, weight, bias) (bias's also when bias is None, unused then).
// sparse_backward: only the cells whose occupation can matter at the
// GEMMs' precision (fused_joiner_cells.h); else every cell.
RNNT_OP(_fused_joiner_logprobs_backward,
        "(Tensor grad_symbol, Tensor grad_blank, Tensor am,"
        " Tensor lm, Tensor weight, Tensor? bias, Tensor symbol_index, Tensor? ranges,"
        " Tensor log_norm, int termination_symbol, Tensor? boundary, str activation,"
        " bool use_hat_loss, int chunk_cells, bool sparse_backward)"
        " -> (Tensor, Tensor, Tensor, Tensor)",
        std::tuple<Tensor, Tensor, Tensor, Tensor>(
            TensorArg, TensorArg, TensorArg, TensorArg, TensorArg, OptTensorArg, TensorArg,
            OptTensorArg, TensorArg, int64_t, OptTensorArg, c10::string_view, bool, int64_t,
            bool));
// The losses: rnnt_loss (resp. do_rnnt_pruning + rnnt_loss_pruned) of the
// joiner's logits, without forming them; sparse_backward as above.
RNNT_SCHEMA(rnnt_loss_fused,
            "(Tensor am, Tensor lm, Tensor weight, Tensor? bias, Tensor symbols,"
            " int termination_symbol, Tensor? boundary=None, str activation=\"tanh\","
            " str rnnt_type=\"regular\", float delay_penalty=0.0, str reduction=\"mean\","
            " bool zero_infinity=False, int chunk_cells=0, float fastemit_lambda=0.0,"
            " bool sparse_backward=True) -> Tensor");
RNNT_SCHEMA(rnnt_loss_pruned_fused,
            "(Tensor am, Tensor lm, Tensor ranges, Tensor weight, Tensor? bias,"
            " Tensor symbols, int termination_symbol, Tensor? boundary=None,"
            " str activation=\"tanh\", str rnnt_type=\"regular\", float delay_penalty=0.0,"
            " str reduction=\"mean\", bool use_hat_loss=False, bool zero_infinity=False,"
            " int chunk_cells=0, float fastemit_lambda=0.0, bool sparse_backward=True) -> Tensor");

}  // namespace rnnt::ops

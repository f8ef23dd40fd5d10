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
// float16/bfloat16, 0 outside the boxes), and with a duration head
// (duration_weight [N][D], duration_bias [N] or None) the duration logits
// h @ duration_weight^T + duration_bias [B][T][K][N] (N = 0 without one).
// Full lattice (ranges None): the cell's decoder row is lm[b, k], K = S+1,
// boxed to [s_begin, s_end]; pruned: lm[b, ranges[b, t, k]], K = s_range,
// every slot kept. use_hat_loss: HAT factorisation (blank = sigmoid(logit
// 0)). chunk_cells > 0 fixes the cells per chunk; 0 picks it from the
// cache and a memory budget. sparse_backward is the backward's (kept for
// it by the autograd).
RNNT_OP(_fused_joiner_logprobs,
        "(Tensor am, Tensor lm, Tensor weight, Tensor? bias, Tensor? duration_weight,"
        " Tensor? duration_bias, Tensor symbol_index, Tensor? ranges, int termination_symbol,"
        " Tensor? boundary, str activation, bool use_hat_loss, int chunk_cells,"
        " bool sparse_backward) -> (Tensor, Tensor, Tensor, Tensor)",
        std::tuple<Tensor, Tensor, Tensor, Tensor>(
            TensorArg, TensorArg, TensorArg, OptTensorArg, OptTensorArg, OptTensorArg,
            TensorArg, OptTensorArg, int64_t, OptTensorArg, c10::string_view, bool, int64_t,
            bool));
// Its backward: recomputes the chunks and returns the gradients of (am, lm,
// weight, bias, duration_weight, duration_bias) (the biases' also when
// they are None, unused then; duration_weight's [0][D] without a head).
// sparse_backward: only the cells whose occupation can matter at the
// GEMMs' precision (fused_joiner_cells.h); else every cell.
RNNT_OP(_fused_joiner_logprobs_backward,
        "(Tensor grad_symbol, Tensor grad_blank, Tensor? grad_duration, Tensor am,"
        " Tensor lm, Tensor weight, Tensor? bias, Tensor? duration_weight,"
        " Tensor? duration_bias, Tensor symbol_index, Tensor? ranges, Tensor log_norm,"
        " int termination_symbol, Tensor? boundary, str activation, bool use_hat_loss,"
        " int chunk_cells, bool sparse_backward)"
        " -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)",
        std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor>(
            TensorArg, TensorArg, OptTensorArg, TensorArg, TensorArg, TensorArg, OptTensorArg,
            OptTensorArg, OptTensorArg, TensorArg, OptTensorArg, TensorArg, int64_t,
            OptTensorArg, c10::string_view, bool, int64_t, bool));
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
// rnnt_loss_tdt of the label logits act(am + lm) @ weight^T + bias and the
// duration logits act(am + lm) @ duration_weight^T + duration_bias (one
// hidden activation, two heads: NeMo's TDT joint), without forming either.
RNNT_SCHEMA(rnnt_loss_tdt_fused,
            "(Tensor am, Tensor lm, Tensor weight, Tensor? bias, Tensor duration_weight,"
            " Tensor? duration_bias, Tensor symbols, int termination_symbol, int[] durations,"
            " Tensor? boundary=None, str activation=\"tanh\", float sigma=0.0,"
            " float omega=0.0, float fastemit_lambda=0.0, str reduction=\"mean\","
            " bool zero_infinity=False, int chunk_cells=0, bool sparse_backward=True)"
            " -> Tensor");

}  // namespace rnnt::ops

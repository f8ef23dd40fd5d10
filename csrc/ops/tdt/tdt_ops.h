// The TDT family's ops (the duration lattice): the TDT and multi-blank transducer
// losses (duration_losses.cpp) and the lattice op behind them
// (duration_lattice_math.h for the math). Schemas, defined in
// tdt_schema.cpp, and typed calls.
#pragma once

#include <tuple>

#include "common/op.h"

namespace rnnt::ops {

// TDT loss (Xu et al. 2023; see rnnt_ops/tdt.py): label logits
// [B][T][S+1][C] and duration logits [B][T][S+1][D] for the D distinct
// `durations`; reduced loss in the accumulation dtype.
RNNT_SCHEMA(rnnt_loss_tdt,
            "(Tensor logits, Tensor duration_logits, Tensor symbols,"
            " int termination_symbol, int[] durations, Tensor? boundary=None, float sigma=0.0,"
            " float omega=0.0, float fastemit_lambda=0.0, str reduction=\"mean\","
            " bool zero_infinity=False) -> Tensor");
// Multi-blank transducer loss (Xu et al. 2022): logits [B][T][S+1][C] with
// big blanks big_blank_ids of durations big_blank_durations (each >= 2).
RNNT_SCHEMA(rnnt_loss_multiblank,
            "(Tensor logits, Tensor symbols, int termination_symbol,"
            " int[] big_blank_ids, int[] big_blank_durations, Tensor? boundary=None,"
            " float sigma=0.0, str reduction=\"mean\", bool zero_infinity=False) -> Tensor");
// Simple TDT loss (pruned_tdt_losses.cpp): label log-probs of the joiner
// lm [B][S+1][C] + am [B][T][C] (as rnnt_loss_simple), duration logits
// lm_duration [B][S+1][D] + am_duration [B][T][D]. The _with_grad flavour
// also returns (px_grad [B][S][T+1], py_grad [B][S+1][T]): the occupations
// of the symbol and blank arcs leaving each node, all durations summed, for
// get_rnnt_prune_ranges.
#define RNNT_TDT_SIMPLE_ARGS                                                               \
  "(Tensor lm, Tensor am, Tensor lm_duration, Tensor am_duration, Tensor symbols,"         \
  " int termination_symbol, int[] durations, Tensor? boundary=None, float sigma=0.0,"      \
  " float omega=0.0, str reduction=\"mean\", bool zero_infinity=False)"
RNNT_SCHEMA(rnnt_loss_tdt_simple, RNNT_TDT_SIMPLE_ARGS " -> Tensor");
RNNT_SCHEMA(rnnt_loss_tdt_simple_with_grad, RNNT_TDT_SIMPLE_ARGS " -> (Tensor, Tensor, Tensor)");
#undef RNNT_TDT_SIMPLE_ARGS
// Pruned TDT loss: logits [B][T][s_range][C] and duration_logits
// [B][T][s_range][D] of the joiner inside the windows `ranges`
// [B][T][s_range] (get_rnnt_prune_ranges); arcs that leave the windows are
// dropped.
RNNT_SCHEMA(rnnt_loss_tdt_pruned,
            "(Tensor logits, Tensor duration_logits, Tensor symbols, Tensor ranges,"
            " int termination_symbol, int[] durations, Tensor? boundary=None, float sigma=0.0,"
            " float omega=0.0, float fastemit_lambda=0.0, str reduction=\"mean\","
            " bool zero_infinity=False, bool inplace_grad=False) -> Tensor");
// The lattice: per-item log-likelihood [B] of logits (and duration logits)
// over the arc kinds `arcs`, flat (label, duration, duration_index) triples
// (label -1: the next symbol; duration_index -1: no duration logit).
// Its gradient scales the symbol arcs' label gradient by
// 1 + fastemit_lambda (FastEmit); the value does not depend on it.
// label_logprobs: the label rows are log-probs already (no log-softmax; the
// gradient w.r.t. an entry is its arcs' occupation), as the simple and
// pruned TDT losses pass them; duration rows stay logits.
RNNT_OP(_duration_lattice,
        "(Tensor logits, Tensor? duration_logits, Tensor symbols, int[] arcs,"
        " Tensor? boundary=None, float sigma=0.0, float fastemit_lambda=0.0,"
        " bool label_logprobs=False) -> Tensor",
        Tensor(TensorArg, OptTensorArg, TensorArg, c10::IntArrayRef, OptTensorArg, double,
               double, bool));
// The lattice's scores [B] and their gradients w.r.t. logits and
// duration_logits (an empty tensor without them), the gradients of
// sum(scores) computed with the scores; autograd scales them per item. For
// rnnt_loss_tdt_simple's return_grad (one forward and one backward sweep).
RNNT_OP(_duration_lattice_with_grad,
        "(Tensor logits, Tensor? duration_logits, Tensor symbols, int[] arcs,"
        " Tensor? boundary=None, float sigma=0.0, bool label_logprobs=False)"
        " -> (Tensor, Tensor, Tensor)",
        std::tuple<Tensor, Tensor, Tensor>(TensorArg, OptTensorArg, TensorArg, c10::IntArrayRef,
                                           OptTensorArg, double, bool));
// Backend kernels: forward returns (scores [B], alpha [B][T][S+1],
// norms [B][T][S+1][2] = logsumexp of each node's logits (0 with
// label_logprobs) and duration logits); backward returns the gradients of
// sum(grad_scores * scores) w.r.t. logits and duration_logits (an empty
// tensor without them).
RNNT_OP(_duration_lattice_forward,
        "(Tensor logits, Tensor? duration_logits, Tensor symbols,"
        " int[] arcs, Tensor? boundary=None, float sigma=0.0, float fastemit_lambda=0.0,"
        " bool label_logprobs=False) -> (Tensor, Tensor, Tensor)",
        std::tuple<Tensor, Tensor, Tensor>(TensorArg, OptTensorArg, TensorArg, c10::IntArrayRef,
                                           OptTensorArg, double, double, bool));
RNNT_OP(_duration_lattice_backward,
        "(Tensor grad_scores, Tensor logits, Tensor? duration_logits,"
        " Tensor symbols, int[] arcs, Tensor? boundary, float sigma, float fastemit_lambda,"
        " Tensor scores, Tensor alpha, Tensor norms, bool label_logprobs=False)"
        " -> (Tensor, Tensor)",
        std::tuple<Tensor, Tensor>(TensorArg, TensorArg, OptTensorArg, TensorArg,
                                   c10::IntArrayRef, OptTensorArg, double, double, TensorArg,
                                   TensorArg, TensorArg, bool));

}  // namespace rnnt::ops

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
// The lattice: per-item log-likelihood [B] of logits (and duration logits)
// over the arc kinds `arcs`, flat (label, duration, duration_index) triples
// (label -1: the next symbol; duration_index -1: no duration logit).
// Its gradient scales the symbol arcs' label gradient by
// 1 + fastemit_lambda (FastEmit); the value does not depend on it.
RNNT_OP(_duration_lattice,
        "(Tensor logits, Tensor? duration_logits, Tensor symbols, int[] arcs,"
        " Tensor? boundary=None, float sigma=0.0, float fastemit_lambda=0.0) -> Tensor",
        Tensor(TensorArg, OptTensorArg, TensorArg, c10::IntArrayRef, OptTensorArg, double,
               double));
// Backend kernels: forward returns (scores [B], alpha [B][T][S+1],
// norms [B][T][S+1][2] = logsumexp of each node's logits and duration
// logits); backward returns the gradients of sum(grad_scores * scores)
// w.r.t. logits and duration_logits (an empty tensor without them).
RNNT_OP(_duration_lattice_forward,
        "(Tensor logits, Tensor? duration_logits, Tensor symbols,"
        " int[] arcs, Tensor? boundary=None, float sigma=0.0, float fastemit_lambda=0.0)"
        " -> (Tensor, Tensor, Tensor)",
        std::tuple<Tensor, Tensor, Tensor>(TensorArg, OptTensorArg, TensorArg, c10::IntArrayRef,
                                           OptTensorArg, double, double));
RNNT_OP(_duration_lattice_backward,
        "(Tensor grad_scores, Tensor logits, Tensor? duration_logits,"
        " Tensor symbols, int[] arcs, Tensor? boundary, float sigma, float fastemit_lambda,"
        " Tensor scores, Tensor alpha, Tensor norms) -> (Tensor, Tensor)",
        std::tuple<Tensor, Tensor>(TensorArg, TensorArg, OptTensorArg, TensorArg,
                                   c10::IntArrayRef, OptTensorArg, double, double, TensorArg,
                                   TensorArg, TensorArg));

}  // namespace rnnt::ops

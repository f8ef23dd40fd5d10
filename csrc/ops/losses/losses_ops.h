// The losses and their px/py constructions (k2 / fast_rnnt 1.2 semantics;
// see rnnt_ops/rnnt_loss.py): schemas, defined in losses_schema.cpp.
// lm [B][S+1][C], am [B][T][C], logits [B][T][S+1][C] or
// [B][T][s_range][C], symbols int64 [B][S].
// rnnt_type: 'regular' | 'modified' | 'constrained'.
#pragma once

#include "common/op.h"

namespace rnnt::ops {

RNNT_SCHEMA(get_rnnt_logprobs,
            "(Tensor lm, Tensor am, Tensor symbols, int termination_symbol,"
            " str rnnt_type=\"regular\", Tensor? boundary=None) -> (Tensor, Tensor)");
RNNT_SCHEMA(get_rnnt_logprobs_smoothed,
            "(Tensor lm, Tensor am, Tensor symbols,"
            " int termination_symbol, float lm_only_scale=0.1, float am_only_scale=0.1,"
            " Tensor? boundary=None, str rnnt_type=\"regular\") -> (Tensor, Tensor)");
RNNT_SCHEMA(get_rnnt_logprobs_joint,
            "(Tensor logits, Tensor symbols, int termination_symbol,"
            " Tensor? boundary=None, str rnnt_type=\"regular\", bool inplace_grad=False)"
            " -> (Tensor, Tensor)");
RNNT_SCHEMA(get_rnnt_logprobs_pruned,
            "(Tensor logits, Tensor symbols, Tensor ranges,"
            " int termination_symbol, Tensor? boundary=None, str rnnt_type=\"regular\","
            " bool use_hat_loss=False, bool inplace_grad=False) -> (Tensor, Tensor)");

// fastemit_lambda (rnnt_loss, rnnt_loss_pruned): FastEmit (loss_tail.h).
// Each loss returns the reduced loss; its _with_grad twin also returns
// (px_grad, py_grad), the occupation probabilities pruning needs.
#define RNNT_LOSS_SCHEMAS(name, args)                   \
  RNNT_SCHEMA(name, "(" args ") -> Tensor");            \
  RNNT_SCHEMA(name##_with_grad, "(" args ") -> (Tensor, Tensor, Tensor)")

RNNT_LOSS_SCHEMAS(rnnt_loss_simple,
                  "Tensor lm, Tensor am, Tensor symbols, int termination_symbol,"
                  " Tensor? boundary=None, str rnnt_type=\"regular\","
                  " float delay_penalty=0.0, str reduction=\"mean\", bool zero_infinity=False");
RNNT_LOSS_SCHEMAS(rnnt_loss_smoothed,
                  "Tensor lm, Tensor am, Tensor symbols, int termination_symbol,"
                  " float lm_only_scale=0.1, float am_only_scale=0.1,"
                  " Tensor? boundary=None, str rnnt_type=\"regular\","
                  " float delay_penalty=0.0, str reduction=\"mean\", bool zero_infinity=False");
// rnnt_loss is also called from C++ (the TDT loss's omega term), hence
// its typed call.
#define RNNT_LOSS_ARGS                                                                  \
  "Tensor logits, Tensor symbols, int termination_symbol,"                              \
  " Tensor? boundary=None, str rnnt_type=\"regular\","                                  \
  " float delay_penalty=0.0, str reduction=\"mean\", bool zero_infinity=False,"         \
  " bool inplace_grad=False, float fastemit_lambda=0.0"
RNNT_OP(rnnt_loss, "(" RNNT_LOSS_ARGS ") -> Tensor",
        Tensor(TensorArg, TensorArg, int64_t, OptTensorArg, c10::string_view, double,
               c10::string_view, bool, bool, double));
RNNT_SCHEMA(rnnt_loss_with_grad, "(" RNNT_LOSS_ARGS ") -> (Tensor, Tensor, Tensor)");
#undef RNNT_LOSS_ARGS
RNNT_LOSS_SCHEMAS(rnnt_loss_pruned,
                  "Tensor logits, Tensor symbols, Tensor ranges, int termination_symbol,"
                  " Tensor? boundary=None, str rnnt_type=\"regular\","
                  " float delay_penalty=0.0, str reduction=\"mean\","
                  " bool use_hat_loss=False, bool zero_infinity=False, bool inplace_grad=False,"
                  " float fastemit_lambda=0.0");
#undef RNNT_LOSS_SCHEMAS
// FastEmit's gradient scaling of px (loss_tail.h), for compositions outside
// these losses (rnnt_ops.functional's unfused and clamped paths).
RNNT_SCHEMA(_scale_emission_grad, "(Tensor px, float fastemit_lambda) -> Tensor");

}  // namespace rnnt::ops

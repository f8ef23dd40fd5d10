// The simple (and smoothed) loss's fused lattice ops, behind
// get_rnnt_logprobs(_smoothed) in eager mode: schemas, defined in
// simple_lattice_schema.cpp, and typed calls.
#pragma once

#include <tuple>

#include "common/op.h"

namespace rnnt::ops {

// The simple joiner's px/py from lm [B][S+1][C] and am [B][T][C], with the
// smoothed loss's weights and offsets (simple_lattice_math.h): the row
// maxima, the shifted exponentials, M by one batched GEMM, then
// _simple_lattice; differentiable (simple_lattice_autograd.cpp) in lm, am
// and the offsets. lm_max [B][S+1][1], lm_exp = exp(lm - lm_max), am_max
// and am_exp, if the caller has them (detached), are reused, not recomputed.
RNNT_OP(_simple_lattice_logprobs,
        "(Tensor lm, Tensor am, Tensor symbols, int termination_symbol, str rnnt_type,"
        " Tensor? boundary, Tensor? symbol_offset=None, Tensor? blank_offset=None,"
        " Tensor? frame_offset=None, float w_am=1., float w_lm=1., float w_norm=1.,"
        " Tensor? lm_max=None, Tensor? lm_exp=None, Tensor? am_max=None,"
        " Tensor? am_exp=None) -> (Tensor, Tensor)",
        std::tuple<Tensor, Tensor>(TensorArg, TensorArg, TensorArg, int64_t, c10::string_view,
                                   OptTensorArg, OptTensorArg, OptTensorArg, OptTensorArg,
                                   double, double, double, OptTensorArg, OptTensorArg,
                                   OptTensorArg, OptTensorArg));

// px/py from lm [B][S+1][C], am [B][T][C], their row maxima lm_max
// [B][S+1][1], am_max [B][T][1] and M = exp(lm - lm_max) @ exp(am -
// am_max)^T [B][S+1][T], with the smoothed loss's weights and offsets
// (simple_lattice_math.h).
RNNT_OP(_simple_lattice,
        "(Tensor lm, Tensor am, Tensor lm_max, Tensor am_max, Tensor M,"
        " Tensor symbols, int termination_symbol, str rnnt_type, Tensor? boundary,"
        " Tensor? symbol_offset=None, Tensor? blank_offset=None, Tensor? frame_offset=None,"
        " float w_am=1., float w_lm=1., float w_norm=1.) -> (Tensor, Tensor)",
        std::tuple<Tensor, Tensor>(TensorArg, TensorArg, TensorArg, TensorArg, TensorArg,
                                   TensorArg, int64_t, c10::string_view, OptTensorArg,
                                   OptTensorArg, OptTensorArg, OptTensorArg, double, double,
                                   double));
// The backward's W = d loss / d M.
RNNT_OP(_simple_lattice_backward,
        "(Tensor grad_px, Tensor grad_py, Tensor M, str rnnt_type,"
        " Tensor? boundary, float w_norm=1.) -> Tensor",
        Tensor(TensorArg, TensorArg, TensorArg, c10::string_view, OptTensorArg, double));
// The gather terms of the backward, added into grad_lm and grad_am; returns
// the gradients of the offsets.
RNNT_OP(_simple_lattice_gather_grads_,
        "(Tensor(a!) grad_lm, Tensor(b!) grad_am, Tensor grad_px,"
        " Tensor grad_py, Tensor symbols, int termination_symbol, str rnnt_type,"
        " Tensor? boundary, float w_am=1., float w_lm=1.) -> (Tensor, Tensor, Tensor)",
        std::tuple<Tensor, Tensor, Tensor>(TensorArg, TensorArg, TensorArg, TensorArg,
                                           TensorArg, int64_t, c10::string_view, OptTensorArg,
                                           double, double));

}  // namespace rnnt::ops

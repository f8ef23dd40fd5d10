// The shared tail of every loss op, from (px, py) to the reduced loss: the
// optional delay penalty or FastEmit, the lattice recursion
// (rnnt::mutual_information, with its own autograd) and the reduction.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <tuple>

#include "common/checks.h"
#include "common/op_names.h"
#include "recursion/recursion_ops.h"

namespace rnnt {

using LossWithGrad = std::tuple<at::Tensor, at::Tensor, at::Tensor>;

// FastEmit-like delay penalty (k2): px[b, s, t] += delay_penalty *
// ((t_end[b] - 1) / 2 - t), rewarding early emission; only when > 0.
inline at::Tensor add_delay_penalty(const at::Tensor& px, double delay_penalty,
                             RnntType type,
                             const c10::optional<at::Tensor>& boundary) {
  if (delay_penalty <= 0.0) return px;
  const c10::SymInt columns = px.sym_size(2);
  const c10::SymInt T = type == RnntType::Regular ? columns - 1 : columns;
  const auto opts = px.options();
  at::Tensor offset;  // [B][1][1] or scalar: (t_end - 1) / 2
  if (boundary.has_value() && boundary->defined()) {
    offset = ((boundary->select(1, 3).to(px.scalar_type()) - 1) / 2).view({-1, 1, 1});
  } else {
    offset = (at::scalar_tensor(c10::Scalar(T), opts) - 1) / 2;
  }
  const at::Tensor frames = at::arange(c10::Scalar(columns), opts).view({1, 1, -1});
  return px + (offset - frames) * delay_penalty;
}

// FastEmit (Yu et al. 2021) as NeMo and warp-rnnt apply it: px unchanged
// in value, its gradient (the symbol-emission arcs') scaled by
// 1 + fastemit_lambda. Entries that are -inf (missing arcs) keep gradient 1:
// px - px.detach() is 0 only where px is finite.
inline at::Tensor scale_emission_grad(const at::Tensor& px, double fastemit_lambda) {
  if (fastemit_lambda == 0.0) return px;
  const at::Tensor scaled = px + (px - px.detach()) * fastemit_lambda;
  return at::where(at::isfinite(px.detach()), scaled, px);
}

// FastEmit's reported per-item loss, (1 + lambda) * loss as NeMo and
// warp-rnnt report it; its gradient stays the scaled lattice's.
inline at::Tensor fastemit_reported(const at::Tensor& losses, double fastemit_lambda) {
  if (fastemit_lambda == 0.0) return losses;
  return losses + losses.detach() * fastemit_lambda;
}

inline void check_fastemit(double fastemit_lambda, double delay_penalty, const char* op) {
  TORCH_CHECK_VALUE(fastemit_lambda >= 0.0 && std::isfinite(fastemit_lambda), op,
                    ": fastemit_lambda must be finite and >= 0, got ", fastemit_lambda);
  TORCH_CHECK_VALUE(fastemit_lambda == 0.0 || delay_penalty == 0.0, op,
                    ": fastemit_lambda and delay_penalty are two emission regularisers; use "
                    "one, got fastemit_lambda=", fastemit_lambda,
                    ", delay_penalty=", delay_penalty);
}

// The reduction of per-item losses [B]; an item without any alignment has
// loss inf (zero gradients), which zero_infinity turns into 0. Shared by
// every loss op.
inline at::Tensor reduce(const at::Tensor& losses, Reduction reduction, bool zero_infinity) {
  const at::Tensor kept =
      zero_infinity ? at::where(losses == std::numeric_limits<double>::infinity(),
                                at::zeros_like(losses), losses)
                    : losses;
  switch (reduction) {
    case Reduction::None: return kept;
    case Reduction::Mean: return kept.mean();
    case Reduction::Sum: return kept.sum();
  }
  TORCH_INTERNAL_ASSERT(false, "unknown reduction");
}

// The regularisers and the reduction a loss call asks for.
struct LossTail {
  RnntType type;
  double delay_penalty;
  double fastemit_lambda;
  Reduction reduction;
  bool zero_infinity;
};

// Shared tail of every lattice loss: penalty or FastEmit, recursion,
// reduction. Returns (loss, px_grad, py_grad), the grads only with
// return_grad.
inline LossWithGrad loss_from_logprobs(std::tuple<at::Tensor, at::Tensor> logprobs,
                                       const c10::optional<at::Tensor>& boundary,
                                       const LossTail& tail, bool return_grad) {
  const at::Tensor px = scale_emission_grad(
      add_delay_penalty(std::get<0>(logprobs), tail.delay_penalty, tail.type, boundary),
      tail.fastemit_lambda);
  const at::Tensor& py = std::get<1>(logprobs);
  at::Tensor scores, px_grad, py_grad;
  if (return_grad) {
    std::tie(scores, px_grad, py_grad) =
        ops::mutual_information_with_grad::call(px, py, boundary);
  } else {
    scores = ops::mutual_information::call(px, py, boundary);
  }
  const at::Tensor losses = fastemit_reported(-scores, tail.fastemit_lambda);
  return {reduce(losses, tail.reduction, tail.zero_infinity), px_grad, py_grad};
}

// What every loss entry point sets up before its px/py: int32 symbols and
// boundary as int64, the public op's name for errors (and the scope that
// makes the inner ops use it), and the parsed options of its tail.
struct LossCall {
  LossCall(const char* own_name, const at::Tensor& symbols_in,
           const c10::optional<at::Tensor>& boundary_in, c10::string_view rnnt_type,
           double delay_penalty, double fastemit_lambda, c10::string_view reduction,
           bool zero_infinity)
      : op(op_name(own_name)),
        scope(op),
        symbols(int64_index(symbols_in)),
        boundary(int64_index(boundary_in)),
        tail{parse_rnnt_type(rnnt_type, op), delay_penalty, fastemit_lambda,
             parse_reduction(reduction, op), zero_infinity} {
    check_fastemit(fastemit_lambda, delay_penalty, op);
  }

  LossWithGrad finish(std::tuple<at::Tensor, at::Tensor> logprobs, bool return_grad) const {
    return loss_from_logprobs(std::move(logprobs), boundary, tail, return_grad);
  }

  const char* const op;
  const OpNameScope scope;
  const at::Tensor symbols;
  const c10::optional<at::Tensor> boundary;
  const LossTail tail;
};

}  // namespace rnnt

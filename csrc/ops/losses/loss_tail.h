// The shared tail of every loss op, from (px, py) to the reduced loss: the
// optional delay penalty, the lattice recursion (rnnt::mutual_information,
// with its own autograd) and the reduction.
#pragma once

#include <ATen/ATen.h>

#include <limits>
#include <tuple>

#include "common/checks.h"
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

// Per-item loss is -score; an item without any alignment has score -inf
// (loss inf, zero gradients), which zero_infinity turns into loss 0.
inline at::Tensor reduce(const at::Tensor& scores, Reduction reduction, bool zero_infinity) {
  const at::Tensor losses =
      zero_infinity ? at::where(scores == -std::numeric_limits<double>::infinity(),
                                at::zeros_like(scores), -scores)
                    : -scores;
  switch (reduction) {
    case Reduction::None: return losses;
    case Reduction::Mean: return losses.mean();
    case Reduction::Sum: return losses.sum();
  }
  TORCH_INTERNAL_ASSERT(false, "unknown reduction");
}

// Shared tail of every loss: penalty, recursion, reduction.
inline LossWithGrad loss_from_logprobs(std::tuple<at::Tensor, at::Tensor> logprobs,
                                const c10::optional<at::Tensor>& boundary,
                                RnntType type, double delay_penalty,
                                Reduction reduction, bool zero_infinity,
                                bool return_grad) {
  const at::Tensor px = add_delay_penalty(std::get<0>(logprobs), delay_penalty, type, boundary);
  const at::Tensor& py = std::get<1>(logprobs);
  if (return_grad) {
    auto [scores, px_grad, py_grad] = ops::mutual_information_with_grad::call(px, py, boundary);
    return {reduce(scores, reduction, zero_infinity), px_grad, py_grad};
  }
  return {reduce(ops::mutual_information::call(px, py, boundary), reduction, zero_infinity),
          at::Tensor(), at::Tensor()};
}

}  // namespace rnnt

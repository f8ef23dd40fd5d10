// px/py constructions (simple_logprobs.cpp: from lm and am; logprobs.cpp:
// from logits), called by the loss ops (losses.cpp).
#pragma once

#include <ATen/ATen.h>

#include "common/checks.h"
#include "simple_lattice/simple_lattice_math.h"

namespace rnnt {

// The smallest normal number of x's dtype (float32, else float64): added to
// a sum of exponentials that may underflow to 0 before its log, as the
// fused kernels add tiny_value (simple_lattice_math.h).
inline double tiny_of(const at::Tensor& x) {
  return x.scalar_type() == at::kFloat ? tiny_value<float>() : tiny_value<double>();
}

// The smoothed loss's weights (k2): combined = 1 - lm_only_scale -
// am_only_scale on the joint normalisation, lm and am on the LM-only and
// AM-only ones, where an exact-zero scale becomes 1e-20 so that 0 * -inf
// never makes a NaN.
struct SmoothingScales {
  double combined, lm, am;
};

inline SmoothingScales smoothing_scales(double lm_only_scale, double am_only_scale) {
  return {1.0 - lm_only_scale - am_only_scale, lm_only_scale == 0.0 ? 1e-20 : lm_only_scale,
          am_only_scale == 0.0 ? 1e-20 : am_only_scale};
}

// Regular: appends the -inf column T (and masks column t_end per item);
// constrained: adds py[:, 1:, :] to px.
std::tuple<at::Tensor, at::Tensor> finish_logprobs(
    at::Tensor px, const at::Tensor& py, RnntType type,
    const c10::optional<at::Tensor>& boundary);

std::tuple<at::Tensor, at::Tensor> get_rnnt_logprobs(
    const at::Tensor& lm, const at::Tensor& am, const at::Tensor& symbols,
    int64_t termination_symbol, c10::string_view rnnt_type,
    const c10::optional<at::Tensor>& boundary);

std::tuple<at::Tensor, at::Tensor> get_rnnt_logprobs_smoothed(
    const at::Tensor& lm, const at::Tensor& am, const at::Tensor& symbols,
    int64_t termination_symbol, double lm_only_scale, double am_only_scale,
    const c10::optional<at::Tensor>& boundary, c10::string_view rnnt_type);

std::tuple<at::Tensor, at::Tensor> get_rnnt_logprobs_joint(
    const at::Tensor& logits, const at::Tensor& symbols,
    int64_t termination_symbol, const c10::optional<at::Tensor>& boundary,
    c10::string_view rnnt_type, bool inplace_grad);

std::tuple<at::Tensor, at::Tensor> get_rnnt_logprobs_pruned(
    const at::Tensor& logits, const at::Tensor& symbols,
    const at::Tensor& ranges, int64_t termination_symbol,
    const c10::optional<at::Tensor>& boundary, c10::string_view rnnt_type,
    bool use_hat_loss, bool inplace_grad);

}  // namespace rnnt

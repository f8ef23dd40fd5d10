// CPU kernel of rnnt::_prune_ranges (math in prune_ranges_math.h): batch
// items in parallel; per item, the best window of every frame, then one
// backward sweep that settles the starts, then the ranges.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "prune_ranges_checks.h"

namespace rnnt {
namespace {

at::Tensor prune_ranges_cpu(const at::Tensor& px_grad, const at::Tensor& py_grad,
                            const c10::optional<at::Tensor>& boundary, int64_t s_range,
                            int64_t max_step) {
  const PruneInputs in = check_prune_inputs(px_grad, py_grad, boundary, s_range, max_step);
  const PruneDims d = in.dims;
  at::Tensor ranges = at::empty({in.B, d.T, d.R}, py_grad.options().dtype(at::kLong));
  if (ranges.numel() == 0) return ranges;
  const int64_t px_cols = in.px_grad.size(2);
  const int64_t* bounds = data_or_null<int64_t>(in.boundary);
  int64_t* out = ranges.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(in.py_grad.scalar_type(), "rnnt_prune_ranges_cpu", [&] {
    const scalar_t* px = in.px_grad.data_ptr<scalar_t>();
    const scalar_t* py = in.py_grad.data_ptr<scalar_t>();
    at::parallel_for(0, in.B, 1, [&](int64_t first, int64_t last) {
      for (int64_t b = first; b < last; ++b) {
        const SettleParams p = settle_params(bounds, b, d);
        prune_item_serial(px + b * d.S * px_cols, px_cols, py + b * (d.S + 1) * d.T, p, d,
                          out + b * d.T * d.R);
      }
    });
  });
  return ranges;
}

}  // namespace

TORCH_LIBRARY_IMPL(rnnt, CPU, m) {
  m.impl("_prune_ranges", &prune_ranges_cpu);
}

}  // namespace rnnt

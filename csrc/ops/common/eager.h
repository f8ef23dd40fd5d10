// Whether a call runs eagerly on real tensors, and so may take the fused
// kernels and read values on the host; traced calls (fake or functional
// tensors, a dispatch mode, the TorchScript tracer) keep the ATen
// compositions and the checking ops in their graphs.
#pragma once

#include <ATen/ATen.h>
#include <ATen/TensorSubclassLikeUtils.h>
#include <torch/csrc/jit/frontend/tracer.h>

namespace rnnt {

// Whether `t` is a real tensor run eagerly: not fake or functional, no
// dispatch mode, no TorchScript tracer recording ops.
inline bool is_eager(const at::Tensor& t) {
  return !at::isTensorSubclassLike(t) && !torch::jit::tracer::isTracing();
}

// Whether an optional boundary lets a call take its fused eager kernels:
// absent, or eager (and on `device`, where the kernel reads it there).
inline bool is_eager_boundary(const c10::optional<at::Tensor>& boundary,
                              c10::optional<c10::Device> device = c10::nullopt) {
  if (!boundary.has_value() || !boundary->defined()) return true;
  return is_eager(*boundary) && (!device.has_value() || boundary->device() == *device);
}

}  // namespace rnnt

// The only TORCH_LIBRARY block of the project: every op schema of the `rnnt`
// namespace. Kernels are registered per dispatch key in the other files.
#include <torch/library.h>

TORCH_LIBRARY(rnnt, m) {
  // The lattice recursion (see rnnt_ops/mutual_information.py for the math).
  // Returns the total log-score per batch item, [B].
  m.def("mutual_information(Tensor px, Tensor py, Tensor? boundary=None) -> Tensor");
  // Same, plus the gradients of the summed scores w.r.t. px and py
  // (occupation probabilities), computed in the same call.
  m.def(
      "mutual_information_with_grad(Tensor px, Tensor py, Tensor? boundary=None)"
      " -> (Tensor, Tensor, Tensor)");
  // Backend kernels behind the two ops above: forward returns (scores, p)
  // with p the [B][S+1][T+1] forward table; backward returns the gradients of
  // sum(scores) w.r.t. (px, py).
  m.def(
      "_mutual_information_forward(Tensor px, Tensor py, Tensor? boundary=None)"
      " -> (Tensor, Tensor)");
  m.def(
      "_mutual_information_backward(Tensor px, Tensor py, Tensor? boundary,"
      " Tensor p) -> (Tensor, Tensor)");
}

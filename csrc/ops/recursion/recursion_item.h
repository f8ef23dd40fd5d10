// Serial recursion over one batch item, built from the node functions of
// rnnt_math.h: the reference the vectorised CPU sweeps
// (recursion_item_simd.h) and the CUDA kernels are tested against, and the
// kernel of the ONNX Runtime custom ops.
#pragma once

#include <algorithm>

#include "rnnt_math.h"

namespace rnnt {

// Fills p ([S+1][T+1]; -inf outside the box) and returns p[s_end, t_end].
template <typename scalar_t>
scalar_t forward_item(const scalar_t* px, const scalar_t* py, scalar_t* p,
                      LatticeDims d, Box box) {
  std::fill(p, p + (d.S + 1) * d.p_cols(), neg_inf<scalar_t>());
  for (int64_t s = box.s_begin; s <= box.s_end; ++s) {
    for (int64_t t = box.t_begin; t <= box.t_end; ++t) {
      p[s * d.p_cols() + t] = forward_node(px, py, p, d, box, s, t);
    }
  }
  return p[box.s_end * d.p_cols() + box.t_end];
}

// Gradients of p[s_end, t_end] w.r.t. px and py (occupation probabilities),
// zero outside the box and for an item with no path (total score -inf):
// the arc shares of every node (split_node), then the backward recursion
// from the last node (backward_node). g is a [S+1][T+1] workspace.
template <typename scalar_t>
void backward_item(const scalar_t* px, const scalar_t* py, const scalar_t* p,
                   scalar_t* g, scalar_t* px_grad, scalar_t* py_grad,
                   LatticeDims d, Box box) {
  std::fill(px_grad, px_grad + d.S * d.px_cols(), scalar_t(0));
  std::fill(py_grad, py_grad + (d.S + 1) * d.py_cols(), scalar_t(0));
  if (p[box.s_end * d.p_cols() + box.t_end] == neg_inf<scalar_t>()) return;
  for (int64_t s = box.s_begin; s <= box.s_end; ++s) {
    for (int64_t t = box.t_begin; t <= box.t_end; ++t) {
      split_node(px, py, p, px_grad, py_grad, d, box, s, t);
    }
  }
  for (int64_t s = box.s_end; s >= box.s_begin; --s) {
    for (int64_t t = box.t_end; t >= box.t_begin; --t) {
      backward_node(px_grad, py_grad, g, d, box, s, t);
    }
  }
}

}  // namespace rnnt

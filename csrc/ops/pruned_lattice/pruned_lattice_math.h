// The pruned loss's lattice from its kept log-probs (the fused kernels of
// pruned_lattice_cpu.cpp and csrc/cuda/pruned_lattice_cuda.cu; plain C++,
// no ATen, device code too). Frame t keeps the label positions
// ranges[t][r], r < R, with log-probs px_kept[t][r] (emit the next symbol)
// and py_kept[t][r] (blank); every other lattice arc is -inf:
//
//   py[s][t] = py_kept[t][r]  where ranges[t][r] == s, else -inf   [S+1][T]
//   px[s][t] = px_kept[t][r]  likewise (s < S)                     [S][T(+1)]
//
// then, as for every loss, regular RNN-T appends the -inf column T and
// masks column t_end, and constrained adds py[s+1][t] to px[s][t]. Where a
// position is kept twice in a frame, the last r wins (as a scatter on the
// CPU). The backward gathers the lattice gradients back to the kept entries
// (SimpleLatticeGrads gives the per-cell gradient of each arc's log-prob).
#pragma once

#include "simple_lattice/simple_lattice_math.h"

namespace rnnt {

template <typename scalar_t>
struct PrunedLatticeBatch {
  const scalar_t *px_kept, *py_kept;  // [B][T][R]
  const int64_t* ranges;              // [B][T][R], each in [0, S]
  const int64_t* boundary;            // [B][4], or null
  int64_t B, R;
  SimpleLatticeDims d;  // C and blank unused

  // The last r whose range is s at frame t of item b, or -1 (R is small:
  // s_range, about 5).
  RNNT_HOST_DEVICE int64_t kept_at(int64_t b, int64_t s, int64_t t) const {
    const int64_t* row = ranges + (b * d.T + t) * R;
    for (int64_t r = R - 1; r >= 0; --r) {
      if (row[r] == s) return r;
    }
    return -1;
  }
  RNNT_HOST_DEVICE scalar_t py(int64_t b, int64_t s, int64_t t) const {
    const int64_t r = kept_at(b, s, t);
    return r < 0 ? neg_inf<scalar_t>() : py_kept[(b * d.T + t) * R + r];
  }
  RNNT_HOST_DEVICE scalar_t px(int64_t b, int64_t s, int64_t t) const {
    if (px_masked(d, t, masked_frame(boundary, b, d.T))) return neg_inf<scalar_t>();
    const int64_t r = kept_at(b, s, t);
    const scalar_t v = r < 0 ? neg_inf<scalar_t>() : px_kept[(b * d.T + t) * R + r];
    return d.constrained ? v + py(b, s + 1, t) : v;
  }

  // Cells (b, s, t), s <= S, t < px_cols, as SimpleLatticeBatch::write_cell.
  RNNT_HOST_DEVICE int64_t cells() const { return B * (d.S + 1) * d.px_cols(); }
  RNNT_HOST_DEVICE void write_cell(int64_t i, scalar_t* px_out, scalar_t* py_out) const {
    const int64_t t = i % d.px_cols(), row = i / d.px_cols();
    const int64_t b = row / (d.S + 1), s = row % (d.S + 1);
    if (t < d.T) py_out[row * d.T + t] = py(b, s, t);
    if (s < d.S) px_out[(b * d.S + s) * d.px_cols() + t] = px(b, s, t);
  }
};

// Kept entry i = (b, t, r) of the backward: the gradients of its two
// log-probs, read at its lattice position (0 for position S's px).
template <typename scalar_t>
RNNT_HOST_DEVICE void pruned_kept_grads(const SimpleGradBatch<scalar_t>& grads,
                                        const int64_t* ranges, int64_t R, int64_t i,
                                        scalar_t* grad_px_kept, scalar_t* grad_py_kept) {
  const SimpleLatticeDims& d = grads.d;
  const int64_t b = i / (d.T * R), t = (i / R) % d.T, s = ranges[i];
  const SimpleLatticeGrads<scalar_t> g = grads.item(b);
  grad_py_kept[i] = g.blank(s, t);
  grad_px_kept[i] = s < d.S ? g.symbol(s, t) : scalar_t(0);
}

}  // namespace rnnt

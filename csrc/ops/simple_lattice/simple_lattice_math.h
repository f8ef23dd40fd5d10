// Per-cell and per-row math of the simple loss's lattice (joiner am + lm), for
// the fused kernels behind get_rnnt_logprobs in eager mode
// (simple_lattice_cpu.cpp, csrc/cuda/simple_lattice_cuda.cu; the autograd
// glue is simple_lattice_autograd.cpp). Plain C++, no ATen: it compiles as device
// code too. k2's definitions, with E_lm = exp(lm - lm_max) and
// E_am = exp(am - am_max) (row maxima, treated as constants) and
// M = E_lm @ E_am^T, so that no [B][T][S+1][C] tensor exists:
//
//   norm[s][t] = log(M[s][t] + tiny) + lm_max[s] + am_max[t]
//   py[s][t]   = am[t][blank] + lm[s][blank] - norm[s][t]          [S+1][T]
//   px[s][t]   = am[t][y_s] + lm[s][y_s] - norm[s][t]              [S][T(+1)]
//
// regular: px has the extra column T and column t_end (per item) at -inf;
// constrained: px[s][t] += py[s+1][t] (emitting also consumes the frame).
//
// Backward, for upstream gradients gx (of px) and gy (of py): with
// gx0 = gx where px is not a constant -inf, else 0, and
// gy_eff[s][t] = gy[s][t] + (constrained ? gx[s-1][t] : 0),
//
//   W[s][t] = -(gx0[s][t] + gy_eff[s][t]) / (M[s][t] + tiny)    (d norm)
//   d lm = E_lm * (W @ E_am) + scatter of gx0 rows into y_s and of gy_eff into blank
//   d am = E_am * (W^T @ E_lm) + the same scatter along frames.
//
// The smoothed loss (k2's rnnt_loss_smoothed) mixes this with an LM-only and
// an AM-only normalisation. Per cell that is a weighted sum of the same
// terms plus offsets per row and per frame, which the caller computes from
// the unigram and the LM-only / AM-only normalisers (losses/simple_logprobs.cpp;
// as computed, the terms and offsets all leave out the row maxima, which
// cancel: see mix below):
//
//   px[s][t] = w_am am[t][y_s] + w_lm lm[s][y_s] - w_norm norm[s][t] + o_sym[s] + o_frame[t]
//   py[s][t] = w_am am[t][blank] + w_lm lm[s][blank] - w_norm norm[s][t] + o_blank[s] + o_frame[t]
//
// (the simple loss: weights 1, no offsets). The backward scales the terms
// above by the weights and also returns d o_sym[s] = sum_t gx0[s][t],
// d o_blank[s] = sum_t gy_eff[s][t], d o_frame[t] = sum_s (gx0 + gy_eff)[s][t].
//
// Every output element is computed by one thread in a fixed order, so the
// CPU and CUDA kernels agree up to the rounding of log (and the GEMMs).
#pragma once

#include <cstdint>
#include <limits>

#include "recursion/rnnt_math.h"

namespace rnnt {

// Keeps log(M + tiny) finite where every exp(lm + am) underflows.
template <typename scalar_t>
RNNT_HOST_DEVICE scalar_t tiny_value() {
  return std::numeric_limits<scalar_t>::min();
}

struct SimpleLatticeDims {
  int64_t S, T, C;
  int64_t blank;
  bool regular;      // px has T+1 columns, -inf at T and at t_end
  bool constrained;  // px[s][t] += py[s+1][t]
  double w_am = 1, w_lm = 1, w_norm = 1;  // the smoothed loss's weights
  RNNT_HOST_DEVICE int64_t px_cols() const { return regular ? T + 1 : T; }
};

// Whether px[s][t] is a constant -inf for an item whose boundary ends at
// frame t_end: regular RNN-T's column T and column t_end (no symbol on the
// one-past-the-last frame).
RNNT_HOST_DEVICE bool px_masked(const SimpleLatticeDims& d, int64_t t, int64_t t_end) {
  return d.regular && (t >= d.T || t == t_end);
}

// The smoothed loss's offsets of one item (or, in the batch structs, of the
// whole batch): null where there are none (0).
template <typename scalar_t>
struct LatticeOffsets {
  const scalar_t* symbol;  // [S]: added to px[s][.]
  const scalar_t* blank;   // [S+1]: added to py[s][.]
  const scalar_t* frame;   // [T]: added to px[.][t] and py[.][t]
  RNNT_HOST_DEVICE LatticeOffsets of_item(int64_t b, int64_t S, int64_t T) const {
    return {symbol ? symbol + b * S : nullptr, blank ? blank + b * (S + 1) : nullptr,
            frame ? frame + b * T : nullptr};
  }
};

// One batch item's inputs, each pointer at the item's first element.
template <typename scalar_t>
struct SimpleLatticeItem {
  const scalar_t* lm;      // [S+1][C]
  const scalar_t* am;      // [T][C]
  const scalar_t* lm_max;  // [S+1]
  const scalar_t* am_max;  // [T]
  const scalar_t* M;       // [S+1][T]
  const int64_t* symbols;  // [S], each in [0, C)
  int64_t t_end;           // regular: px column t_end is -inf (T without a boundary)
  LatticeOffsets<scalar_t> offsets;
  SimpleLatticeDims d;

  // w_am am[t][c] + w_lm lm[s][c] - w_norm norm[s][t] (+ the frame offset),
  // evaluated on the shifted logits, as
  //   w_am (am[t][c] - am_max[t]) + w_lm (lm[s][c] - lm_max[s]) - w_norm log(M + tiny)
  // (plus the offsets): the maxima cancel exactly instead of in rounding,
  // so huge logits lose no precision. That drops
  // (w_am - w_norm) am_max[t] + (w_lm - w_norm) lm_max[s], zero for the
  // simple loss; the smoothed loss's offsets leave those maxima out too.
  RNNT_HOST_DEVICE scalar_t mix(int64_t s, int64_t t, int64_t c) const {
    const scalar_t v = static_cast<scalar_t>(d.w_am) * (am[t * d.C + c] - am_max[t]) +
                       static_cast<scalar_t>(d.w_lm) * (lm[s * d.C + c] - lm_max[s]) -
                       static_cast<scalar_t>(d.w_norm) * log(M[s * d.T + t] + tiny_value<scalar_t>());
    return offsets.frame ? v + offsets.frame[t] : v;
  }
  RNNT_HOST_DEVICE scalar_t py(int64_t s, int64_t t) const {
    const scalar_t v = mix(s, t, d.blank);
    return offsets.blank ? v + offsets.blank[s] : v;
  }
  RNNT_HOST_DEVICE scalar_t px(int64_t s, int64_t t) const {
    if (px_masked(d, t, t_end)) return neg_inf<scalar_t>();
    scalar_t v = mix(s, t, symbols[s]);
    if (offsets.symbol) v += offsets.symbol[s];
    return d.constrained ? v + py(s + 1, t) : v;
  }
};

// Upstream gradients of one item and the backward's per-cell quantities.
template <typename scalar_t>
struct SimpleLatticeGrads {
  const scalar_t* gx;  // [S][px_cols]
  const scalar_t* gy;  // [S+1][T]
  int64_t t_end;
  SimpleLatticeDims d;

  // d loss / d (am[t][y_s] + lm[s][y_s]): 0 where px is a constant.
  RNNT_HOST_DEVICE scalar_t symbol(int64_t s, int64_t t) const {
    if (px_masked(d, t, t_end)) return scalar_t(0);
    return gx[s * d.px_cols() + t];
  }
  // d loss / d (am[t][blank] + lm[s][blank]).
  RNNT_HOST_DEVICE scalar_t blank(int64_t s, int64_t t) const {
    const scalar_t g = gy[s * d.T + t];
    return d.constrained && s >= 1 ? g + gx[(s - 1) * d.px_cols() + t] : g;
  }
  // W[s][t] = d loss / d M[s][t], t < T.
  RNNT_HOST_DEVICE scalar_t d_M(int64_t s, int64_t t, scalar_t m) const {
    const scalar_t g = s < d.S ? symbol(s, t) + blank(s, t) : blank(s, t);
    return -static_cast<scalar_t>(d.w_norm) * g / (m + tiny_value<scalar_t>());
  }
  // The gather terms of d am[t][.], added in place to the row, s ascending;
  // returns d o_frame[t].
  RNNT_HOST_DEVICE scalar_t add_to_am_row(scalar_t* row, const int64_t* symbols,
                                          int64_t t) const {
    const scalar_t w = static_cast<scalar_t>(d.w_am);
    scalar_t symbol_sum = 0, blank_sum = 0;
    for (int64_t s = 0; s <= d.S; ++s) {
      if (s < d.S) {
        const scalar_t g = symbol(s, t);
        row[symbols[s]] += w * g;
        symbol_sum += g;
      }
      blank_sum += blank(s, t);
    }
    row[d.blank] += w * blank_sum;
    return symbol_sum + blank_sum;
  }
  // The gather terms of d lm[s][.], t ascending; returns d o_sym[s] (0 for
  // s = S) and d o_blank[s].
  RNNT_HOST_DEVICE void add_to_lm_row(scalar_t* row, const int64_t* symbols, int64_t s,
                                      scalar_t* symbol_sum, scalar_t* blank_sum) const {
    const scalar_t w = static_cast<scalar_t>(d.w_lm);
    *symbol_sum = 0;
    *blank_sum = 0;
    for (int64_t t = 0; t < d.T; ++t) {
      if (s < d.S) *symbol_sum += symbol(s, t);
      *blank_sum += blank(s, t);
    }
    if (s < d.S) row[symbols[s]] += w * *symbol_sum;
    row[d.blank] += w * *blank_sum;
  }
};

// Frame whose px column a regular item masks: t_end, or T without a
// boundary ([B][4] rows (s_begin, t_begin, s_end, t_end)).
RNNT_HOST_DEVICE int64_t masked_frame(const int64_t* boundary, int64_t b, int64_t T) {
  return boundary ? boundary[4 * b + 3] : T;
}

// The forward's whole batch (contiguous tensors), item by item.
template <typename scalar_t>
struct SimpleLatticeBatch {
  const scalar_t *lm, *am, *lm_max, *am_max, *M;
  const int64_t* symbols;
  const int64_t* boundary;  // null without one
  LatticeOffsets<scalar_t> offsets;
  int64_t B;
  SimpleLatticeDims d;

  RNNT_HOST_DEVICE SimpleLatticeItem<scalar_t> item(int64_t b) const {
    return {lm + b * (d.S + 1) * d.C, am + b * d.T * d.C, lm_max + b * (d.S + 1),
            am_max + b * d.T, M + b * (d.S + 1) * d.T, symbols + b * d.S,
            masked_frame(boundary, b, d.T), offsets.of_item(b, d.S, d.T), d};
  }
  // Cells (b, s, t) with s <= S, t < px_cols (>= T), row = b * (S+1) + s:
  // each writes py[b][s][t] (t < T) and px[b][s][t] (s < S). The CUDA
  // kernel takes one cell per thread, the CPU one row per iteration.
  RNNT_HOST_DEVICE int64_t cells() const { return B * (d.S + 1) * d.px_cols(); }
  RNNT_HOST_DEVICE void write_cell(int64_t i, scalar_t* px, scalar_t* py) const {
    const int64_t row = i / d.px_cols();
    write(item(row / (d.S + 1)), row, i % d.px_cols(), px, py);
  }
  RNNT_HOST_DEVICE void write_row(int64_t row, scalar_t* px, scalar_t* py) const {
    const SimpleLatticeItem<scalar_t> it = item(row / (d.S + 1));
    for (int64_t t = 0; t < d.px_cols(); ++t) write(it, row, t, px, py);
  }

 private:
  RNNT_HOST_DEVICE void write(const SimpleLatticeItem<scalar_t>& it, int64_t row, int64_t t,
                              scalar_t* px, scalar_t* py) const {
    const int64_t b = row / (d.S + 1), s = row % (d.S + 1);
    if (t < d.T) py[row * d.T + t] = it.py(s, t);
    if (s < d.S) px[(b * d.S + s) * d.px_cols() + t] = it.px(s, t);
  }
};

// The backward's whole batch: upstream gradients, item by item, and the
// gather pass over rows [0, B*T) of d am, then [B*T, B*T + B*(S+1)) of d lm.
template <typename scalar_t>
struct SimpleGradBatch {
  const scalar_t *gx, *gy;
  const int64_t* symbols;   // null where unused (d M)
  const int64_t* boundary;  // null without one
  int64_t B;
  SimpleLatticeDims d;
  // The gather pass's outputs d o_sym [B][S], d o_blank [B][S+1],
  // d o_frame [B][T] (null where unused).
  scalar_t *d_symbol_offset = nullptr, *d_blank_offset = nullptr, *d_frame_offset = nullptr;

  RNNT_HOST_DEVICE SimpleLatticeGrads<scalar_t> item(int64_t b) const {
    return {gx + b * d.S * d.px_cols(), gy + b * (d.S + 1) * d.T, masked_frame(boundary, b, d.T),
            d};
  }
  // W[b][s][t] = d loss / d M[b][s][t], cell i of [B][S+1][T] (one per CUDA
  // thread), or a whole row b * (S+1) + s (one per CPU iteration).
  RNNT_HOST_DEVICE int64_t cells() const { return B * (d.S + 1) * d.T; }
  RNNT_HOST_DEVICE void write_d_M(int64_t i, const scalar_t* M, scalar_t* W) const {
    const int64_t row = i / d.T;
    W[i] = item(row / (d.S + 1)).d_M(row % (d.S + 1), i % d.T, M[i]);
  }
  RNNT_HOST_DEVICE void write_d_M_row(int64_t row, const scalar_t* M, scalar_t* W) const {
    const SimpleLatticeGrads<scalar_t> g = item(row / (d.S + 1));
    const int64_t s = row % (d.S + 1);
    for (int64_t t = 0; t < d.T; ++t) W[row * d.T + t] = g.d_M(s, t, M[row * d.T + t]);
  }
  RNNT_HOST_DEVICE int64_t gather_rows() const { return B * (d.T + d.S + 1); }
  // The batch item of gather row `row`.
  RNNT_HOST_DEVICE int64_t gather_item(int64_t row) const {
    return row < B * d.T ? row / d.T : (row - B * d.T) / (d.S + 1);
  }
  RNNT_HOST_DEVICE void add_gather_terms(int64_t row, scalar_t* grad_lm, scalar_t* grad_am) const {
    const int64_t am_rows = B * d.T, b = gather_item(row);
    if (row < am_rows) {
      const scalar_t frame = item(b).add_to_am_row(grad_am + row * d.C, symbols + b * d.S,
                                                   row % d.T);
      if (d_frame_offset) d_frame_offset[row] = frame;
    } else {
      const int64_t r = row - am_rows, s = r % (d.S + 1);
      scalar_t symbol_sum, blank_sum;
      item(b).add_to_lm_row(grad_lm + r * d.C, symbols + b * d.S, s, &symbol_sum, &blank_sum);
      if (d_symbol_offset && s < d.S) d_symbol_offset[b * d.S + s] = symbol_sum;
      if (d_blank_offset) d_blank_offset[r] = blank_sum;
    }
  }
};

}  // namespace rnnt

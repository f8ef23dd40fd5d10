// The fused joiner's log-probs and their backward, chunk by chunk, from
// ATen ops and the joiner log-prob ops: one code path for CPU and CUDA. The
// forward packs every box's cells across items (fused_joiner_cells.h), so
// its GEMM count follows the lattice's cells, not B.
//
// Forward, per cell: with z the logits and L = logsumexp(z),
//   symbol = z[sym] - L,  blank = z[blank] - L  (rnnt::_joiner_logprobs);
// HAT (blank = 0): L = logsumexp(z[1:]),
//   symbol = z[sym] - L + log sigmoid(-z[0]),  blank = log sigmoid(z[0]).
// Backward, with upstream gradients gs, gb per cell:
//   dz = gs * onehot(sym) + gb * onehot(blank) - (gs + gb) * softmax(z)
//   (rnnt::_joiner_logprobs_backward_, over the chunk's logits);
// HAT: dz = gs * onehot(sym) - gs * softmax(z[1:]) on the labels, plus
//   gb * sigmoid(-z[0]) - gs * sigmoid(z[0]) on z[0];
// then d bias += sum dz, d weight += dz^T h, d h = dz weight, and d pre
// (through the activation) adds into the rows am[b, t] and lm[b, s].
// With a duration head (TDT), the duration logits y = h @ Wd^T + bd come
// from the same hidden rows: d bd += sum dy, d Wd += dy^T h, d h += dy Wd.
// sparse_backward: only the cells the skip rule keeps (fused_joiner_cells.h),
// packed across items; otherwise every cell, tile by tile.
#include <torch/library.h>

#include <algorithm>
#include <array>

#include "common/op_names.h"
#include "fused_joiner_cells.h"
#include "fused_joiner_chunks.h"
#include "fused_joiner_ops.h"
#include "joiner/joiner_ops.h"

namespace rnnt {
namespace fused_joiner {
namespace {

using OptTensor = c10::optional<at::Tensor>;

struct ChunkLogprobs {
  at::Tensor symbol, blank, log_norm;  // [n], accumulation dtype
};

ChunkLogprobs chunk_logprobs(const JoinerInputs& in, const Chunk& ch) {
  if (!in.use_hat_loss) {
    auto [symbol, blank, log_norm] =
        ops::_joiner_logprobs::call(ch.logits, ch.symbol, in.termination_symbol, false);
    return {symbol, blank, log_norm};
  }
  const at::Tensor z = ch.logits.to(in.am.scalar_type());
  const at::Tensor z_symbol = z.gather(1, ch.symbol.unsqueeze(1)).squeeze(1);
  const at::Tensor z0 = z.select(1, 0);
  const at::Tensor label_norm = at::logsumexp(z.narrow(1, 1, z.size(1) - 1), {1});
  return {z_symbol - label_norm + at::log_sigmoid(-z0), at::log_sigmoid(z0), label_norm};
}

// d loss / d logits of one chunk, in the GEMMs' dtype (over its logits).
at::Tensor logits_grad_(const JoinerInputs& in, const Chunk& ch, const at::Tensor& log_norm,
                        const at::Tensor& gs, const at::Tensor& gb) {
  if (!in.use_hat_loss) {
    ops::_joiner_logprobs_backward_::call(gs, gb, ch.logits, ch.symbol, log_norm,
                                          in.termination_symbol);
    return ch.logits;
  }
  at::Tensor z = ch.logits.to(in.am.scalar_type());
  const at::Tensor z0 = z.select(1, 0).clone();
  z.narrow(1, 1, z.size(1) - 1).sub_(log_norm.unsqueeze(1)).exp_().mul_(-gs.unsqueeze(1));
  z.select(1, 0).copy_(gb * at::sigmoid(-z0) - gs * at::sigmoid(z0));
  z.scatter_add_(1, ch.symbol.unsqueeze(1), gs.unsqueeze(1));
  return z.to(in.weight.scalar_type());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> fused_joiner_logprobs(
    const at::Tensor& am, const at::Tensor& lm, const at::Tensor& weight, const OptTensor& bias,
    const OptTensor& duration_weight, const OptTensor& duration_bias,
    const at::Tensor& symbol_index, const OptTensor& ranges, int64_t termination_symbol,
    const OptTensor& boundary, c10::string_view activation, bool use_hat_loss,
    int64_t chunk_cells, bool /*sparse_backward: the backward's*/) {
  const char* op = op_name("rnnt::_fused_joiner_logprobs");
  const JoinerInputs in =
      make_joiner_inputs(am, lm, weight, bias, duration_weight, duration_bias, symbol_index,
                         ranges, termination_symbol, activation, use_hat_loss, op);
  const int64_t chunk =
      cells_per_chunk(chunk_cells, weight.size(0), weight.size(1), weight.scalar_type());
  const int64_t N = in.duration_weight.defined() ? in.duration_weight.size(0) : 0;
  at::Tensor symbol_lp = at::zeros(symbol_index.sizes(), in.am.options());
  at::Tensor blank_lp = at::zeros_like(symbol_lp), log_norm = at::zeros_like(symbol_lp);
  at::Tensor duration_logits = symbol_lp.new_zeros(
      {symbol_lp.size(0), symbol_lp.size(1), symbol_lp.size(2), N});
  // Every cell of every box, packed: each chunk mixes items.
  const PackedCells cells = pack_cells(box_mask(in, item_boxes(in, boundary, op)));
  for (const ChunkRange& r : packed_chunks(cells.size(), chunk)) {
    const Chunk ch = compute_packed_chunk(in, cells, r);
    const ChunkLogprobs lp = chunk_logprobs(in, ch);
    const at::Tensor flat = cells.flat.narrow(0, r.begin, r.size);
    symbol_lp.view(-1).index_copy_(0, flat, lp.symbol);
    blank_lp.view(-1).index_copy_(0, flat, lp.blank);
    log_norm.view(-1).index_copy_(0, flat, lp.log_norm);
    if (N > 0) {
      duration_logits.view({-1, N}).index_copy_(0, flat,
                                                ch.duration_logits.to(in.am.scalar_type()));
    }
  }
  return {symbol_lp, blank_lp, log_norm, duration_logits};
}

// The backward's accumulators, in the accumulation dtype; the biases' in
// float64: each is a sum over every cell of terms that cancel (a cell's
// row of logit gradients sums to 0), small against the rounding of a
// float32 running sum over chunks.
struct Grads {
  at::Tensor am, lm, weight, bias, duration_weight, duration_bias;
};

// Adds a chunk's gradients of the heads (weight, bias and the duration
// head's, given gd = d loss / d duration logits [n][N] or undefined);
// returns its d pre-activation [n][D] in the accumulation dtype.
at::Tensor chunk_backward(const JoinerInputs& in, const Chunk& ch, const at::Tensor& log_norm,
                          const at::Tensor& gs, const at::Tensor& gb, const at::Tensor& gd,
                          Grads& grads) {
  const at::ScalarType acc = in.am.scalar_type();
  const bool gemm_in_acc = in.weight.scalar_type() == acc;
  const auto add_product = [&](at::Tensor& into, const at::Tensor& a, const at::Tensor& b) {
    if (gemm_in_acc) {
      into.addmm_(a, b);
    } else {
      into.add_(at::mm(a, b));
    }
  };
  const at::Tensor dz = logits_grad_(in, ch, log_norm, gs, gb);
  grads.bias.add_(at::sum(dz, {0}, false, at::kDouble));
  add_product(grads.weight, dz.t(), ch.hidden_gemm);
  at::Tensor grad_hidden = at::mm(dz, in.weight);
  if (gd.defined()) {
    const at::Tensor dd = gd.to(in.weight.scalar_type());
    grads.duration_bias.add_(at::sum(dd, {0}, false, at::kDouble));
    add_product(grads.duration_weight, dd.t(), ch.hidden_gemm);
    grad_hidden.addmm_(dd, in.duration_weight);
  }
  return activation_backward(grad_hidden.to(acc), ch.hidden, in.activation);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
fused_joiner_logprobs_backward(
    const at::Tensor& grad_symbol, const at::Tensor& grad_blank, const OptTensor& grad_duration,
    const at::Tensor& am, const at::Tensor& lm, const at::Tensor& weight, const OptTensor& bias,
    const OptTensor& duration_weight, const OptTensor& duration_bias,
    const at::Tensor& symbol_index, const OptTensor& ranges, const at::Tensor& log_norm,
    int64_t termination_symbol, const OptTensor& boundary, c10::string_view activation,
    bool use_hat_loss, int64_t chunk_cells, bool sparse_backward) {
  const char* op = op_name("rnnt::_fused_joiner_logprobs_backward");
  const JoinerInputs in =
      make_joiner_inputs(am, lm, weight, bias, duration_weight, duration_bias, symbol_index,
                         ranges, termination_symbol, activation, use_hat_loss, op);
  const int64_t C = weight.size(0), D = weight.size(1);
  const int64_t N = in.duration_weight.defined() ? in.duration_weight.size(0) : 0;
  const int64_t chunk = cells_per_chunk(chunk_cells, C, D, weight.scalar_type());
  const at::ScalarType acc = in.am.scalar_type();
  const at::Tensor gd_all =
      N > 0 && grad_duration.has_value() ? grad_duration->to(acc) : at::Tensor();
  Grads grads{at::zeros_like(in.am),          at::zeros_like(in.lm),
              at::zeros({C, D}, in.am.options()), at::zeros({C}, in.am.options().dtype(at::kDouble)),
              at::zeros({N, D}, in.am.options()), at::zeros({N}, in.am.options().dtype(at::kDouble))};
  const auto boxes = item_boxes(in, boundary, op);
  if (sparse_backward) {
    // The kept cells of every item, packed: each chunk mixes items.
    const PackedCells cells =
        pack_cells(kept_cells(box_mask(in, boxes), grad_symbol, grad_blank, log_norm,
                              weight.scalar_type()));
    const auto packed = [&](const at::Tensor& t) {
      return t.reshape(-1).index_select(0, cells.flat).to(acc);
    };
    const at::Tensor kept_log_norm = packed(log_norm), kept_gs = packed(grad_symbol),
                     kept_gb = packed(grad_blank);
    const at::Tensor kept_gd =
        gd_all.defined() ? gd_all.reshape({-1, N}).index_select(0, cells.flat) : at::Tensor();
    const at::Tensor grad_am_rows = grads.am.view({-1, D}), grad_lm_rows = grads.lm.view({-1, D});
    for (const ChunkRange& r : packed_chunks(cells.size(), chunk)) {
      const auto part = [&](const at::Tensor& t) {
        return t.defined() ? t.narrow(0, r.begin, r.size) : t;
      };
      const Chunk ch = compute_packed_chunk(in, cells, r);
      const at::Tensor grad_pre = chunk_backward(in, ch, part(kept_log_norm), part(kept_gs),
                                                 part(kept_gb), part(kept_gd), grads);
      grad_am_rows.index_add_(0, ch.frames, grad_pre);
      grad_lm_rows.index_add_(0, ch.rows, grad_pre);
    }
  } else {
    for (int64_t b = 0; b < am.size(0); ++b) {
      for (const Tile& tile : box_tiles(boxes[b], chunk)) {
        const Chunk ch = compute_chunk(in, b, tile);
        const auto cells = [&](const at::Tensor& t) {
          return tile.of(t.select(0, b)).reshape(-1).to(acc);
        };
        const at::Tensor gd = gd_all.defined()
                                  ? tile.of(gd_all.select(0, b)).reshape({tile.cells(), N})
                                  : at::Tensor();
        const at::Tensor grad_pre =
            chunk_backward(in, ch, cells(log_norm), cells(grad_symbol), cells(grad_blank), gd,
                           grads)
                .view({tile.frames(), tile.slots(), D});
        grads.am.select(0, b).narrow(0, tile.t0, tile.frames()).add_(grad_pre.sum(1));
        if (in.ranges.defined()) {
          grads.lm.select(0, b).index_add_(0, ch.rows, grad_pre.view({tile.cells(), D}));
        } else {
          grads.lm.select(0, b).narrow(0, tile.k0, tile.slots()).add_(grad_pre.sum(0));
        }
      }
    }
  }
  const at::ScalarType out = weight.scalar_type();
  return {grads.am.to(am.scalar_type()),   grads.lm.to(lm.scalar_type()),
          grads.weight.to(out),            grads.bias.to(out),
          grads.duration_weight.to(out),   grads.duration_bias.to(out)};
}

}  // namespace
}  // namespace fused_joiner

TORCH_LIBRARY_IMPL(rnnt, CPU, m) {
  m.impl(ops::_fused_joiner_logprobs::name, &fused_joiner::fused_joiner_logprobs);
  m.impl(ops::_fused_joiner_logprobs_backward::name,
         &fused_joiner::fused_joiner_logprobs_backward);
}

TORCH_LIBRARY_IMPL(rnnt, CUDA, m) {
  m.impl(ops::_fused_joiner_logprobs::name, &fused_joiner::fused_joiner_logprobs);
  m.impl(ops::_fused_joiner_logprobs_backward::name,
         &fused_joiner::fused_joiner_logprobs_backward);
}

}  // namespace rnnt

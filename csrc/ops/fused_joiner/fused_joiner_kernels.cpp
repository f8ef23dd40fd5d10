// The fused joiner's log-probs and their backward, chunk by chunk
// (fused_joiner_chunks.h), with ATen ops only: one code path for CPU and CUDA.
//
// Forward, per cell: with z the logits and L = logsumexp(z),
//   symbol = z[sym] - L,  blank = z[blank] - L;
// HAT (blank = 0): L = logsumexp(z[1:]),
//   symbol = z[sym] - L + log sigmoid(-z[0]),  blank = log sigmoid(z[0]).
// Backward, with upstream gradients gs, gb per cell:
//   dz = gs * onehot(sym) + gb * onehot(blank) - (gs + gb) * softmax(z);
// HAT: dz = gs * onehot(sym) - gs * softmax(z[1:]) on the labels, plus
//   gb * sigmoid(-z[0]) - gs * sigmoid(z[0]) on z[0];
// then d bias += sum dz, d weight += dz^T h, d h = dz weight, and d pre
// (through the activation) adds into the rows am[b, t] and lm[b, s].
#include <torch/library.h>

#include <algorithm>

#include "fused_joiner/fused_joiner_chunks.h"

namespace rnnt {
namespace fused_joiner {
namespace {

struct Shapes {
  int64_t B, T, S, K, C, D;
};

Shapes shapes_of(const at::Tensor& am, const at::Tensor& lm, const at::Tensor& weight,
                 const at::Tensor& lm_index) {
  return {am.size(0), am.size(1), lm.size(1) - 1, lm_index.size(2), weight.size(0),
          weight.size(1)};
}

struct ChunkLogprobs {
  at::Tensor symbol, blank, log_norm;  // [n]
};

ChunkLogprobs chunk_logprobs(const JoinerInputs& in, const Chunk& ch) {
  const at::Tensor& z = ch.logits;
  const at::Tensor z_symbol = z.gather(1, ch.symbol.unsqueeze(1)).squeeze(1);
  if (in.use_hat_loss) {
    const at::Tensor z0 = z.select(1, 0);
    const at::Tensor label_norm = at::logsumexp(z.narrow(1, 1, z.size(1) - 1), {1});
    return {z_symbol - label_norm + at::log_sigmoid(-z0), at::log_sigmoid(z0), label_norm};
  }
  const at::Tensor log_norm = at::logsumexp(z, {1});
  return {z_symbol - log_norm, z.select(1, in.termination_symbol) - log_norm, log_norm};
}

// d loss / d logits of one chunk, written over its logits.
at::Tensor logits_grad_(const JoinerInputs& in, const Chunk& ch, const at::Tensor& log_norm,
                        const at::Tensor& gs, const at::Tensor& gb) {
  at::Tensor z = ch.logits;
  if (in.use_hat_loss) {
    const at::Tensor z0 = z.select(1, 0).clone();
    z.narrow(1, 1, z.size(1) - 1).sub_(log_norm.unsqueeze(1)).exp_().mul_(-gs.unsqueeze(1));
    z.select(1, 0).copy_(gb * at::sigmoid(-z0) - gs * at::sigmoid(z0));
  } else {
    z.sub_(log_norm.unsqueeze(1)).exp_().mul_(-(gs + gb).unsqueeze(1));
    z.select(1, in.termination_symbol).add_(gb);
  }
  return z.scatter_add_(1, ch.symbol.unsqueeze(1), gs.unsqueeze(1));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> fused_joiner_logprobs(
    const at::Tensor& am, const at::Tensor& lm, const at::Tensor& weight,
    const c10::optional<at::Tensor>& bias, const at::Tensor& lm_index,
    const at::Tensor& symbol_index, int64_t termination_symbol,
    const c10::optional<at::Tensor>& boundary, c10::string_view activation, bool pruned,
    bool use_hat_loss, int64_t chunk_cells) {
  const char* op = "rnnt::_fused_joiner_logprobs";
  const JoinerInputs in = make_joiner_inputs(am, lm, weight, bias, lm_index, symbol_index,
                                             termination_symbol, activation, use_hat_loss, op);
  const Shapes n = shapes_of(am, lm, weight, lm_index);
  const auto boxes = item_boxes(boundary, n.B, n.T, n.S, n.K, pruned, op);
  const int64_t chunk = cells_per_chunk(chunk_cells, n.C, n.D, weight.scalar_type());
  at::Tensor symbol_lp = at::zeros({n.B, n.T, n.K}, in.am.options());
  at::Tensor blank_lp = at::zeros_like(symbol_lp), log_norm = at::zeros_like(symbol_lp);
  for (int64_t b = 0; b < n.B; ++b) {
    const ItemBox& box = boxes[b];
    for (int64_t c0 = 0; c0 < box.cells(); c0 += chunk) {
      const Chunk ch = compute_chunk(in, b, box, c0, std::min(c0 + chunk, box.cells()));
      const ChunkLogprobs lp = chunk_logprobs(in, ch);
      const c10::List<c10::optional<at::Tensor>> cells{ch.t, ch.k};
      symbol_lp.select(0, b).index_put_(cells, lp.symbol);
      blank_lp.select(0, b).index_put_(cells, lp.blank);
      log_norm.select(0, b).index_put_(cells, lp.log_norm);
    }
  }
  return {symbol_lp, blank_lp, log_norm};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> fused_joiner_logprobs_backward(
    const at::Tensor& grad_symbol, const at::Tensor& grad_blank, const at::Tensor& am,
    const at::Tensor& lm, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
    const at::Tensor& lm_index, const at::Tensor& symbol_index, const at::Tensor& log_norm,
    int64_t termination_symbol, const c10::optional<at::Tensor>& boundary,
    c10::string_view activation, bool pruned, bool use_hat_loss, int64_t chunk_cells) {
  const char* op = "rnnt::_fused_joiner_logprobs_backward";
  const JoinerInputs in = make_joiner_inputs(am, lm, weight, bias, lm_index, symbol_index,
                                             termination_symbol, activation, use_hat_loss, op);
  const Shapes n = shapes_of(am, lm, weight, lm_index);
  const auto boxes = item_boxes(boundary, n.B, n.T, n.S, n.K, pruned, op);
  const int64_t chunk = cells_per_chunk(chunk_cells, n.C, n.D, weight.scalar_type());
  const bool same_dtype = in.am.scalar_type() == weight.scalar_type();
  // Accumulators in the accumulation dtype.
  at::Tensor grad_am = at::zeros_like(in.am), grad_lm = at::zeros_like(in.lm);
  at::Tensor grad_weight = at::zeros({n.C, n.D}, in.am.options());
  at::Tensor grad_bias = at::zeros({n.C}, in.am.options());
  for (int64_t b = 0; b < n.B; ++b) {
    const ItemBox& box = boxes[b];
    for (int64_t c0 = 0; c0 < box.cells(); c0 += chunk) {
      const Chunk ch = compute_chunk(in, b, box, c0, std::min(c0 + chunk, box.cells()));
      const auto gather = [&](const at::Tensor& t) {
        return t.select(0, b).index({ch.t, ch.k}).to(in.am.scalar_type());
      };
      const at::Tensor dz =
          logits_grad_(in, ch, gather(log_norm), gather(grad_symbol), gather(grad_blank));
      grad_bias.add_(dz.sum(0));
      const at::Tensor dz_gemm = dz.to(weight.scalar_type());
      if (same_dtype) {
        grad_weight.addmm_(dz_gemm.t(), ch.hidden_gemm);
      } else {
        grad_weight.add_(at::mm(dz_gemm.t(), ch.hidden_gemm));
      }
      const at::Tensor grad_pre = activation_backward(
          at::mm(dz_gemm, weight).to(in.am.scalar_type()), ch.hidden, in.activation);
      grad_am.select(0, b).index_add_(0, ch.t, grad_pre);
      grad_lm.select(0, b).index_add_(0, ch.s, grad_pre);
    }
  }
  return {grad_am.to(am.scalar_type()), grad_lm.to(lm.scalar_type()),
          grad_weight.to(weight.scalar_type()), grad_bias.to(weight.scalar_type())};
}

}  // namespace
}  // namespace fused_joiner

TORCH_LIBRARY_IMPL(rnnt, CPU, m) {
  m.impl("_fused_joiner_logprobs", &fused_joiner::fused_joiner_logprobs);
  m.impl("_fused_joiner_logprobs_backward", &fused_joiner::fused_joiner_logprobs_backward);
}

TORCH_LIBRARY_IMPL(rnnt, CUDA, m) {
  m.impl("_fused_joiner_logprobs", &fused_joiner::fused_joiner_logprobs);
  m.impl("_fused_joiner_logprobs_backward", &fused_joiner::fused_joiner_logprobs_backward);
}

}  // namespace rnnt

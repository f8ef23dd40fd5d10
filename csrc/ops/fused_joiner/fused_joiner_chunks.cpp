// The chunked joiner (fused_joiner_chunks.h).
#include "fused_joiner_chunks.h"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace rnnt {
namespace fused_joiner {

Activation parse_activation(c10::string_view name, const char* op) {
  if (name == "tanh") return Activation::Tanh;
  if (name == "relu") return Activation::Relu;
  if (name == "identity") return Activation::Identity;
  TORCH_CHECK_VALUE(false, op, ": activation must be 'tanh', 'relu' or 'identity', got '",
                    std::string(name), "'");
}

JoinerInputs make_joiner_inputs(const at::Tensor& am, const at::Tensor& lm,
                                const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                                const c10::optional<at::Tensor>& duration_weight,
                                const c10::optional<at::Tensor>& duration_bias,
                                const at::Tensor& symbol_index,
                                const c10::optional<at::Tensor>& ranges,
                                int64_t termination_symbol, c10::string_view activation,
                                bool use_hat_loss, const char* op) {
  const at::ScalarType acc = at::toOpMathType(weight.scalar_type());
  JoinerInputs in;
  // Contiguous: the chunks view their rows (a transposed am or lm is copied once).
  in.am = am.to(acc).contiguous();
  in.lm = lm.to(acc).contiguous();
  in.weight = weight;
  in.bias = bias.value_or(at::Tensor());
  in.duration_weight = duration_weight.value_or(at::Tensor());
  in.duration_bias = duration_bias.value_or(at::Tensor());
  in.symbol_index = symbol_index;
  in.ranges = ranges.value_or(at::Tensor());
  in.activation = parse_activation(activation, op);
  in.termination_symbol = termination_symbol;
  in.use_hat_loss = use_hat_loss;
  return in;
}

std::vector<Tile> item_boxes(const JoinerInputs& in, const c10::optional<at::Tensor>& boundary,
                             const char* op) {
  const int64_t B = in.am.size(0), T = in.am.size(1), S = in.lm.size(1) - 1;
  const int64_t K = in.symbol_index.size(2);
  const bool pruned = in.ranges.defined();
  std::vector<Tile> boxes;
  boxes.reserve(B);
  if (!boundary.has_value() || !boundary->defined()) {
    boxes.assign(B, Tile{0, T, 0, pruned ? K : S + 1});
    return boxes;
  }
  // One host read of B x 4 values: the boxes set the tiles.
  const at::Tensor rows = boundary->to(at::kCPU).contiguous();
  const auto bnd = rows.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t s0 = bnd[b][0], t0 = bnd[b][1], s1 = bnd[b][2], t1 = bnd[b][3];
    TORCH_CHECK_VALUE(0 <= s0 && s0 <= s1 && s1 <= S && 0 <= t0 && t0 <= t1 && t1 <= T, op,
                      ": boundary[", b, "] = (s_begin, t_begin, s_end, t_end) = (", s0, ", ",
                      t0, ", ", s1, ", ", t1, ") must satisfy 0 <= s_begin <= s_end <= S = ",
                      S, " and 0 <= t_begin <= t_end <= T = ", T);
    boxes.push_back(pruned ? Tile{t0, t1, 0, K} : Tile{t0, t1, s0, s1 + 1});
  }
  return boxes;
}

int64_t cells_per_chunk(int64_t requested, int64_t C, int64_t D, at::ScalarType gemm_dtype) {
  if (requested > 0) return requested;
  static const int64_t budget_mb = [] {
    const char* env = std::getenv("RNNT_OPS_FUSED_JOINER_MB");
    const int64_t mb = env ? std::atoll(env) : 0;
    return mb > 0 ? mb : int64_t{64};
  }();
  const int64_t acc = c10::elementSize(at::toOpMathType(gemm_dtype));
  const int64_t gemm = c10::elementSize(gemm_dtype);
  // Live per cell at the peak: the logits (their gradient overwrites them)
  // and a few hidden-sized rows.
  const int64_t bytes_per_cell = C * gemm + 4 * D * acc;
  const int64_t budget = std::max<int64_t>(1, budget_mb * (int64_t{1} << 20) / bytes_per_cell);
  // For speed: a chunk's logits are written by the GEMM and read again by
  // the log-softmax (and its backward), so about 4 MiB of them stay in the
  // cache; 256 cells at least keep the GEMMs' M large enough to run near
  // their peak (CPU, 1 thread: 256-2048 cells per chunk ran 15-25% faster
  // than whole 64 MiB chunks at C = 500 and 4000, D = 256).
  const int64_t cached = std::max<int64_t>(256, (int64_t{4} << 20) / (C * gemm));
  return std::min(budget, cached);
}

std::vector<Tile> box_tiles(const Tile& box, int64_t chunk_cells) {
  std::vector<Tile> tiles;
  if (box.cells() == 0) return tiles;
  if (chunk_cells >= box.slots()) {
    const int64_t rows = chunk_cells / box.slots();
    for (int64_t t = box.t0; t < box.t1; t += std::min(rows, box.t1 - t)) {
      tiles.push_back({t, t + std::min(rows, box.t1 - t), box.k0, box.k1});
    }
    return tiles;
  }
  for (int64_t t = box.t0; t < box.t1; ++t) {
    for (int64_t k = box.k0; k < box.k1; k += chunk_cells) {
      tiles.push_back({t, t + 1, k, k + std::min(chunk_cells, box.k1 - k)});
    }
  }
  return tiles;
}

at::Tensor activate_(at::Tensor pre, Activation activation) {
  switch (activation) {
    case Activation::Tanh: return pre.tanh_();
    case Activation::Relu: return pre.relu_();
    case Activation::Identity: return pre;
  }
  TORCH_INTERNAL_ASSERT(false, "unknown activation");
}

Chunk compute_chunk(const JoinerInputs& in, int64_t b, const Tile& tile) {
  Chunk ch;
  const int64_t D = in.am.size(2);
  const at::Tensor am_rows = in.am.select(0, b).narrow(0, tile.t0, tile.frames()).unsqueeze(1);
  at::Tensor lm_rows;  // [1 or frames][slots][D]
  if (in.ranges.defined()) {
    ch.rows = tile.of(in.ranges.select(0, b)).reshape(-1);
    lm_rows = in.lm.select(0, b).index_select(0, ch.rows).view({tile.frames(), tile.slots(), D});
  } else {
    lm_rows = in.lm.select(0, b).narrow(0, tile.k0, tile.slots()).unsqueeze(0);
  }
  ch.symbol = tile.of(in.symbol_index.select(0, b)).reshape(-1);
  ch.hidden = activate_(am_rows + lm_rows, in.activation).view({tile.cells(), D});
  chunk_logits(in, ch);
  return ch;
}

void chunk_logits(const JoinerInputs& in, Chunk& ch) {
  ch.hidden_gemm = ch.hidden.to(in.weight.scalar_type());
  ch.logits = in.bias.defined() ? at::addmm(in.bias, ch.hidden_gemm, in.weight.t())
                                : at::mm(ch.hidden_gemm, in.weight.t());
  if (in.duration_weight.defined()) {
    const at::Tensor dw = in.duration_weight.t();
    ch.duration_logits = in.duration_bias.defined()
                             ? at::addmm(in.duration_bias, ch.hidden_gemm, dw)
                             : at::mm(ch.hidden_gemm, dw);
  }
}

at::Tensor activation_backward(const at::Tensor& grad_hidden, const at::Tensor& hidden,
                               Activation activation) {
  switch (activation) {
    case Activation::Tanh: return at::tanh_backward(grad_hidden, hidden);
    case Activation::Relu: return at::threshold_backward(grad_hidden, hidden, 0);
    case Activation::Identity: return grad_hidden;
  }
  TORCH_INTERNAL_ASSERT(false, "unknown activation");
}

}  // namespace fused_joiner
}  // namespace rnnt

// The chunked joiner (fused_joiner_chunks.h).
#include "fused_joiner/fused_joiner_chunks.h"

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
                                const at::Tensor& lm_index, const at::Tensor& symbol_index,
                                int64_t termination_symbol, c10::string_view activation,
                                bool use_hat_loss, const char* op) {
  const at::ScalarType acc = at::toOpMathType(weight.scalar_type());
  JoinerInputs in;
  in.am = am.to(acc);
  in.lm = lm.to(acc);
  in.weight = weight;
  in.bias = bias.has_value() ? *bias : at::Tensor();
  in.lm_index = lm_index;
  in.symbol_index = symbol_index;
  in.activation = parse_activation(activation, op);
  in.termination_symbol = termination_symbol;
  in.use_hat_loss = use_hat_loss;
  return in;
}

std::vector<ItemBox> item_boxes(const c10::optional<at::Tensor>& boundary, int64_t B,
                                int64_t T, int64_t S, int64_t K, bool pruned, const char* op) {
  std::vector<ItemBox> boxes;
  boxes.reserve(B);
  if (!boundary.has_value() || !boundary->defined()) {
    for (int64_t b = 0; b < B; ++b) boxes.push_back({0, T, 0, pruned ? K : S + 1});
    return boxes;
  }
  // One host read of B x 4 values: the boxes set the chunks' sizes.
  const at::Tensor rows = boundary->to(at::kCPU).contiguous();
  const auto bnd = rows.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t s0 = bnd[b][0], t0 = bnd[b][1], s1 = bnd[b][2], t1 = bnd[b][3];
    TORCH_CHECK_VALUE(0 <= s0 && s0 <= s1 && s1 <= S && 0 <= t0 && t0 <= t1 && t1 <= T, op,
                      ": boundary[", b, "] = (s_begin, t_begin, s_end, t_end) = (", s0, ", ",
                      t0, ", ", s1, ", ", t1, ") must satisfy 0 <= s_begin <= s_end <= S = ",
                      S, " and 0 <= t_begin <= t_end <= T = ", T);
    boxes.push_back({t0, t1, pruned ? 0 : s0, pruned ? K : s1 + 1});
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
  // Live per cell at the peak: logits in the GEMM's dtype, their
  // accumulation-dtype copy and one more [C] temporary (the exponentials),
  // and a few hidden-sized rows.
  const int64_t bytes_per_cell = C * (gemm + 2 * acc) + 4 * D * acc;
  return std::max<int64_t>(1, budget_mb * (int64_t{1} << 20) / bytes_per_cell);
}

namespace {

at::Tensor activate_(at::Tensor pre, Activation activation) {
  switch (activation) {
    case Activation::Tanh: return pre.tanh_();
    case Activation::Relu: return pre.relu_();
    case Activation::Identity: return pre;
  }
  TORCH_INTERNAL_ASSERT(false, "unknown activation");
}

}  // namespace

Chunk compute_chunk(const JoinerInputs& in, int64_t b, const ItemBox& box, int64_t c0,
                    int64_t c1) {
  Chunk ch;
  const int64_t slots = box.k1 - box.k0;
  const at::Tensor cell = at::arange(c0, c1, in.am.options().dtype(at::kLong));
  ch.t = at::div(cell, slots, "floor").add_(box.t0);
  ch.k = at::remainder(cell, slots).add_(box.k0);
  ch.s = in.lm_index.select(0, b).index({ch.t, ch.k});
  ch.symbol = in.symbol_index.select(0, b).index({ch.t, ch.k});
  ch.hidden = activate_(in.am.select(0, b).index_select(0, ch.t) +
                            in.lm.select(0, b).index_select(0, ch.s),
                        in.activation);
  ch.hidden_gemm = ch.hidden.to(in.weight.scalar_type());
  const at::Tensor logits = in.bias.defined()
                                ? at::addmm(in.bias, ch.hidden_gemm, in.weight.t())
                                : at::mm(ch.hidden_gemm, in.weight.t());
  ch.logits = logits.to(ch.hidden.scalar_type());
  return ch;
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

// The chunked joiner shared by the fused forward and backward kernels.
//
// A lattice cell (b, t, k) has the hidden activation
//   h = act(am[b, t] + lm[b, s]),  s = lm_index[b, t, k],
// and the logits z = h @ weight^T + bias [C]. The cells of one item's box
// (frames [t_begin, t_end) x slots [k_begin, k_end)) are numbered row-major
// and cut into chunks of at most chunk_cells cells; a chunk is a few row
// gathers, one elementwise activation and one GEMM, so the work scales with
// the sum over items of their box sizes, not with B * T * K.
#pragma once

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>

#include <vector>

namespace rnnt {
namespace fused_joiner {

enum class Activation { Tanh, Relu, Identity };

Activation parse_activation(c10::string_view name, const char* op);

// The cells of one item: frames [t0, t1) x slots [k0, k1).
struct ItemBox {
  int64_t t0, t1, k0, k1;
  int64_t cells() const { return (t1 - t0) * (k1 - k0); }
};

// Everything a chunk needs, laid out once per call: am and lm in the
// accumulation dtype, weight and bias as given (the GEMMs' dtype).
struct JoinerInputs {
  at::Tensor am, lm, weight, bias;  // bias undefined when absent
  at::Tensor lm_index, symbol_index;
  Activation activation;
  int64_t termination_symbol;
  bool use_hat_loss;
};

JoinerInputs make_joiner_inputs(const at::Tensor& am, const at::Tensor& lm,
                                const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                                const at::Tensor& lm_index, const at::Tensor& symbol_index,
                                int64_t termination_symbol, c10::string_view activation,
                                bool use_hat_loss, const char* op);

// One box per item, read from boundary (checked against T, S) or the
// default (0, 0, S, T). Full lattice: slots [s_begin, s_end + 1); pruned:
// every slot [0, K).
std::vector<ItemBox> item_boxes(const c10::optional<at::Tensor>& boundary, int64_t B,
                                int64_t T, int64_t S, int64_t K, bool pruned, const char* op);

// Cells per chunk: `requested` when > 0, else as many as fit the memory
// budget (RNNT_OPS_FUSED_JOINER_MB, default 64 MiB) for C classes and
// hidden size D.
int64_t cells_per_chunk(int64_t requested, int64_t C, int64_t D, at::ScalarType gemm_dtype);

// One chunk's cells [c0, c1) of item b's box, and its joiner recomputed.
struct Chunk {
  at::Tensor t, k, s, symbol;  // [n] int64: frame, slot, decoder row, symbol
  at::Tensor hidden;           // [n][D], accumulation dtype
  at::Tensor hidden_gemm;      // hidden in the GEMMs' dtype
  at::Tensor logits;           // [n][C], accumulation dtype
};

Chunk compute_chunk(const JoinerInputs& in, int64_t b, const ItemBox& box, int64_t c0,
                    int64_t c1);

// d pre-activation from d hidden (and the hidden values).
at::Tensor activation_backward(const at::Tensor& grad_hidden, const at::Tensor& hidden,
                               Activation activation);

}  // namespace fused_joiner
}  // namespace rnnt

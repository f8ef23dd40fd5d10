// The chunked joiner shared by the fused forward and backward kernels.
//
// A lattice cell (b, t, k) has the hidden activation
//   h = act(am[b, t] + lm[b, s]),  s = k (full lattice) or ranges[b, t, k],
// and the logits z = h @ weight^T + bias [C] (and, with a TDT duration
// head, h @ duration_weight^T + duration_bias). Only the cells of the
// items' boxes (frames [t_begin, t_end) x slots [k_begin, k_end)) are
// computed, so the work scales with the sum of the box sizes, not with
// B * T * K. Chunks are either packed lists of cells across items
// (fused_joiner_cells.h: the forward and the sparse backward) or, for the
// backward that recomputes every cell, rectangular tiles of one item's box
// of at most chunk_cells cells: whole frame rows when a row fits, else
// pieces of one row; a tile is one broadcast add, one activation and one
// GEMM, and its gradients reduce over its rows and columns.
#pragma once

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>

#include <vector>

namespace rnnt {
namespace fused_joiner {

enum class Activation { Tanh, Relu, Identity };

Activation parse_activation(c10::string_view name, const char* op);

// Cells of one item: frames [t0, t1) x slots [k0, k1).
struct Tile {
  int64_t t0, t1, k0, k1;
  int64_t frames() const { return t1 - t0; }
  int64_t slots() const { return k1 - k0; }
  int64_t cells() const { return frames() * slots(); }
  // The tile's part of a [T][K] table.
  at::Tensor of(const at::Tensor& table) const {
    return table.narrow(0, t0, frames()).narrow(1, k0, slots());
  }
};

// Everything a chunk needs, laid out once per call: am and lm in the
// accumulation dtype, weight and bias, duration_weight and duration_bias
// (the TDT duration head) as given, undefined when absent.
struct JoinerInputs {
  at::Tensor am, lm, weight, bias, duration_weight, duration_bias;
  at::Tensor symbol_index;  // [B][T][K]
  at::Tensor ranges;        // [B][T][K] (pruned) or undefined (full)
  Activation activation;
  int64_t termination_symbol;
  bool use_hat_loss;
};

JoinerInputs make_joiner_inputs(const at::Tensor& am, const at::Tensor& lm,
                                const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                                const c10::optional<at::Tensor>& duration_weight,
                                const c10::optional<at::Tensor>& duration_bias,
                                const at::Tensor& symbol_index,
                                const c10::optional<at::Tensor>& ranges,
                                int64_t termination_symbol, c10::string_view activation,
                                bool use_hat_loss, const char* op);

// Each item's box, read from boundary (checked against T and S) or the
// default (0, 0, S, T): full lattice slots [s_begin, s_end + 1), pruned
// every slot [0, K).
std::vector<Tile> item_boxes(const JoinerInputs& in, const c10::optional<at::Tensor>& boundary,
                             const char* op);

// Cells per chunk: `requested` when > 0, else about 4 MiB of logits (at
// least 256 cells), within the memory budget (RNNT_OPS_FUSED_JOINER_MB,
// default 64 MiB) for C classes and hidden size D.
int64_t cells_per_chunk(int64_t requested, int64_t C, int64_t D, at::ScalarType gemm_dtype);

// The tiles of a box, in order.
std::vector<Tile> box_tiles(const Tile& box, int64_t chunk_cells);

// One tile's joiner, recomputed.
struct Chunk {
  at::Tensor rows;         // [n] decoder rows s (pruned only; packed: fused_joiner_cells.h)
  at::Tensor frames;       // [n] (packed only: fused_joiner_cells.h)
  at::Tensor symbol;       // [n] int64
  at::Tensor hidden;       // [n][D], accumulation dtype
  at::Tensor hidden_gemm;  // hidden in the GEMMs' dtype
  at::Tensor logits;       // [n][C], the GEMMs' dtype, contiguous
  at::Tensor duration_logits;  // [n][N], the GEMMs' dtype (with a duration head)
};

Chunk compute_chunk(const JoinerInputs& in, int64_t b, const Tile& tile);

// The activation of pre, in place.
at::Tensor activate_(at::Tensor pre, Activation activation);

// ch's logits (and duration logits) from ch.hidden.
void chunk_logits(const JoinerInputs& in, Chunk& ch);

// d pre-activation from d hidden (and the hidden values).
at::Tensor activation_backward(const at::Tensor& grad_hidden, const at::Tensor& hidden,
                               Activation activation);

}  // namespace fused_joiner
}  // namespace rnnt

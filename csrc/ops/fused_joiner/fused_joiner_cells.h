// Lattice cells packed across items, and the sparse backward's choice of
// cells.
//
// A packed list names cells (b, t, k) of the [B][T][K] tables by their flat
// index b*T*K + t*K + k, in that (row-major) order, with the rows of am
// viewed [B*T][D] and of lm viewed [B*(S+1)][D] that make their hidden
// activation. Chunks of such a list mix items, so one GEMM covers cells of
// several items' boxes (a ragged batch of small boxes, as pruned losses
// have, runs a few large GEMMs instead of one per item and tile).
//
// The skip rule (docs/performance.md, "Sparse backward"): a cell's logit
// gradient is g_s * onehot(symbol) + g_b * onehot(blank) - (g_s + g_b) *
// softmax, a row of L1 norm <= |g_s| + |g_b| + |g_s + g_b| <= 2 o with
// o = |g_s| + |g_b| its occupation (3 o with HAT; a TDT duration row adds
// at most 2 o). Per
// item, the lightest cells whose occupations sum to at most eps times the
// item's total occupation are dropped, eps = u/8 with u the unit roundoff
// of the GEMMs' dtype; every gradient then moves by at most 2 eps (total
// occupation) times max|hidden| (d weight), 1 (d bias) or max|weight| (d
// am, d lm), in the norms of the bound: a quarter of the rounding (L1 <=
// u * total) the GEMM dtype already allows on those same terms.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "fused_joiner_chunks.h"

namespace rnnt {
namespace fused_joiner {

// The cells' flat indices [n] (int64, ascending); a chunk derives its
// rows of am and lm and its symbols from its part.
struct PackedCells {
  at::Tensor flat;
  int64_t size() const { return flat.size(0); }
};

// [B][T][K] bool: the cells inside the items' boxes.
at::Tensor box_mask(const JoinerInputs& in, const std::vector<Tile>& boxes);

// The cells of `mask` ([B][T][K] bool), in flat order.
PackedCells pack_cells(const at::Tensor& mask);

// mask without the cells the skip rule drops, given the occupation weights
// grad_symbol, grad_blank [B][T][K]. An item whose total is not finite
// keeps every cell, and a cell whose log-normaliser (log_norm [B][T][K])
// is not finite is kept: their NaN or inf reaches the gradients as it
// would unskipped.
at::Tensor kept_cells(const at::Tensor& mask, const at::Tensor& grad_symbol,
                      const at::Tensor& grad_blank, const at::Tensor& log_norm,
                      at::ScalarType gemm_dtype);

// eps of the skip rule for a GEMM dtype: its unit roundoff u (2^-24
// float32, 2^-53 float64, 2^-11 float16, 2^-8 bfloat16) / 8.
double skip_ratio(at::ScalarType dtype);

// Cells [begin, begin + n) of a packed list, in chunks of at most
// chunk_cells of equal size (so no chunk is a small remainder).
struct ChunkRange {
  int64_t begin, size;
};
std::vector<ChunkRange> packed_chunks(int64_t cells, int64_t chunk_cells);

// One chunk's joiner: Chunk.frames = b*T + t (rows of am viewed [B*T][D]),
// Chunk.rows = b*(S+1) + s (of lm viewed [B*(S+1)][D]), s = k (full) or
// ranges[b, t, k] (pruned).
Chunk compute_packed_chunk(const JoinerInputs& in, const PackedCells& cells,
                           const ChunkRange& range);

}  // namespace fused_joiner
}  // namespace rnnt

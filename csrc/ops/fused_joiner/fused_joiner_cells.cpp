// Packed lattice cells and the skip rule (fused_joiner_cells.h).
#include "fused_joiner_cells.h"

#include <algorithm>

namespace rnnt {
namespace fused_joiner {

at::Tensor box_mask(const JoinerInputs& in, const std::vector<Tile>& boxes) {
  at::Tensor mask = at::zeros(in.symbol_index.sizes(), in.am.options().dtype(at::kBool));
  for (size_t b = 0; b < boxes.size(); ++b) {
    if (boxes[b].cells() > 0) boxes[b].of(mask.select(0, static_cast<int64_t>(b))).fill_(true);
  }
  return mask;
}

PackedCells pack_cells(const at::Tensor& mask) {
  return {mask.reshape(-1).nonzero().squeeze(1)};
}

double skip_ratio(at::ScalarType dtype) {
  // An eighth of the unit roundoff: the skipped cells' logit gradients
  // (L1 <= 2 eps * total) stay within a quarter of the rounding the GEMM
  // dtype already allows on those terms (u/2 per entry, L1 <= u * total).
  switch (dtype) {
    case at::kDouble: return 0x1p-53 / 8;
    case at::kFloat: return 0x1p-24 / 8;
    case at::kHalf: return 0x1p-11 / 8;
    case at::kBFloat16: return 0x1p-8 / 8;
    default: TORCH_INTERNAL_ASSERT(false, "no unit roundoff for ", dtype);
  }
}

at::Tensor kept_cells(const at::Tensor& mask, const at::Tensor& grad_symbol,
                      const at::Tensor& grad_blank, const at::Tensor& log_norm,
                      at::ScalarType gemm_dtype) {
  const int64_t B = mask.size(0);
  // Occupations in float64: the prefix sums below compare tiny masses
  // against a total up to T + S times larger.
  const at::Tensor occupation =
      (grad_symbol.to(at::kDouble).abs() + grad_blank.to(at::kDouble).abs())
          .masked_fill(mask.logical_not(), 0)
          .view({B, -1});
  // Ascending per item: the prefix of sorted cells whose running sum stays
  // within eps * total is the largest set of lightest cells the rule drops.
  const auto [sorted, order] = occupation.sort(1);
  const at::Tensor running = sorted.cumsum(1);
  const at::Tensor total = running.narrow(1, running.size(1) - 1, 1);
  // A non-finite total keeps everything (budget -1: no prefix fits).
  const at::Tensor budget =
      at::where(total.isfinite(), total * skip_ratio(gemm_dtype), -1.0);
  const at::Tensor keep_sorted = running > budget;
  at::Tensor keep = at::empty_like(keep_sorted).scatter_(1, order, keep_sorted);
  // A non-finite row's gradient is NaN even at zero occupation (0 * NaN).
  return keep.view(mask.sizes())
      .logical_or_(log_norm.isfinite().logical_not())
      .logical_and_(mask);
}

std::vector<ChunkRange> packed_chunks(int64_t cells, int64_t chunk_cells) {
  std::vector<ChunkRange> chunks;
  if (cells == 0) return chunks;
  // (No cells + chunk_cells - 1: chunk_cells may be near INT64_MAX.)
  const int64_t count = cells / chunk_cells + (cells % chunk_cells != 0);
  const int64_t size = (cells + count - 1) / count;
  for (int64_t begin = 0; begin < cells; begin += size) {
    chunks.push_back({begin, std::min(size, cells - begin)});
  }
  return chunks;
}

Chunk compute_packed_chunk(const JoinerInputs& in, const PackedCells& cells,
                           const ChunkRange& range) {
  const int64_t T = in.symbol_index.size(1), K = in.symbol_index.size(2);
  const int64_t S1 = in.lm.size(1), D = in.am.size(2);
  const at::Tensor flat = cells.flat.narrow(0, range.begin, range.size);
  Chunk ch;
  ch.frames = flat.div(K, "floor");
  const at::Tensor s = in.ranges.defined() ? in.ranges.reshape(-1).index_select(0, flat)
                                           : flat.remainder(K);
  ch.rows = flat.div(T * K, "floor").mul_(S1).add_(s);
  ch.symbol = in.symbol_index.reshape(-1).index_select(0, flat);
  const at::Tensor pre = in.am.view({-1, D}).index_select(0, ch.frames);
  ch.hidden = activate_(pre.add_(in.lm.view({-1, D}).index_select(0, ch.rows)), in.activation);
  chunk_logits(in, ch);
  return ch;
}

}  // namespace fused_joiner
}  // namespace rnnt

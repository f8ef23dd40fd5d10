// Lane-wise versions of the node math of rnnt_math.h on at::vec registers,
// for the vectorised CPU sweeps (recursion_item_simd.h). Real SIMD needs the
// translation unit built with CPU_CAPABILITY_AVX2 and the matching -m flags
// (rnnt_ops/_build.py); without them at::vec runs the same code lane by lane.
#pragma once

#include <ATen/cpu/vec/vec.h>

#include "rnnt_math.h"

namespace rnnt {
namespace simd {

template <typename scalar_t>
using Vec = at::vec::Vectorized<scalar_t>;

// rnnt::log_add in every lane: exact for -inf operands (-inf, never NaN, for
// two -inf), NaN-propagating (at::vec::maximum/minimum propagate NaN).
template <typename scalar_t>
inline Vec<scalar_t> log_add(const Vec<scalar_t>& a, const Vec<scalar_t>& b) {
  const Vec<scalar_t> hi = at::vec::maximum(a, b);
  const Vec<scalar_t> lo = at::vec::minimum(a, b);
  return Vec<scalar_t>::blendv(hi + (lo - hi).exp().log1p(), hi,
                               lo == Vec<scalar_t>(neg_inf<scalar_t>()));
}

// rnnt::arc_shares in every lane: the shares of a node's symbol and blank
// terms, adding up to one; 0 where both are -inf; NaN-propagating.
template <typename scalar_t>
inline void arc_shares(const Vec<scalar_t>& p_symbol, const Vec<scalar_t>& symbol,
                       const Vec<scalar_t>& p_blank, const Vec<scalar_t>& blank,
                       Vec<scalar_t>& symbol_share, Vec<scalar_t>& blank_share) {
  const Vec<scalar_t> minus_inf(neg_inf<scalar_t>());
  const Vec<scalar_t> diff = (p_symbol - p_blank) + (symbol - blank);
  const Vec<scalar_t> symbol_larger = diff > Vec<scalar_t>(scalar_t(0));
  const Vec<scalar_t> e = Vec<scalar_t>::blendv(diff, diff.neg(), symbol_larger).exp();
  const Vec<scalar_t> larger = Vec<scalar_t>(scalar_t(1)) / (Vec<scalar_t>(scalar_t(1)) + e);
  const Vec<scalar_t> smaller = e * larger;
  const Vec<scalar_t> unreachable = (p_symbol + symbol == minus_inf) & (p_blank + blank == minus_inf);
  const Vec<scalar_t> zero(scalar_t(0));
  symbol_share = Vec<scalar_t>::blendv(Vec<scalar_t>::blendv(smaller, larger, symbol_larger),
                                       zero, unreachable);
  blank_share = Vec<scalar_t>::blendv(Vec<scalar_t>::blendv(larger, smaller, symbol_larger),
                                      zero, unreachable);
}

// Lanes moved up by one: lane i of the result is lane i-1 of v, lane 0 is
// the last lane of `below` (the register holding the rows before v's).
#if defined(CPU_CAPABILITY_AVX2)
inline Vec<float> shift_lanes_up(const Vec<float>& v, const Vec<float>& below) {
  // Rotate both up by one lane, then take lane 0 from `below`.
  const __m256i rotate = _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6);
  return _mm256_blend_ps(_mm256_permutevar8x32_ps(v, rotate),
                         _mm256_permutevar8x32_ps(below, rotate), 0x1);
}
inline Vec<double> shift_lanes_up(const Vec<double>& v, const Vec<double>& below) {
  constexpr int rotate = _MM_SHUFFLE(2, 1, 0, 3);
  return _mm256_blend_pd(_mm256_permute4x64_pd(v, rotate),
                         _mm256_permute4x64_pd(below, rotate), 0x1);
}
#else
template <typename scalar_t>
inline Vec<scalar_t> shift_lanes_up(const Vec<scalar_t>& v, const Vec<scalar_t>& below) {
  constexpr int64_t n = Vec<scalar_t>::size();
  __at_align__ scalar_t lanes[n + 1];
  v.store(lanes + 1);
  lanes[0] = below[n - 1];
  return Vec<scalar_t>::loadu(lanes);
}
#endif

}  // namespace simd
}  // namespace rnnt

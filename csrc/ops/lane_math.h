// Lane-wise versions of the node math of rnnt_math.h on at::vec registers,
// for the vectorised CPU sweeps (recursion_item_simd.h). Real SIMD needs the
// translation unit built with CPU_CAPABILITY_AVX2/AVX512 and the matching -m
// flags (rnnt_ops/_build.py); without them at::vec runs the same code lane by
// lane.
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

// rnnt::occupation in every lane: exp(x), 0 where x is -inf.
template <typename scalar_t>
inline Vec<scalar_t> occupation(const Vec<scalar_t>& log_prob) {
  return Vec<scalar_t>::blendv(log_prob.exp(), Vec<scalar_t>(scalar_t(0)),
                               log_prob == Vec<scalar_t>(neg_inf<scalar_t>()));
}

// Lanes moved up by one: lane i of the result is lane i-1 of v, lane 0 is
// `fill`. One cross-lane instruction where the ISA has one.
#if defined(CPU_CAPABILITY_AVX512)
inline Vec<float> shift_lanes_up(const Vec<float>& v, float fill) {
  // alignr of the pair (v : fill) by 15 lanes = [fill[15], v[0..14]].
  return _mm512_castsi512_ps(_mm512_alignr_epi32(
      _mm512_castps_si512(v), _mm512_castps_si512(_mm512_set1_ps(fill)), 15));
}
inline Vec<double> shift_lanes_up(const Vec<double>& v, double fill) {
  return _mm512_castsi512_pd(_mm512_alignr_epi64(
      _mm512_castpd_si512(v), _mm512_castpd_si512(_mm512_set1_pd(fill)), 7));
}
#elif defined(CPU_CAPABILITY_AVX2)
inline Vec<float> shift_lanes_up(const Vec<float>& v, float fill) {
  const __m256 up = _mm256_permutevar8x32_ps(
      v, _mm256_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6));
  return _mm256_blend_ps(up, _mm256_set1_ps(fill), 0x1);
}
inline Vec<double> shift_lanes_up(const Vec<double>& v, double fill) {
  const __m256d up = _mm256_permute4x64_pd(v, _MM_SHUFFLE(2, 1, 0, 0));
  return _mm256_blend_pd(up, _mm256_set1_pd(fill), 0x1);
}
#else
template <typename scalar_t>
inline Vec<scalar_t> shift_lanes_up(const Vec<scalar_t>& v, scalar_t fill) {
  __at_align__ scalar_t lanes[Vec<scalar_t>::size() + 1];
  lanes[0] = fill;
  v.store(lanes + 1);
  return Vec<scalar_t>::loadu(lanes);
}
#endif

}  // namespace simd
}  // namespace rnnt

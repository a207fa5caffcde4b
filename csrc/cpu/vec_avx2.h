// 8 float lanes in an AVX2 register, with the operations golu_math.h, fast_exp.h and golu_loops.h
// use. Only golu_cpu_avx2.cpp includes it (it is compiled for AVX2, FMA and F16C).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "golu_loops.h"

namespace golu_mm {
namespace avx2 {

#define GOLU_VEC inline __attribute__((always_inline))

struct Mask {
  __m256 m;  // all ones where true
};

struct Vec {
  static constexpr int lanes = 8;
  __m256 v;

  explicit Vec(__m256 v) : v(v) {}
  explicit Vec(float s) : v(_mm256_set1_ps(s)) {}

  GOLU_VEC static Vec load(const float* p) { return Vec(_mm256_loadu_ps(p)); }
  GOLU_VEC static Vec load(const Bf16* p) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return Vec(_mm256_castsi256_ps(_mm256_slli_epi32(wide, 16)));
  }
  GOLU_VEC static Vec load(const F16* p) {
    return Vec(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  }

  GOLU_VEC void store(float* p) const { _mm256_storeu_ps(p, v); }
  // Round to nearest even; NaN stays a (quiet) NaN.
  GOLU_VEC void store(Bf16* p) const {
    const __m256i bits = _mm256_castps_si256(v);
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    const __m256i bias = _mm256_add_epi32(odd, _mm256_set1_epi32(0x7FFF));
    __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(bits, bias), 16);
    const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    rounded = _mm256_blendv_epi8(rounded, _mm256_set1_epi32(0x7FC0), nan);
    // Pack the eight 32-bit values (all below 2^16) into 16 bits: packus works per 128-bit half.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(rounded, rounded), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(packed));
  }
  GOLU_VEC void store(F16* p) const {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                     _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
};

GOLU_VEC Vec operator+(Vec a, Vec b) { return Vec(_mm256_add_ps(a.v, b.v)); }
GOLU_VEC Vec operator*(Vec a, Vec b) { return Vec(_mm256_mul_ps(a.v, b.v)); }
GOLU_VEC Vec operator-(Vec a) { return Vec(_mm256_xor_ps(a.v, _mm256_set1_ps(-0.0f))); }
GOLU_VEC Mask operator==(Vec a, Vec b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_EQ_OQ)}; }
GOLU_VEC Mask operator<(Vec a, Vec b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ)}; }
GOLU_VEC bool any(Mask m) { return !_mm256_testz_ps(m.m, m.m); }
GOLU_VEC bool all(Mask m) { return _mm256_movemask_ps(m.m) == 0xFF; }
GOLU_VEC Vec abs(Vec a) { return Vec(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)); }
GOLU_VEC Vec golu_where(Mask c, Vec a, Vec b) { return Vec(_mm256_blendv_ps(b.v, a.v, c.m)); }

GOLU_VEC Vec fmadd(Vec a, Vec b, Vec c) { return Vec(_mm256_fmadd_ps(a.v, b.v, c.v)); }
// min/max return their second operand when one is NaN, so NaN passes.
GOLU_VEC Vec clamp_keep_nan(Vec x, Vec lo, Vec hi) {
  return Vec(_mm256_max_ps(lo.v, _mm256_min_ps(hi.v, x.v)));
}
GOLU_VEC Vec round_nearest(Vec x) {
  return Vec(_mm256_round_ps(x.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
// p * 2^n for integral n in [-150, 129]: two factors 2^(n/2) (each a normal float), so subnormal
// results are rounded once, by the last multiply. NaN n gives garbage factors, but then p is NaN.
GOLU_VEC Vec scale_pow2(Vec p, Vec n) {
  const __m256i ni = _mm256_cvtps_epi32(n.v);
  const __m256i n1 = _mm256_srai_epi32(ni, 1);
  const __m256i n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  return Vec(_mm256_mul_ps(_mm256_mul_ps(p.v, s1), s2));
}

// 2^k for integral k in [-126, 127], from its bits.
GOLU_VEC Vec pow2(Vec k) {
  const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(k.v), _mm256_set1_epi32(127));
  return Vec(_mm256_castsi256_ps(_mm256_slli_epi32(e, 23)));
}
// w * 2^-126 from bits alone (see fast_exp.h): for |w| >= 1 the exponent is lowered by 126; for
// |w| < 1 (a subnormal result) the bits of |w| + 1, less those of 1, with w's sign; inf and NaN
// pass unchanged.
GOLU_VEC Vec scale_down_126(Vec w) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 magnitude = _mm256_andnot_ps(sign, w.v);
  const __m256 small = _mm256_cmp_ps(magnitude, _mm256_set1_ps(1.0f), _CMP_LT_OQ);
  const __m256i unit = _mm256_castps_si256(_mm256_add_ps(magnitude, _mm256_set1_ps(1.0f)));
  const __m256 sub = _mm256_or_ps(
      _mm256_castsi256_ps(_mm256_sub_epi32(unit, _mm256_set1_epi32(0x3F800000))),
      _mm256_and_ps(sign, w.v));
  const __m256i normal = _mm256_sub_epi32(_mm256_castps_si256(w.v), _mm256_set1_epi32(126 << 23));
  const __m256 finite = _mm256_cmp_ps(magnitude, _mm256_set1_ps(__builtin_inff()), _CMP_LT_OQ);
  return Vec(_mm256_blendv_ps(w.v, _mm256_blendv_ps(_mm256_castsi256_ps(normal), sub, small), finite));
}

#undef GOLU_VEC

}  // namespace avx2
}  // namespace golu_mm

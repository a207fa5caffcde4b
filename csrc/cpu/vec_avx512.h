// 16 float lanes in an AVX-512 register, with the operations golu_math.h, fast_exp.h and
// golu_loops.h use. Only golu_cpu_avx512.cpp includes it (it is compiled for AVX-512).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "golu_loops.h"

namespace golu_mm {
namespace avx512 {

#define GOLU_VEC inline __attribute__((always_inline))

struct Mask {
  __mmask16 k;
};

struct Vec {
  static constexpr int lanes = 16;
  __m512 v;

  explicit Vec(__m512 v) : v(v) {}
  explicit Vec(float s) : v(_mm512_set1_ps(s)) {}

  GOLU_VEC static Vec load(const float* p) { return Vec(_mm512_loadu_ps(p)); }
  GOLU_VEC static Vec load(const Bf16* p) {
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return Vec(_mm512_castsi512_ps(_mm512_slli_epi32(wide, 16)));
  }
  GOLU_VEC static Vec load(const F16* p) {
    return Vec(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
  }

  GOLU_VEC void store(float* p) const { _mm512_storeu_ps(p, v); }
  // Round to nearest even; NaN stays a (quiet) NaN.
  GOLU_VEC void store(Bf16* p) const {
    const __m512i bits = _mm512_castps_si512(v);
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    const __m512i bias = _mm512_add_epi32(odd, _mm512_set1_epi32(0x7FFF));
    __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, bias), 16);
    rounded = _mm512_mask_mov_epi32(rounded, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q),
                                    _mm512_set1_epi32(0x7FC0));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(rounded));
  }
  GOLU_VEC void store(F16* p) const {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p),
                        _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
};

GOLU_VEC Vec operator+(Vec a, Vec b) { return Vec(_mm512_add_ps(a.v, b.v)); }
GOLU_VEC Vec operator*(Vec a, Vec b) { return Vec(_mm512_mul_ps(a.v, b.v)); }
GOLU_VEC Vec operator-(Vec a) { return Vec(_mm512_xor_ps(a.v, _mm512_set1_ps(-0.0f))); }
GOLU_VEC Mask operator==(Vec a, Vec b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_EQ_OQ)}; }
GOLU_VEC Mask operator<(Vec a, Vec b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ)}; }
GOLU_VEC bool any(Mask m) { return m.k != 0; }
GOLU_VEC bool all(Mask m) { return m.k == 0xFFFF; }
GOLU_VEC Vec abs(Vec a) { return Vec(_mm512_abs_ps(a.v)); }
GOLU_VEC Vec golu_where(Mask c, Vec a, Vec b) { return Vec(_mm512_mask_blend_ps(c.k, b.v, a.v)); }

GOLU_VEC Vec fmadd(Vec a, Vec b, Vec c) { return Vec(_mm512_fmadd_ps(a.v, b.v, c.v)); }
// min/max return their second operand when one is NaN, so NaN passes.
GOLU_VEC Vec clamp_keep_nan(Vec x, Vec lo, Vec hi) {
  return Vec(_mm512_max_ps(lo.v, _mm512_min_ps(hi.v, x.v)));
}
GOLU_VEC Vec round_nearest(Vec x) {
  return Vec(_mm512_roundscale_ps(x.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
// p * 2^n for integral n, rounded once (subnormal results included).
GOLU_VEC Vec scale_pow2(Vec p, Vec n) { return Vec(_mm512_scalef_ps(p.v, n.v)); }
// 2^k for integral k in [-126, 127].
GOLU_VEC Vec pow2(Vec k) { return Vec(_mm512_scalef_ps(_mm512_set1_ps(1.0f), k.v)); }
// w * 2^-126 without subnormal arithmetic (see fast_exp.h): for |w| < 1 (a subnormal result) the
// bits of |w| + 1, less those of 1, with w's sign; the other lanes (inf and NaN included) by a
// scalef that the mask keeps off the small ones.
GOLU_VEC Vec scale_down_126(Vec w) {
  const __m512 magnitude = _mm512_abs_ps(w.v);
  const __mmask16 small = _mm512_cmp_ps_mask(magnitude, _mm512_set1_ps(1.0f), _CMP_LT_OQ);
  const __m512i unit = _mm512_castps_si512(_mm512_add_ps(magnitude, _mm512_set1_ps(1.0f)));
  const __m512i sub = _mm512_or_si512(
      _mm512_sub_epi32(unit, _mm512_set1_epi32(0x3F800000)),
      _mm512_and_si512(_mm512_castps_si512(w.v), _mm512_set1_epi32(INT32_MIN)));
  return Vec(_mm512_mask_scalef_ps(_mm512_castsi512_ps(sub), static_cast<__mmask16>(~small), w.v,
                                   _mm512_set1_ps(-126.0f)));
}

#undef GOLU_VEC

}  // namespace avx512
}  // namespace golu_mm

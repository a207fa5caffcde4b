// One float lane: the baseline x86-64 (or non-x86) instantiation of golu_loops.h, with the same
// operations as vec_avx2.h and vec_avx512.h. Written with selects and bit operations only, so
// compilers auto-vectorize its loops for whatever the baseline target offers.
#pragma once

#include <c10/util/Half.h>
#include <c10/util/bit_cast.h>

#include <cstdint>

#include "golu_loops.h"

namespace golu_mm {
namespace scalar {

#define GOLU_VEC inline __attribute__((always_inline))

struct Vec {
  static constexpr int lanes = 1;
  float v;

  explicit Vec(float s) : v(s) {}

  GOLU_VEC static Vec load(const float* p) { return Vec(*p); }
  GOLU_VEC static Vec load(const Bf16* p) { return Vec(c10::bit_cast<float>(uint32_t{p->bits} << 16)); }
  GOLU_VEC static Vec load(const F16* p) { return Vec(c10::detail::fp16_ieee_to_fp32_value(p->bits)); }

  GOLU_VEC void store(float* p) const { *p = v; }
  // Round to nearest even; NaN stays a (quiet) NaN.
  GOLU_VEC void store(Bf16* p) const {
    const uint32_t bits = c10::bit_cast<uint32_t>(v);
    const uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
    p->bits = v != v ? uint16_t{0x7FC0} : static_cast<uint16_t>(rounded);
  }
  GOLU_VEC void store(F16* p) const { p->bits = c10::detail::fp16_ieee_from_fp32_value(v); }
};

GOLU_VEC Vec operator+(Vec a, Vec b) { return Vec(a.v + b.v); }
GOLU_VEC Vec operator*(Vec a, Vec b) { return Vec(a.v * b.v); }
GOLU_VEC Vec operator-(Vec a) { return Vec(-a.v); }
GOLU_VEC bool operator==(Vec a, Vec b) { return a.v == b.v; }
GOLU_VEC bool operator<(Vec a, Vec b) { return a.v < b.v; }
// A select by bit masks: a conditional expression of floats may become a branch, which stops
// vectorization and mispredicts on mixed data.
GOLU_VEC Vec golu_where(bool c, Vec a, Vec b) {
  const uint32_t mask = 0u - static_cast<uint32_t>(c);
  return Vec(c10::bit_cast<float>((c10::bit_cast<uint32_t>(a.v) & mask) |
                                  (c10::bit_cast<uint32_t>(b.v) & ~mask)));
}
GOLU_VEC Vec abs(Vec a) { return Vec(c10::bit_cast<float>(c10::bit_cast<uint32_t>(a.v) & 0x7FFFFFFFu)); }

GOLU_VEC Vec fmadd(Vec a, Vec b, Vec c) { return Vec(a.v * b.v + c.v); }
GOLU_VEC Vec clamp_keep_nan(Vec x, Vec lo, Vec hi) {
  const float upper = hi.v < x.v ? hi.v : x.v;  // NaN compares false and passes
  return Vec(lo.v > upper ? lo.v : upper);
}
// Adding 1.5 * 2^23 rounds |x| < 2^22 to an integer (nearest even).
GOLU_VEC Vec round_nearest(Vec x) {
  const float shifter = 12582912.0f;
  return Vec((x.v + shifter) - shifter);
}
// p * 2^n for integral n in [-150, 129]: two factors 2^(n/2) (each a normal float), so subnormal
// results are rounded once, by the last multiply.
GOLU_VEC Vec scale_pow2(Vec p, Vec n) {
  const int32_t ni = n.v == n.v ? static_cast<int32_t>(n.v) : 0;  // NaN n: p is NaN too
  const int32_t n1 = ni >> 1;
  const int32_t n2 = ni - n1;
  const float s1 = c10::bit_cast<float>((n1 + 127) << 23);
  const float s2 = c10::bit_cast<float>((n2 + 127) << 23);
  return Vec((p.v * s1) * s2);
}

// 2^k for integral k in [-126, 127], from its bits.
GOLU_VEC Vec pow2(Vec k) { return Vec(c10::bit_cast<float>((static_cast<int32_t>(k.v) + 127) << 23)); }
// w * 2^-126 from bits alone (see fast_exp.h): for |w| >= 1 the exponent is lowered by 126; for
// |w| < 1 (a subnormal result) the bits of |w| + 1, less those of 1, with w's sign; inf and NaN
// pass unchanged.
GOLU_VEC Vec scale_down_126(Vec w) {
  const uint32_t bits = c10::bit_cast<uint32_t>(w.v);
  const float magnitude = abs(w).v;
  const uint32_t sub = (c10::bit_cast<uint32_t>(magnitude + 1.0f) - 0x3F800000u) | (bits & 0x80000000u);
  const uint32_t mask = 0u - static_cast<uint32_t>(magnitude < 1.0f);
  const Vec scaled(c10::bit_cast<float>((sub & mask) | ((bits - (126u << 23)) & ~mask)));
  return golu_where(magnitude < __builtin_inff(), scaled, w);
}

#undef GOLU_VEC

}  // namespace scalar
}  // namespace golu_mm

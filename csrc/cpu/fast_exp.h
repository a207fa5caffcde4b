// exp for float written with arithmetic and selects only, so that loops calling it vectorize.
// Cody-Waite reduction x = n*ln2 + r, |r| <= ln2/2, then a degree-7 Taylor polynomial
// (truncation 0.1 ulp); 2^n is applied in two halves so subnormal results come out right.
// Measured against mpmath in tests/test_accuracy.py (max error about 1 ulp).
#pragma once

#include <cstdint>

namespace golu_mm {

inline __attribute__((always_inline)) float exp_f32(float x) {
  const bool nan = x != x;
  // Beyond these bounds the result is inf (x > 88.73) or rounds to 0 (x < -103.98).
  float xc = x > 89.0f ? 89.0f : (x < -104.0f ? -104.0f : x);
  xc = nan ? 0.0f : xc;
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float n = (xc * 1.44269504088896341f + shifter) - shifter;
  float r = xc - n * 0.693145751953125f;  // ln2 high part: n * it is exact
  r = r - n * 1.42860682030941723212e-6f;  // ln2 low part
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t ni = static_cast<int32_t>(n);  // in [-150, 129]
  const int32_t n1 = ni >> 1;
  const int32_t n2 = ni - n1;
  const int32_t b1 = (n1 + 127) << 23;
  const int32_t b2 = (n2 + 127) << 23;
  float s1, s2;
  __builtin_memcpy(&s1, &b1, sizeof s1);
  __builtin_memcpy(&s2, &b2, sizeof s2);
  const float y = (p * s1) * s2;
  return nan ? x : y;
}

}  // namespace golu_mm

// exp for float vectors, written once over a SIMD vector type V (csrc/cpu/vec_*.h supply
// clamp_keep_nan, round_nearest, fmadd and scale_pow2 for each instruction set).
// Cody-Waite reduction x = n*ln2 + r, |r| <= ln2/2, then a degree-6 polynomial; the result is
// scaled by 2^n so that subnormal results come out right.
// NaN needs no select: it passes the clamp, the polynomial and the scaling as NaN.
// Measured against mpmath in tests/ops/test_accuracy.py.
#pragma once

namespace golu_mm {

template <typename V>
inline __attribute__((always_inline)) V exp_f32(V x) {
  // Beyond these bounds the result is inf (x > 88.73) or rounds to 0 (x < -103.98).
  const V xc = clamp_keep_nan(x, V(-104.0f), V(89.0f));
  const V n = round_nearest(xc * V(1.44269504088896341f));  // in [-150, 129]
  V r = fmadd(n, V(-0.693145751953125f), xc);  // ln2 high part: n * it is exact
  r = fmadd(n, V(-1.42860682030941723212e-6f), r);  // ln2 low part
  // exp(r) ~ 1 + r*q(r), q of degree 5 fitted for least maximum relative error on |r| <= ln2/2
  // (1.98e-9, 0.02 ulp, before float32 rounding); the constant term 1 makes exp(0) exactly 1.
  V p = V(1.3843607157468796e-3f);
  p = fmadd(p, r, V(8.374195545911789e-3f));
  p = fmadd(p, r, V(4.166800528764725e-2f));
  p = fmadd(p, r, V(1.6666430234909058e-1f));
  p = fmadd(p, r, V(4.999999403953552e-1f));
  p = fmadd(p, r, V(1.0f));
  p = fmadd(p, r, V(1.0f));
  return scale_pow2(p, n);
}

struct ExpF32 {
  template <typename V>
  __attribute__((always_inline)) V operator()(V x) const {
    return exp_f32(x);
  }
};

}  // namespace golu_mm

// exp for float vectors, written once over a SIMD vector type V (csrc/cpu/vec_*.h supply
// clamp_keep_nan, round_nearest, fmadd, scale_pow2, pow2, scale_down_126, any, all and abs for each
// instruction set), with the flushed() and times() forms golu_math.h uses (golu_cpu.cpp has
// float64's). Included by the per-instruction-set files: it includes nothing itself.
//
// Cody-Waite reduction x = n*ln2 + r, |r| <= ln2/2, then a degree-6 polynomial p = exp(r); the
// result is p * 2^n. Subnormal arithmetic is slow on many CPUs (microcode assists, 2-10x per
// operation), and GoLU meets it wherever exp(-gamma*x) or exp(-beta*u) leaves float's normal range
// (x near -4.5 or above 87 for the paper's GoLU). So no operation here takes or makes a subnormal:
// flushed() stops at the normal range, and times(a, t) scales a*p by 2^n itself: where the result
// is below 2^-126, w = a*p * 2^(n+126) is normal and the result is w * 2^-126; for |w| < 1 (a
// subnormal result), w + 1 rounds |w| to the grid of [1, 2), spaced 2^-23, which 2^-126 scales to
// the subnormal spacing 2^-149, so the bits of |w| + 1 less those of 1 are the result's bits.
// NaN needs no select: it passes the clamp, the polynomial and the scaling as NaN.
// Measured against mpmath in tests/ops/test_accuracy.py.
#pragma once

namespace golu_mm {

// times(a, t) is 0 below Thresholds<float>::zero_below and flushed(x) is 0 below
// Thresholds<float>::flushed_below (golu_math.h, from golu_mm/constants.h; above it n >= -125).
constexpr float kExpMax = 89.0f;  // exp(x) is inf above 88.73: inputs are clamped here
// Float's smallest normal power of two is 2^kMinNormalExp. n is integral, so n < kBelowNormalN
// (between two integers, safe against rounding) selects n <= kMinNormalExp, the results that
// times() scales in two steps.
constexpr float kMinNormalExp = -126.0f;
constexpr float kBelowNormalN = kMinNormalExp + 0.5f;
// The smallest n exp_parts gives within times()'s clamp: round(zero_below * log2(e)) = -216,
// with one to spare.
constexpr float kLowestN = -217.0f;

// For the one-lane scalar loops: always take both forms and select (any() true, all() false), so
// that compilers can still vectorize them. Vector masks have their own any() and all().
static inline __attribute__((always_inline)) bool any(bool) { return true; }
static inline __attribute__((always_inline)) bool all(bool) { return false; }

template <typename V>
struct ExpParts {
  V p, n;  // exp(x) = p * 2^n, p in [0.7, 1.42], n integral
};

template <typename V>
inline __attribute__((always_inline)) ExpParts<V> exp_parts(V xc) {
  const V n = round_nearest(xc * V(1.44269504088896341f));  // in [kLowestN, 129]
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
  return {p, n};
}

// exp(x), and 0 where it would be below 2^-125: never subnormal.
template <typename V>
inline __attribute__((always_inline)) V exp_f32_flushed(V x) {
  const V lowest(Thresholds<float>::flushed_below);
  const ExpParts<V> e = exp_parts(clamp_keep_nan(x, lowest, V(kExpMax)));
  return golu_where(x < lowest, V(0.0f), scale_pow2(e.p, e.n));
}

// v * 2^n for n in [kLowestN, kMinNormalExp], as the comment at the top says:
// w = v * 2^(n+126), then scale_down_126(w) = w * 2^-126 without subnormal arithmetic.
template <typename V>
inline __attribute__((always_inline)) V scale_pow2_low(V v, V n) {
  const V n_up = clamp_keep_nan(n, V(kLowestN), V(kMinNormalExp)) + V(-kMinNormalExp);
  return scale_down_126(v * pow2(n_up));
}

// a * exp(t): 0 where exp(t) rounds to 0 (even for infinite a; NaN a stays NaN), else
// (a * p) * 2^n. Those lanes
// are computed as exp(0), so that only results below the normal range take scale_pow2_low, and
// vectors without such a lane skip it.
template <typename V>
inline __attribute__((always_inline)) V exp_f32_times(V a, V t) {
  const V zero_below(Thresholds<float>::zero_below);
  const auto zero = t < zero_below;
  const ExpParts<V> e = exp_parts(golu_where(zero, V(0.0f), clamp_keep_nan(t, zero_below, V(kExpMax))));
  const V v = a * e.p;
  const auto low = e.n < V(kBelowNormalN);
  const V r = !any(low) ? scale_pow2(v, e.n)
              : all(low) ? scale_pow2_low(v, e.n)
                         : golu_where(low, scale_pow2_low(v, e.n),
                                      scale_pow2(v, golu_where(low, V(0.0f), e.n)));
  return golu_where(zero, golu_where(a == a, V(0.0f), a), r);
}

struct ExpF32 {
  template <typename V>
  __attribute__((always_inline)) V flushed(V x) const { return exp_f32_flushed(x); }
  template <typename V>
  __attribute__((always_inline)) V times(V a, V t) const { return exp_f32_times(a, t); }
};

}  // namespace golu_mm

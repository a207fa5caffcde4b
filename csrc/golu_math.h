// GoLU(x) = x * g(x), g(x) = alpha * exp(-beta * exp(-gamma * x)): the math, shared by the CUDA
// kernels (T = float, double) and the CPU loops (T = a SIMD vector of floats, csrc/cpu/vec_*.h, or
// double). Branch-free: selects are golu_where, which vector types overload.
//
// Special values (see README): NaN -> NaN; +inf -> +inf with slope alpha; -inf -> 0 with slope 0.
// Finite inputs never produce NaN: every product that could be inf * 0 is guarded by a select.
// NaN needs no select: exp(NaN) is NaN and every guard below keeps it (NaN == 0 is false).
// Two exponentials per element, forward and backward; on the CPU no subnormal arithmetic.
#pragma once

#include <cmath>
#include "golu_mm/constants.h"

#if defined(__CUDACC__) || defined(__HIPCC__)
#define GOLU_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define GOLU_HOST_DEVICE inline __attribute__((always_inline))
#endif

namespace golu_mm {

// a where c holds, else b.
template <typename T>
GOLU_HOST_DEVICE T golu_where(bool c, T a, T b) {
  return c ? a : b;
}

template <typename T>
struct GoluParams {
  T alpha, beta, gamma;
};

// With alpha == 0, beta == 0 or gamma == 0 the gate is the constant c = alpha * exp(-beta) and
// GoLU is the linear map c * x. Callers handle that case with golu_linear_* (outside their loops:
// the general formulas below assume all three positive, so they contain no parameter-dependent
// selects).
template <typename T>
GOLU_HOST_DEVICE bool golu_is_linear(const GoluParams<T>& p) {
  return p.alpha == T(0) || p.beta == T(0) || p.gamma == T(0);
}

// The constant c = alpha * exp(-beta) for compute type T (float or double), on the host, by one rule
// for every path (golu_mm/ops/reference.py's too): the parameters rounded to T first, the product
// formed in double and rounded once to T.
template <typename T>
inline T golu_linear_slope(double alpha, double beta) {
  const double a = static_cast<T>(alpha), b = static_cast<T>(beta);
  return static_cast<T>(a * std::exp(-b));
}

// c * x, with 0 * inf taken as 0 (the function is identically 0 when c == 0).
template <typename T>
GOLU_HOST_DEVICE T golu_linear_forward(T x, T c) {
  return c == T(0) && x == x ? T(0) : c * x;
}

template <typename T>
GOLU_HOST_DEVICE T golu_linear_derivative(T x, T c) {
  return x != x ? x : c;
}

template <typename T>
GOLU_HOST_DEVICE T golu_linear_second_derivative(T x) {
  return x != x ? x : T(0);
}

// The exponential functor Exp has two forms of exp, so that CPU loops can avoid subnormal
// arithmetic (slow there, full speed on GPUs):
//   exp.flushed(t)  exp(t), or 0 where exp(t) is below float's normal range (CPU). Used for
//                   u = exp(-gamma*x), which only enters as beta*u and x*u: flushing a subnormal
//                   u changes GoLU and GoLU' only when beta > ~1e28.
//   exp.times(a, t) a * exp(t), rounded once even where exp(t) alone would be subnormal (the
//                   product may be normal, or hold more digits), 0 far below (golu_mm/constants.h:
//                   t < -150 in float32, -1400 in float64) even for infinite a (GoLU's limit at x = -inf);
//                   NaN a stays NaN (a NaN gradient from upstream propagates).
// The implementations: csrc/cpu/fast_exp.h (float32 vectors), ExpF64 in golu_cpu.cpp, CudaExp in
// golu_cuda.cu, and _times_exp in golu_mm/ops/reference.py.

// GoLU(x) = (alpha*x) * e with u = exp(-gamma*x), e = exp(-beta*u), for alpha, beta, gamma > 0.
template <typename T, typename Exp>
GOLU_HOST_DEVICE T golu_forward(T x, const GoluParams<T>& p, Exp exp) {
  const T u = exp.flushed(-p.gamma * x);
  return exp.times(p.alpha * x, -p.beta * u);
}

// golu_mm/constants.h's exponent thresholds in the compute type T (float for float and float
// vectors, double): the one name the kernels use for each. Below zero_below exp.times(a, t) is 0
// for every non-NaN a; below flushed_below the CPU forms take exp(t) as 0.
template <typename T>
struct Thresholds {
  static constexpr float zero_below = float(kZeroBelowF32);
  static constexpr float flushed_below = float(kFlushedBelowF32);
};
template <>
struct Thresholds<double> {
  static constexpr double zero_below = kZeroBelowF64;
  static constexpr double flushed_below = kFlushedBelowF64;
};

// grad * GoLU'(x), GoLU'(x) = (alpha + alpha*beta*gamma * x * u) * e, for alpha, beta, gamma > 0.
// grad is folded into the product with e, so that a subnormal GoLU'(x) never meets arithmetic. The
// second term is dropped where u is 0 (x -> +inf) and where e is 0 (x -> -inf: x * u may overflow
// there), so that a zero grad gives 0, never 0 * inf; a NaN grad stays NaN.
template <typename T, typename Exp>
GOLU_HOST_DEVICE T golu_backward(T grad, T x, const GoluParams<T>& p, Exp exp) {
  const T u = exp.flushed(-p.gamma * x);
  const T t = -p.beta * u;
  // x * u first: for x > 0 it is at most 1/(e*gamma), where (alpha*beta*gamma*x) could overflow
  T slope = golu_where(u == T(0), T(0), p.alpha * p.beta * p.gamma * (x * u));
  slope = golu_where(t < T(Thresholds<T>::zero_below), T(0), slope);
  return exp.times(grad * (p.alpha + slope), t);
}

// grad * GoLU''(x), GoLU''(x) = alpha*beta*gamma * u * (2 + gamma*x*(beta*u - 1)) * e, for alpha,
// beta, gamma > 0 (double backward). As in golu_backward, the factor before e is dropped where u
// is 0 and where e is 0 (it may overflow there), and grad is folded into the product with e.
template <typename T, typename Exp>
GOLU_HOST_DEVICE T golu_second(T grad, T x, const GoluParams<T>& p, Exp exp) {
  const T u = exp.flushed(-p.gamma * x);
  const T t = -p.beta * u;
  T factor = p.alpha * p.beta * p.gamma * u * (T(2) + p.gamma * x * (p.beta * u + T(-1)));
  factor = golu_where(u == T(0), T(0), factor);
  factor = golu_where(t < T(Thresholds<T>::zero_below), T(0), factor);
  return exp.times(grad * factor, t);
}

}  // namespace golu_mm

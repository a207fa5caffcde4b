// GoLU(x) = x * g(x), g(x) = alpha * exp(-beta * exp(-gamma * x)): the math, shared by the CUDA
// kernels (T = float, double) and the CPU loops (T = a SIMD vector of floats, csrc/cpu/vec_*.h, or
// double). Branch-free: selects are golu_where, which vector types overload.
//
// Special values (see README): NaN -> NaN; +inf -> +inf with slope alpha; -inf -> 0 with slope 0.
// Finite inputs never produce NaN: every product that could be inf * 0 is guarded by a select.
// NaN needs no select: exp(NaN) is NaN and every guard below keeps it (NaN == 0 is false).
// Two exponentials per element, forward and backward.
#pragma once

#include <cmath>

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

// With beta == 0 or gamma == 0 the gate is the constant c = alpha * exp(-beta) and GoLU is the
// linear map c * x. Callers handle that case with golu_linear_* (outside their loops: the general
// formulas below assume beta > 0 and gamma > 0, so they contain no parameter-dependent selects).
template <typename T>
GOLU_HOST_DEVICE bool golu_is_linear(const GoluParams<T>& p) {
  return p.beta == T(0) || p.gamma == T(0);
}

template <typename T, typename Exp>
GOLU_HOST_DEVICE T golu_linear_slope(const GoluParams<T>& p, Exp exp) {
  return p.alpha * exp(-p.beta);
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

// u = exp(-gamma*x) and e = exp(-beta*u); the gate is g = alpha * e.
template <typename T>
struct GoluGate {
  T u, e;
};

template <typename T, typename Exp>
GOLU_HOST_DEVICE GoluGate<T> golu_gate(T x, const GoluParams<T>& p, Exp exp) {
  const T u = exp(-p.gamma * x);
  return {u, exp(-p.beta * u)};
}

// GoLU(x) for beta, gamma > 0. x * g with g == 0 is 0 even for x = -inf (the limit).
template <typename T, typename Exp>
GOLU_HOST_DEVICE T golu_forward(T x, const GoluParams<T>& p, Exp exp) {
  const T g = p.alpha * golu_gate(x, p, exp).e;
  return golu_where(g == T(0), T(0), x * g);
}

// GoLU'(x) = e * (alpha + alpha*beta*gamma * x * u) for beta, gamma > 0. Where u overflows, e is
// 0 and so is the derivative; where u is 0 (x -> +inf) the second term is dropped, never inf * 0.
template <typename T, typename Exp>
GOLU_HOST_DEVICE T golu_derivative(T x, const GoluParams<T>& p, Exp exp) {
  const GoluGate<T> q = golu_gate(x, p, exp);
  const T slope = golu_where(q.u == T(0), T(0), p.alpha * p.beta * p.gamma * x * q.u);
  return golu_where(q.e == T(0), T(0), q.e * (p.alpha + slope));
}

}  // namespace golu_mm

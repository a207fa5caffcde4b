// GoLU's forward and backward loops over float32, bfloat16 and float16 memory, written once over a
// SIMD vector type V (csrc/cpu/vec_*.h): elements are loaded as float32, computed by golu_math.h and
// rounded once when stored. A last partial vector goes through a padded buffer, so every element
// takes the same path whatever its position.
//
// Instantiated once per instruction set, each in its own file compiled for that set
// (golu_cpu_avx512.cpp, golu_cpu_avx2.cpp) and for baseline x86-64 in golu_cpu.cpp; golu_cpu.cpp
// picks one at run time. The loops handle beta, gamma > 0 (golu_cpu.cpp does the linear case).
#pragma once

#include <cstdint>

#include "../golu_math.h"
#include "fast_exp.h"

namespace golu_mm {

// bfloat16 and float16 as stored: bit patterns, converted by each vector type.
struct Bf16 {
  uint16_t bits;
};
struct F16 {
  uint16_t bits;
};

template <typename T>
using ForwardLoop = void (*)(const T* x, T* y, int64_t n, GoluParams<float> p);
template <typename T>
using BackwardLoop = void (*)(const T* dy, const T* x, T* dx, int64_t n, GoluParams<float> p);

struct Loops {
  ForwardLoop<float> forward_f32;
  BackwardLoop<float> backward_f32;
  ForwardLoop<Bf16> forward_bf16;
  BackwardLoop<Bf16> backward_bf16;
  ForwardLoop<F16> forward_f16;
  BackwardLoop<F16> backward_f16;
};

// Defined by golu_cpu_avx512.cpp and golu_cpu_avx2.cpp; null where not compiled (not x86-64 GCC).
const Loops* avx512_loops();
const Loops* avx2_loops();

// Internal linkage: each file instantiating these gets its own copy, compiled for its target.
namespace {

template <typename T>
inline void copy_elements(const T* from, T* to, int64_t n) {
  for (int64_t i = 0; i < n; ++i) to[i] = from[i];
}

// out[i] = f(a[i], b[i]) over n elements, V::lanes at a time (b is ignored by unary f).
template <typename V, typename T, typename F>
inline __attribute__((always_inline)) void map(const T* a, const T* b, T* out, int64_t n, F f) {
  int64_t i = 0;
  for (; i + V::lanes <= n; i += V::lanes) f(V::load(a + i), V::load(b + i)).store(out + i);
  if (i == n) return;
  T pa[V::lanes] = {}, pb[V::lanes] = {}, po[V::lanes];
  copy_elements(a + i, pa, n - i);
  copy_elements(b + i, pb, n - i);
  f(V::load(pa), V::load(pb)).store(po);
  copy_elements(po, out + i, n - i);
}

template <typename V>
GoluParams<V> broadcast(const GoluParams<float>& p) {
  return {V(p.alpha), V(p.beta), V(p.gamma)};
}

template <typename V, typename T>
void forward(const T* x, T* y, int64_t n, GoluParams<float> p) {
  const GoluParams<V> pv = broadcast<V>(p);
  map<V>(x, x, y, n, [&](V xv, V) { return golu_forward(xv, pv, ExpF32{}); });
}

template <typename V, typename T>
void backward(const T* dy, const T* x, T* dx, int64_t n, GoluParams<float> p) {
  const GoluParams<V> pv = broadcast<V>(p);
  map<V>(dy, x, dx, n, [&](V g, V xv) { return golu_backward(g, xv, pv, ExpF32{}); });
}

template <typename V>
Loops loops_for() {
  return {forward<V, float>, backward<V, float>,
          forward<V, Bf16>,  backward<V, Bf16>,
          forward<V, F16>,   backward<V, F16>};
}

}  // namespace

}  // namespace golu_mm

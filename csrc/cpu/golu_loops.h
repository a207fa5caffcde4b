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

// The fused channel affine (+ residual, itself normalised per channel) + GoLU: the forward over
// one row of a channel, z = (x - center - center_lo)*scale + shift (+ (r - residual_center -
// residual_center_lo)*residual_scale, where r is not null), y = GoLU(z); x - center first,
// exact where x is near the center, then the low part of a float64 mean.
// The backward over one channel (`rows` rows of `inner` elements, `stride` apart) recomputes z,
// writes dx = gz*scale with gz = dy*GoLU'(z) (and dr = gz*residual_scale where dr is not null),
// and adds sum(gz), sum(gz*(x - center)) and, with r, sum(gz*(r - residual_center)) to sums[0],
// sums[1] and sums[2].
struct Affine {
  float scale, shift, center, residual_scale, residual_center, center_lo, residual_center_lo;
};
template <typename T>
using AffineForwardLoop = void (*)(const T* x, const T* r, T* y, int64_t n, Affine a,
                                   GoluParams<float> p);
template <typename T>
using AffineBackwardLoop = void (*)(const T* dy, const T* x, const T* r, T* dx, T* dr,
                                    int64_t rows, int64_t inner, int64_t stride, Affine a,
                                    GoluParams<float> p, double* sums);

// Per-channel moments for batch statistics: adds sum(x - shift) and sum((x - shift)^2) over one
// channel (rows as above) to sums[0] and sums[1] (two passes, the second shifted by the mean,
// keep them accurate).
template <typename T>
using MomentsLoop = void (*)(const T* x, int64_t rows, int64_t inner, int64_t stride, float shift,
                             double* sums);

// The loops of one storage type T: a loop of another type does not convert to these members, and
// loops_for fills them by name (backward and second share a signature).
template <typename T>
struct TypedLoops {
  ForwardLoop<T> forward;
  BackwardLoop<T> backward;
  BackwardLoop<T> second;  // grad * GoLU''(x)
  AffineForwardLoop<T> affine_forward;
  AffineBackwardLoop<T> affine_backward;
  MomentsLoop<T> moments;
};

// Every loop of one instruction set, by storage type: loops.of<T>().
struct Loops {
  TypedLoops<float> f32;
  TypedLoops<Bf16> bf16;
  TypedLoops<F16> f16;

  template <typename T>
  const TypedLoops<T>& of() const;
};
template <>
inline const TypedLoops<float>& Loops::of<float>() const { return f32; }
template <>
inline const TypedLoops<Bf16>& Loops::of<Bf16>() const { return bf16; }
template <>
inline const TypedLoops<F16>& Loops::of<F16>() const { return f16; }

// Defined by golu_cpu_avx512.cpp and golu_cpu_avx2.cpp; null where not compiled (not x86-64 GCC).
const Loops* avx512_loops();
const Loops* avx2_loops();

// Internal linkage: each file instantiating these gets its own copy, compiled for its target.
namespace {

// n < kLanes elements of a vector's partial tail, to or from a kLanes-element padded buffer.
// The bound i < kLanes - 1 (always true) tells GCC the buffers are never overrun: with one lane
// (the scalar loops) no tail exists, and GCC warned -Warray-bounds on the dead copies.
template <int kLanes, typename T>
inline void copy_elements(const T* from, T* to, int64_t n) {
  for (int64_t i = 0; i < n && i < kLanes - 1; ++i) to[i] = from[i];
}

// out[i] = f(a[i], b[i]) over n elements, V::lanes at a time (b is ignored by unary f).
template <typename V, typename T, typename F>
inline __attribute__((always_inline)) void map(const T* a, const T* b, T* out, int64_t n, F f) {
  int64_t i = 0;
  for (; i + V::lanes <= n; i += V::lanes) f(V::load(a + i), V::load(b + i)).store(out + i);
  if (i == n) return;
  T pa[V::lanes] = {}, pb[V::lanes] = {}, po[V::lanes];
  copy_elements<V::lanes>(a + i, pa, n - i);
  copy_elements<V::lanes>(b + i, pb, n - i);
  f(V::load(pa), V::load(pb)).store(po);
  copy_elements<V::lanes>(po, out + i, n - i);
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

template <typename V, typename T>
void second(const T* dy, const T* x, T* dx, int64_t n, GoluParams<float> p) {
  const GoluParams<V> pv = broadcast<V>(p);
  map<V>(dy, x, dx, n, [&](V g, V xv) { return golu_second(g, xv, pv, ExpF32{}); });
}

template <typename V, typename T>
void affine_forward(const T* x, const T* r, T* y, int64_t n, Affine a, GoluParams<float> p) {
  const GoluParams<V> pv = broadcast<V>(p);
  const V scale(a.scale), shift(a.shift), minus_center(-a.center), minus_lo(-a.center_lo);
  const V residual_scale(a.residual_scale), minus_residual_center(-a.residual_center);
  const V minus_residual_lo(-a.residual_center_lo);
  if (r == nullptr) {
    map<V>(x, x, y, n, [&](V xv, V) {
      return golu_forward(fmadd((xv + minus_center) + minus_lo, scale, shift), pv, ExpF32{});
    });
  } else {
    map<V>(x, r, y, n, [&](V xv, V rv) {
      const V z = fmadd((rv + minus_residual_center) + minus_residual_lo, residual_scale,
                        fmadd((xv + minus_center) + minus_lo, scale, shift));
      return golu_forward(z, pv, ExpF32{});
    });
  }
}

template <typename V>
double lane_sum(V v) {
  float lanes[V::lanes];
  v.store(lanes);
  double sum = 0;
  for (int k = 0; k < V::lanes; ++k) sum += lanes[k];
  return sum;
}

// Up to three sums of a channel: float32 lanes, added into out[0..kSums) in float64 every
// kSpillEvery vectors (and at the end): float32 lanes alone would lose long channels' sums.
template <typename V, int kSums>
struct ChannelSums {
  static constexpr int kSpillEvery = 256;
  V lanes[3] = {V(0.0f), V(0.0f), V(0.0f)};
  int pending = 0;
  double* out;

  explicit ChannelSums(double* out) : out(out) {}
  void step() {
    if (++pending == kSpillEvery) spill();
  }
  void spill() {
    for (int k = 0; k < kSums; ++k) {
      out[k] += lane_sum(lanes[k]);
      lanes[k] = V(0.0f);
    }
    pending = 0;
  }
};

// Calls f(offset, count) over a channel's rows, V::lanes elements at a time; a row's last partial
// vector goes through padded buffers in f (count < V::lanes).
template <typename V, typename F>
inline __attribute__((always_inline)) void over_rows(int64_t rows, int64_t inner, int64_t stride,
                                                     F f) {
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t base = row * stride;
    int64_t i = 0;
    for (; i + V::lanes <= inner; i += V::lanes) f(base + i, V::lanes);
    if (i < inner) f(base + i, inner - i);
  }
}

template <typename V, typename T>
void affine_backward(const T* dy, const T* x, const T* r, T* dx, T* dr, int64_t rows,
                     int64_t inner, int64_t stride, Affine a, GoluParams<float> p, double* sums) {
  const GoluParams<V> pv = broadcast<V>(p);
  const V scale(a.scale), shift(a.shift), minus_center(-a.center), minus_lo(-a.center_lo);
  const V residual_scale(a.residual_scale), minus_residual_center(-a.residual_center);
  const V minus_residual_lo(-a.residual_center_lo);
  ChannelSums<V, 3> acc(sums);
  const auto step = [&](const T* dyp, const T* xp, const T* rp, T* dxp, T* drp) {
    const V xc = (V::load(xp) + minus_center) + minus_lo;
    const V rc = rp == nullptr ? V(0.0f) : (V::load(rp) + minus_residual_center) + minus_residual_lo;
    const V z = fmadd(rc, residual_scale, fmadd(xc, scale, shift));
    const V g = golu_backward(V::load(dyp), z, pv, ExpF32{});
    (g * scale).store(dxp);
    if (drp != nullptr) (g * residual_scale).store(drp);
    acc.lanes[0] = acc.lanes[0] + g;
    acc.lanes[1] = fmadd(g, xc, acc.lanes[1]);
    if (rp != nullptr) acc.lanes[2] = fmadd(g, rc, acc.lanes[2]);
    acc.step();
  };
  over_rows<V>(rows, inner, stride, [&](int64_t at, int64_t count) {
    if (count == V::lanes) {
      step(dy + at, x + at, r == nullptr ? nullptr : r + at, dx + at,
           dr == nullptr ? nullptr : dr + at);
      return;
    }
    // zero padding: dy = 0 gives gz = 0, which adds nothing to the sums
    T pdy[V::lanes] = {}, px[V::lanes] = {}, pr[V::lanes] = {}, pdx[V::lanes], pdr[V::lanes];
    copy_elements<V::lanes>(dy + at, pdy, count);
    copy_elements<V::lanes>(x + at, px, count);
    if (r != nullptr) copy_elements<V::lanes>(r + at, pr, count);
    step(pdy, px, r == nullptr ? nullptr : pr, pdx, dr == nullptr ? nullptr : pdr);
    copy_elements<V::lanes>(pdx, dx + at, count);
    if (dr != nullptr) copy_elements<V::lanes>(pdr, dr + at, count);
  });
  acc.spill();
}

template <typename V, typename T>
void moments(const T* x, int64_t rows, int64_t inner, int64_t stride, float shift,
             double* sums) {
  const V minus_shift(-shift);
  ChannelSums<V, 2> acc(sums);
  over_rows<V>(rows, inner, stride, [&](int64_t at, int64_t count) {
    if (count == V::lanes) {
      const V d = V::load(x + at) + minus_shift;
      acc.lanes[0] = acc.lanes[0] + d;
      acc.lanes[1] = fmadd(d, d, acc.lanes[1]);
      acc.step();
      return;
    }
    T tail[V::lanes] = {};  // a row's last elements, widened through V, in float64
    float wide[V::lanes];
    copy_elements<V::lanes>(x + at, tail, count);
    V::load(tail).store(wide);
    for (int64_t j = 0; j < count; ++j) {
      const double d = static_cast<double>(wide[j]) - shift;
      sums[0] += d;
      sums[1] += d * d;
    }
  });
  acc.spill();
}

template <typename V, typename T>
TypedLoops<T> typed_loops_for() {
  TypedLoops<T> loops;
  loops.forward = forward<V, T>;
  loops.backward = backward<V, T>;
  loops.second = second<V, T>;
  loops.affine_forward = affine_forward<V, T>;
  loops.affine_backward = affine_backward<V, T>;
  loops.moments = moments<V, T>;
  return loops;
}

template <typename V>
Loops loops_for() {
  Loops loops;
  loops.f32 = typed_loops_for<V, float>();
  loops.bf16 = typed_loops_for<V, Bf16>();
  loops.f16 = typed_loops_for<V, F16>();
  return loops;
}

}  // namespace

}  // namespace golu_mm

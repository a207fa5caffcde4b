// CPU kernels: at::parallel_for over flat chunks. The float32 and bfloat16 loops are compiled
// three times, for AVX-512, AVX2+FMA and baseline x86-64, and the best one the CPU supports is
// picked once at run time; each auto-vectorizes because golu_math.h uses selects only and exp_f32
// is branch-free (setup.py passes -fno-trapping-math so selects may be if-converted on AVX2).
// float64 uses std::exp; bfloat16 is widened and rounded in the loops, float16 in small float32
// blocks.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "../golu.h"
#include "../golu_math.h"
#include "fast_exp.h"

namespace golu_mm {
namespace {

struct ExpF32 {
  __attribute__((always_inline)) float operator()(float v) const { return exp_f32(v); }
};
struct ExpF64 {
  double operator()(double v) const { return std::exp(v); }
};

constexpr int64_t kGrain = 1 << 15;  // elements per parallel task
constexpr int64_t kBlock = 256;      // float32 staging block for half types

// bfloat16 <-> float32 with bit operations only, so the loops below stay vectorizable. Widening
// is exact; narrowing rounds to nearest even and keeps NaN a NaN (as c10::BFloat16 does).
inline __attribute__((always_inline)) float bf16_to_f32(uint16_t v) {
  const uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  __builtin_memcpy(&f, &bits, sizeof f);
  return f;
}

inline __attribute__((always_inline)) uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  __builtin_memcpy(&bits, &f, sizeof bits);
  const uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
  return f != f ? uint16_t{0x7FC0} : static_cast<uint16_t>(rounded);
}

// The hot loops (general parameters), compiled once per instruction set.
#define GOLU_LOOPS(isa, target)                                                                \
  target void forward_f32_##isa(const float* __restrict x, float* __restrict y, int64_t n,     \
                                GoluParams<float> p) {                                         \
    for (int64_t i = 0; i < n; ++i) y[i] = golu_forward(x[i], p, ExpF32{});                    \
  }                                                                                            \
  target void backward_f32_##isa(const float* __restrict dy, const float* __restrict x,        \
                                 float* __restrict dx, int64_t n, GoluParams<float> p) {       \
    for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * golu_derivative(x[i], p, ExpF32{});        \
  }                                                                                            \
  target void forward_bf16_##isa(const uint16_t* __restrict x, uint16_t* __restrict y,         \
                                 int64_t n, GoluParams<float> p) {                             \
    for (int64_t i = 0; i < n; ++i)                                                            \
      y[i] = f32_to_bf16(golu_forward(bf16_to_f32(x[i]), p, ExpF32{}));                        \
  }                                                                                            \
  target void backward_bf16_##isa(const uint16_t* __restrict dy, const uint16_t* __restrict x, \
                                  uint16_t* __restrict dx, int64_t n, GoluParams<float> p) {   \
    for (int64_t i = 0; i < n; ++i)                                                            \
      dx[i] = f32_to_bf16(bf16_to_f32(dy[i]) *                                                 \
                          golu_derivative(bf16_to_f32(x[i]), p, ExpF32{}));                    \
  }

GOLU_LOOPS(baseline, )
#if defined(__x86_64__) && defined(__GNUC__)
GOLU_LOOPS(avx2, __attribute__((target("avx2,fma"))))
GOLU_LOOPS(avx512, __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma"))))
#endif
#undef GOLU_LOOPS

struct Loops {
  void (*forward_f32)(const float*, float*, int64_t, GoluParams<float>);
  void (*backward_f32)(const float*, const float*, float*, int64_t, GoluParams<float>);
  void (*forward_bf16)(const uint16_t*, uint16_t*, int64_t, GoluParams<float>);
  void (*backward_bf16)(const uint16_t*, const uint16_t*, uint16_t*, int64_t, GoluParams<float>);
};

#define GOLU_LOOPS_FOR(isa) \
  Loops { forward_f32_##isa, backward_f32_##isa, forward_bf16_##isa, backward_bf16_##isa }

const Loops& loops() {
  static const Loops chosen = [] {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
      return GOLU_LOOPS_FOR(avx512);
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      return GOLU_LOOPS_FOR(avx2);
#endif
    return GOLU_LOOPS_FOR(baseline);
  }();
  return chosen;
}
#undef GOLU_LOOPS_FOR

void forward_f64_general(const double* x, double* y, int64_t n, GoluParams<double> p) {
  for (int64_t i = 0; i < n; ++i) y[i] = golu_forward(x[i], p, ExpF64{});
}

void backward_f64_general(const double* dy, const double* x, double* dx, int64_t n,
                          GoluParams<double> p) {
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * golu_derivative(x[i], p, ExpF64{});
}

// The loops for any parameters: the general loop, or the linear map when beta or gamma is 0.
template <typename T, typename Exp, typename Loop>
void forward_loop(const T* x, T* y, int64_t n, const GoluParams<T>& p, Exp exp, Loop general) {
  if (!golu_is_linear(p)) return general(x, y, n, p);
  const T c = golu_linear_slope(p, exp);
  for (int64_t i = 0; i < n; ++i) y[i] = golu_linear_forward(x[i], c);
}

template <typename T, typename Exp, typename Loop>
void backward_loop(const T* dy, const T* x, T* dx, int64_t n, const GoluParams<T>& p, Exp exp,
                   Loop general) {
  if (!golu_is_linear(p)) return general(dy, x, dx, n, p);
  const T c = golu_linear_slope(p, exp);
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * golu_linear_derivative(x[i], c);
}

void forward_f32(const float* x, float* y, int64_t n, GoluParams<float> p) {
  forward_loop(x, y, n, p, ExpF32{}, loops().forward_f32);
}

void backward_f32(const float* dy, const float* x, float* dx, int64_t n, GoluParams<float> p) {
  backward_loop(dy, x, dx, n, p, ExpF32{}, loops().backward_f32);
}

void forward_f64(const double* x, double* y, int64_t n, GoluParams<double> p) {
  forward_loop(x, y, n, p, ExpF64{}, forward_f64_general);
}

void backward_f64(const double* dy, const double* x, double* dx, int64_t n,
                  GoluParams<double> p) {
  backward_loop(dy, x, dx, n, p, ExpF64{}, backward_f64_general);
}

GoluParams<float> narrowed(const GoluParams<double>& p) {
  return {static_cast<float>(p.alpha), static_cast<float>(p.beta), static_cast<float>(p.gamma)};
}

// Runs `f32` on float32 copies of blocks of the half-type inputs, rounding the result once.
template <typename scalar_t, typename F>
void widened(int64_t n, const scalar_t* a, const scalar_t* b, scalar_t* out, F f32) {
  float fa[kBlock], fb[kBlock], fo[kBlock];
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t m = std::min(kBlock, n - start);
    for (int64_t i = 0; i < m; ++i) fa[i] = static_cast<float>(a[start + i]);
    if (b != nullptr)
      for (int64_t i = 0; i < m; ++i) fb[i] = static_cast<float>(b[start + i]);
    f32(fa, fb, fo, m);
    for (int64_t i = 0; i < m; ++i) out[start + i] = static_cast<scalar_t>(fo[i]);
  }
}

// One block of elements per dtype: float32/float64 directly, half types through float32.
void forward_block(const float* x, float* y, int64_t n, const GoluParams<double>& p) {
  forward_f32(x, y, n, narrowed(p));
}
void forward_block(const double* x, double* y, int64_t n, const GoluParams<double>& p) {
  forward_f64(x, y, n, p);
}
template <typename half_t>
void forward_block(const half_t* x, half_t* y, int64_t n, const GoluParams<double>& p) {
  const GoluParams<float> pf = narrowed(p);
  widened<half_t>(n, x, nullptr, y,
                  [&](const float* a, const float*, float* o, int64_t m) { forward_f32(a, o, m, pf); });
}

void forward_block(const c10::BFloat16* x, c10::BFloat16* y, int64_t n,
                   const GoluParams<double>& p) {
  if (golu_is_linear(p)) return forward_block<c10::BFloat16>(x, y, n, p);
  loops().forward_bf16(reinterpret_cast<const uint16_t*>(x), reinterpret_cast<uint16_t*>(y), n,
                       narrowed(p));
}

void backward_block(const float* dy, const float* x, float* dx, int64_t n,
                    const GoluParams<double>& p) {
  backward_f32(dy, x, dx, n, narrowed(p));
}
void backward_block(const double* dy, const double* x, double* dx, int64_t n,
                    const GoluParams<double>& p) {
  backward_f64(dy, x, dx, n, p);
}
template <typename half_t>
void backward_block(const half_t* dy, const half_t* x, half_t* dx, int64_t n,
                    const GoluParams<double>& p) {
  const GoluParams<float> pf = narrowed(p);
  widened<half_t>(n, dy, x, dx, [&](const float* g, const float* xv, float* o, int64_t m) {
    backward_f32(g, xv, o, m, pf);
  });
}

void backward_block(const c10::BFloat16* dy, const c10::BFloat16* x, c10::BFloat16* dx, int64_t n,
                    const GoluParams<double>& p) {
  if (golu_is_linear(p)) return backward_block<c10::BFloat16>(dy, x, dx, n, p);
  loops().backward_bf16(reinterpret_cast<const uint16_t*>(dy),
                        reinterpret_cast<const uint16_t*>(x), reinterpret_cast<uint16_t*>(dx), n,
                        narrowed(p));
}

}  // namespace

void golu_forward_cpu(const at::Tensor& x, at::Tensor& out, double alpha, double beta,
                      double gamma) {
  const GoluParams<double> p{alpha, beta, gamma};
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "golu_cpu", [&] {
    const scalar_t* px = x.const_data_ptr<scalar_t>();
    scalar_t* py = out.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, x.numel(), kGrain, [&](int64_t begin, int64_t end) {
      forward_block(px + begin, py + begin, end - begin, p);
    });
  });
}

void golu_backward_cpu(const at::Tensor& grad, const at::Tensor& x, at::Tensor& out, double alpha,
                       double beta, double gamma) {
  const GoluParams<double> p{alpha, beta, gamma};
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "golu_backward_cpu", [&] {
        const scalar_t* pg = grad.const_data_ptr<scalar_t>();
        const scalar_t* px = x.const_data_ptr<scalar_t>();
        scalar_t* po = out.mutable_data_ptr<scalar_t>();
        at::parallel_for(0, x.numel(), kGrain, [&](int64_t begin, int64_t end) {
          backward_block(pg + begin, px + begin, po + begin, end - begin, p);
        });
      });
}

}  // namespace golu_mm

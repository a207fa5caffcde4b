// The CUDA kernels and their launch geometry, free of ATen: golu_cuda.cu launches them on a GPU,
// and tests/ops/cuda_emulation runs this same source on the CPU (threads as fibers) in CI.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "../golu_math.h"

namespace golu_mm {
namespace cuda_kernels {

// Subnormal arithmetic is full speed on GPUs, so flushed() is plain exp; times() still computes
// a * exp(t) in the log domain where exp(t) alone is below the normal range (rounding it first
// would lose the product's digits), and is 0 far below, as the CPU kernels and the reference are.
struct CudaExp {
  __device__ __forceinline__ float operator()(float v) const { return expf(v); }
  __device__ __forceinline__ double operator()(double v) const { return exp(v); }
  template <typename T>
  __device__ __forceinline__ T flushed(T v) const { return (*this)(v); }
  template <typename T>
  __device__ __forceinline__ T times(T a, T t) const {
    const T zero_below = T(Thresholds<T>::zero_below);
    const T e = (*this)(t);
    const T y = e < std::numeric_limits<T>::min() ? copysign((*this)(t + log(fabs(a))), a) : a * e;
    return t < zero_below && a == a ? T(0) : y;
  }
};

template <typename scalar_t>
using opmath_t = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;

template <typename T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

// out[i] = f(in0[i], in1[i]) for i < n; f gets its inputs widened to opmath_t.
template <int N, typename scalar_t, typename F>
__global__ void binary_kernel(const scalar_t* __restrict__ in0, const scalar_t* __restrict__ in1,
                              scalar_t* __restrict__ out, int64_t n, F f) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x * N;
  for (int64_t i = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * N; i < n;
       i += stride) {
    if (N > 1 && i + N <= n) {
      const Pack<scalar_t, N> a = *reinterpret_cast<const Pack<scalar_t, N>*>(in0 + i);
      Pack<scalar_t, N> b;
      if (in1 != nullptr) b = *reinterpret_cast<const Pack<scalar_t, N>*>(in1 + i);
      Pack<scalar_t, N> r;
#pragma unroll
      for (int k = 0; k < N; ++k)
        r.v[k] = static_cast<scalar_t>(
            f(static_cast<opmath_t<scalar_t>>(a.v[k]),
              in1 != nullptr ? static_cast<opmath_t<scalar_t>>(b.v[k]) : opmath_t<scalar_t>(0)));
      *reinterpret_cast<Pack<scalar_t, N>*>(out + i) = r;
    } else {
      for (int64_t j = i; j < n && j < i + N; ++j)
        out[j] = static_cast<scalar_t>(
            f(static_cast<opmath_t<scalar_t>>(in0[j]),
              in1 != nullptr ? static_cast<opmath_t<scalar_t>>(in1[j]) : opmath_t<scalar_t>(0)));
    }
  }
}

// Vector loads and stores (16 bytes) only when every pointer is aligned to them.
inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Blocks for an elementwise launch of kThreads threads over n elements, per_thread each: enough to
// cover n, at most 4 waves of the GPU's resident blocks.
constexpr int kThreads = 256;
inline unsigned elementwise_blocks(int64_t n, int per_thread, int sm_count, int max_threads_per_sm) {
  const int64_t max_blocks = static_cast<int64_t>(sm_count) * (max_threads_per_sm / kThreads) * 4;
  const int64_t needed = (n + static_cast<int64_t>(kThreads) * per_thread - 1) /
                         (static_cast<int64_t>(kThreads) * per_thread);
  return static_cast<unsigned>(std::max<int64_t>(1, std::min(needed, max_blocks)));
}

// The elementwise functions; with alpha, beta or gamma == 0 GoLU is the linear map c * x
// (golu_math.h), decided once on the host: a uniform branch in the kernel.
template <typename T>
struct ForwardFn {
  GoluParams<T> p;
  bool linear;
  T c;
  __device__ __forceinline__ T operator()(T x, T) const {
    return linear ? golu_linear_forward(x, c) : golu_forward(x, p, CudaExp{});
  }
};

template <typename T>
struct BackwardFn {
  GoluParams<T> p;
  bool linear;
  T c;
  __device__ __forceinline__ T operator()(T dy, T x) const {
    return linear ? dy * golu_linear_derivative(x, c) : golu_backward(dy, x, p, CudaExp{});
  }
};

template <typename T>
struct SecondFn {
  GoluParams<T> p;
  bool linear;
  T c;
  __device__ __forceinline__ T operator()(T dy, T x) const {
    return linear ? dy * golu_linear_second_derivative(x) : golu_second(dy, x, p, CudaExp{});
  }
};

template <typename T>
GoluParams<T> params(double alpha, double beta, double gamma) {
  return {static_cast<T>(alpha), static_cast<T>(beta), static_cast<T>(gamma)};
}

template <typename Fn, typename T>
Fn elementwise(double alpha, double beta, double gamma) {
  const GoluParams<T> p = params<T>(alpha, beta, gamma);
  return Fn{p, golu_is_linear(p), golu_linear_slope<T>(alpha, beta)};
}

// The fused affine + GoLU (batch_norm_golu.h): one thread per element forward; backward, a row of blocks
// per channel (blockIdx.x = channel), reduced per block and added to the channel's sums with
// atomics (so their float rounding depends on the blocks' order).
constexpr int kAffineThreads = 256;

// Channel c's affine; absent residual tensors read as scale 1, center 0 (center_lo: the part of
// a float64 mean beyond its float32 center, 0 where absent).
template <typename T>
struct ChannelAffine {
  const T *scale, *shift, *residual_scale, *center, *residual_center;
  const T *center_lo = nullptr, *residual_center_lo = nullptr;
  __device__ __forceinline__ T get(const T* p, int64_t c, T absent) const {
    return p != nullptr ? p[c] : absent;
  }
};

// Forward: one thread per element, at most 8 blocks per SM.
inline unsigned affine_forward_blocks(int64_t n, int sm_count) {
  const int64_t max_blocks = static_cast<int64_t>(sm_count) * 8;
  return static_cast<unsigned>(
      std::max<int64_t>(1, std::min((n + kAffineThreads - 1) / kAffineThreads, max_blocks)));
}

// Backward: blocks per channel (gridDim.y), so that all channels together fill ~8 blocks per SM.
inline unsigned affine_backward_splits(int64_t channels, int64_t per_channel, int sm_count) {
  const int64_t wanted = std::max<int64_t>(1, sm_count * 8 / channels);
  const int64_t splits = std::min<int64_t>(
      {wanted, (per_channel + kAffineThreads - 1) / kAffineThreads, int64_t{65535}});
  return static_cast<unsigned>(std::max<int64_t>(1, splits));
}

template <typename scalar_t>
__global__ void affine_forward_kernel(const scalar_t* __restrict__ x,
                                      const scalar_t* __restrict__ r, scalar_t* __restrict__ y,
                                      ChannelAffine<opmath_t<scalar_t>> a, int64_t n,
                                      int64_t inner, int64_t channels,
                                      GoluParams<opmath_t<scalar_t>> p) {
  using T = opmath_t<scalar_t>;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const int64_t c = (i / inner) % channels;
    T z = fma((static_cast<T>(x[i]) - a.get(a.center, c, T(0))) - a.get(a.center_lo, c, T(0)),
              a.scale[c], a.shift[c]);
    if (r != nullptr)
      z = fma((static_cast<T>(r[i]) - a.get(a.residual_center, c, T(0))) -
                  a.get(a.residual_center_lo, c, T(0)),
              a.get(a.residual_scale, c, T(1)), z);
    y[i] = static_cast<scalar_t>(golu_forward(z, p, CudaExp{}));
  }
}

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

template <typename scalar_t>
__global__ void affine_backward_kernel(const scalar_t* __restrict__ dy,
                                       const scalar_t* __restrict__ x,
                                       const scalar_t* __restrict__ r, scalar_t* __restrict__ dx,
                                       scalar_t* __restrict__ dr,
                                       ChannelAffine<opmath_t<scalar_t>> a,
                                       opmath_t<scalar_t>* __restrict__ sums, int64_t batch,
                                       int64_t inner, int64_t channels,
                                       GoluParams<opmath_t<scalar_t>> p) {
  using T = opmath_t<scalar_t>;
  const int64_t c = blockIdx.x, per_channel = batch * inner;
  const T s = a.scale[c], b = a.shift[c], m = a.get(a.center, c, T(0));
  const T rs = a.get(a.residual_scale, c, T(1)), rm = a.get(a.residual_center, c, T(0));
  const T m_lo = a.get(a.center_lo, c, T(0)), rm_lo = a.get(a.residual_center_lo, c, T(0));
  T acc[3] = {0, 0, 0};
  const int64_t stride = static_cast<int64_t>(gridDim.y) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x; k < per_channel;
       k += stride) {
    const int64_t n = k / inner;
    const int64_t i = (n * channels + c) * inner + (k - n * inner);
    const T xc = (static_cast<T>(x[i]) - m) - m_lo;
    const T rc = r != nullptr ? (static_cast<T>(r[i]) - rm) - rm_lo : T(0);
    const T g = golu_backward(static_cast<T>(dy[i]), fma(rc, rs, fma(xc, s, b)), p, CudaExp{});
    dx[i] = static_cast<scalar_t>(g * s);
    if (dr != nullptr) dr[i] = static_cast<scalar_t>(g * rs);
    acc[0] += g;
    acc[1] += g * xc;
    if (r != nullptr) acc[2] += g * rc;
  }
  __shared__ T partial[3][kAffineThreads / 32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int j = 0; j < 3; ++j) {
    const T v = warp_sum(acc[j]);
    if (lane == 0) partial[j][warp] = v;
  }
  __syncthreads();
  if (warp != 0) return;
  const bool live = lane < static_cast<int>(blockDim.x / 32);
  for (int j = 0; j < 3; ++j) {
    const T v = warp_sum(live ? partial[j][lane] : T(0));
    if (lane == 0) atomicAdd(sums + j * channels + c, v);
  }
}

}  // namespace cuda_kernels
}  // namespace golu_mm

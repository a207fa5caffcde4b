// The CUDA kernels of csrc/cuda/golu_kernels.cuh, launched as golu_cuda.cu launches them (same
// geometry functions, an emulated GPU of `sms` multiprocessors of 2048 threads), on the CPU through
// cuda_emulation.h. A C interface for ctypes: dtype 0 is float32, 1 is float64.
#include "cuda_emulation.h"
#include "cuda/golu_kernels.cuh"

using namespace golu_mm;
using namespace golu_mm::cuda_kernels;

namespace {

constexpr int kMaxThreadsPerSm = 2048;

template <typename T, typename Fn>
void elementwise_launch(const void* in0_, const void* in1_, void* out_, int64_t n, double alpha,
                        double beta, double gamma, unsigned seed, int sms) {
  const T* in0 = static_cast<const T*>(in0_);
  const T* in1 = static_cast<const T*>(in1_);
  T* out = static_cast<T*>(out_);
  constexpr int kVec = 16 / sizeof(T);
  const bool vec = aligned16(in0) && aligned16(out) && (in1 == nullptr || aligned16(in1));
  const unsigned blocks = elementwise_blocks(n, vec ? kVec : 1, sms, kMaxThreadsPerSm);
  const Fn f = elementwise<Fn, T>(alpha, beta, gamma);
  emu::launch(dim3(blocks), dim3(kThreads), seed, [&] {
    if (vec)
      binary_kernel<kVec>(in0, in1, out, n, f);
    else
      binary_kernel<1>(in0, in1, out, n, f);
  });
}

template <typename T>
void golu_launch(int op, const void* in0, const void* in1, void* out, int64_t n, double alpha,
                 double beta, double gamma, unsigned seed, int sms) {
  if (op == 0)
    elementwise_launch<T, ForwardFn<T>>(in0, nullptr, out, n, alpha, beta, gamma, seed, sms);
  else if (op == 1)
    elementwise_launch<T, BackwardFn<T>>(in0, in1, out, n, alpha, beta, gamma, seed, sms);
  else
    elementwise_launch<T, SecondFn<T>>(in0, in1, out, n, alpha, beta, gamma, seed, sms);
}

template <typename T>
ChannelAffine<T> affine(const void* scale, const void* shift, const void* residual_scale,
                        const void* center, const void* residual_center) {
  return {static_cast<const T*>(scale), static_cast<const T*>(shift),
          static_cast<const T*>(residual_scale), static_cast<const T*>(center),
          static_cast<const T*>(residual_center)};
}

}  // namespace

extern "C" {

// op 0: out = GoLU(in0); 1: out = in0 * GoLU'(in1); 2: out = in0 * GoLU''(in1).
void emu_golu(int op, int dtype, const void* in0, const void* in1, void* out, int64_t n,
              double alpha, double beta, double gamma, unsigned seed, int sms) {
  if (dtype == 0)
    golu_launch<float>(op, in0, in1, out, n, alpha, beta, gamma, seed, sms);
  else
    golu_launch<double>(op, in0, in1, out, n, alpha, beta, gamma, seed, sms);
}

// y = GoLU((x - center[c])*scale[c] + shift[c] + (r - residual_center[c])*residual_scale[c])
// over (batch, channels, inner).
void emu_affine_forward(int dtype, const void* x, const void* r, void* y, const void* scale,
                        const void* shift, const void* residual_scale, const void* center,
                        const void* residual_center, int64_t batch, int64_t channels,
                        int64_t inner, double alpha, double beta, double gamma, unsigned seed,
                        int sms) {
  const int64_t n = batch * channels * inner;
  const unsigned blocks = affine_forward_blocks(n, sms);
  const auto run = [&](auto zero) {
    using T = decltype(zero);
    const auto a = affine<T>(scale, shift, residual_scale, center, residual_center);
    emu::launch(dim3(blocks), dim3(kAffineThreads), seed, [&] {
      affine_forward_kernel<T>(static_cast<const T*>(x), static_cast<const T*>(r),
                               static_cast<T*>(y), a, n, inner, channels,
                               params<T>(alpha, beta, gamma));
    });
  };
  if (dtype == 0) run(0.0f); else run(0.0);
}

// dx, dr (when given) and sums (3 x channels, zeroed by the caller) as batch_norm_golu.h documents.
void emu_affine_backward(int dtype, const void* dy, const void* x, const void* r, void* dx,
                         void* dr, const void* scale, const void* shift,
                         const void* residual_scale, const void* center,
                         const void* residual_center, void* sums, int64_t batch,
                         int64_t channels, int64_t inner, double alpha, double beta, double gamma,
                         unsigned seed, int sms) {
  const dim3 grid(static_cast<unsigned>(channels),
                  affine_backward_splits(channels, batch * inner, sms));
  const auto run = [&](auto zero) {
    using T = decltype(zero);
    const auto a = affine<T>(scale, shift, residual_scale, center, residual_center);
    emu::launch(grid, dim3(kAffineThreads), seed, [&] {
      affine_backward_kernel<T>(static_cast<const T*>(dy), static_cast<const T*>(x),
                                static_cast<const T*>(r), static_cast<T*>(dx),
                                static_cast<T*>(dr), a, static_cast<T*>(sums), batch, inner,
                                channels, params<T>(alpha, beta, gamma));
    });
  };
  if (dtype == 0) run(0.0f); else run(0.0);
}

// warp_sum of each lane's index in a block of `threads` threads into out[0] (lane 0 of warp 0):
// the emulation must refuse a block that is not whole warps.
void emu_warp_sum(int threads, float* out) {
  emu::launch(dim3(1), dim3(static_cast<unsigned>(threads)), 0, [&] {
    const float total = warp_sum(static_cast<float>(threadIdx.x));
    if (threadIdx.x == 0) out[0] = total;
  });
}

}  // extern "C"

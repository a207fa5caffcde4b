// CUDA kernels (golu_kernels.cuh): grid-stride loops with 64-bit indices over dense storage,
// 16-byte vector loads and stores when every pointer is aligned, math in float32 for half types
// (float64 stays float64), launched here on the current stream of the input's device.
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <cstdint>

#include "../batch_norm_golu.h"
#include "../golu.h"
#include "golu_kernels.cuh"

namespace golu_mm {
namespace {

using namespace cuda_kernels;

template <typename scalar_t, typename F>
void launch(const scalar_t* in0, const scalar_t* in1, scalar_t* out, int64_t n, F f) {
  constexpr int kVec = 16 / sizeof(scalar_t);
  const bool vec = aligned16(in0) && aligned16(out) && (in1 == nullptr || aligned16(in1));
  const auto* props = at::cuda::getCurrentDeviceProperties();
  const unsigned blocks = elementwise_blocks(n, vec ? kVec : 1, props->multiProcessorCount,
                                             props->maxThreadsPerMultiProcessor);
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  if (vec)
    binary_kernel<kVec><<<blocks, kThreads, 0, stream>>>(in0, in1, out, n, f);
  else
    binary_kernel<1><<<blocks, kThreads, 0, stream>>>(in0, in1, out, n, f);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void golu_forward_cuda(const at::Tensor& x, at::Tensor& out, double alpha, double beta,
                       double gamma) {
  const c10::cuda::CUDAGuard guard(x.device());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "golu_cuda", [&] {
    using T = opmath_t<scalar_t>;
    launch<scalar_t>(x.const_data_ptr<scalar_t>(), nullptr, out.mutable_data_ptr<scalar_t>(),
                     x.numel(), elementwise<ForwardFn<T>, T>(alpha, beta, gamma));
  });
}

// dx = grad * GoLU'(x) (Fn = BackwardFn) or grad * GoLU''(x) (SecondFn).
template <template <typename> class Fn>
void golu_derivative_cuda(const at::Tensor& grad, const at::Tensor& x, at::Tensor& out,
                          double alpha, double beta, double gamma) {
  const c10::cuda::CUDAGuard guard(x.device());
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "golu_derivative_cuda", [&] {
        using T = opmath_t<scalar_t>;
        launch<scalar_t>(grad.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
                         out.mutable_data_ptr<scalar_t>(), x.numel(),
                         elementwise<Fn<T>, T>(alpha, beta, gamma));
      });
}

template <typename T>
ChannelAffine<T> channel_affine(const AffineGoluArgs& a) {
  return {a.scale.const_data_ptr<T>(), a.shift.const_data_ptr<T>(), data_or_null<T>(a.residual_scale),
          data_or_null<T>(a.center), data_or_null<T>(a.residual_center),
          data_or_null<T>(a.center_lo), data_or_null<T>(a.residual_center_lo)};
}

void affine_golu_forward_cuda(const AffineGoluArgs& a, at::Tensor& out) {
  const c10::cuda::CUDAGuard guard(a.x.device());
  const int64_t n = a.x.numel();
  const unsigned blocks =
      affine_forward_blocks(n, at::cuda::getCurrentDeviceProperties()->multiProcessorCount);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, a.x.scalar_type(), "affine_golu_cuda", [&] {
    using T = opmath_t<scalar_t>;
    affine_forward_kernel<scalar_t><<<blocks, kAffineThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        a.x.const_data_ptr<scalar_t>(), data_or_null<scalar_t>(a.residual),
        out.mutable_data_ptr<scalar_t>(), channel_affine<T>(a), n, a.inner, a.x.size(1),
        params<T>(a.params.alpha, a.params.beta, a.params.gamma));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

void affine_golu_backward_cuda(const AffineGoluArgs& a, const at::Tensor& grad, at::Tensor& dx,
                               at::Tensor& dr, at::Tensor& sums) {
  const c10::cuda::CUDAGuard guard(a.x.device());
  const int64_t channels = a.x.size(1), batch = a.x.size(0), per_channel = batch * a.inner;
  const dim3 grid(static_cast<unsigned>(channels),
                  affine_backward_splits(channels, per_channel,
                                         at::cuda::getCurrentDeviceProperties()->multiProcessorCount));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, a.x.scalar_type(), "affine_golu_backward_cuda", [&] {
    using T = opmath_t<scalar_t>;
    affine_backward_kernel<scalar_t><<<grid, kAffineThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        grad.const_data_ptr<scalar_t>(), a.x.const_data_ptr<scalar_t>(),
        data_or_null<scalar_t>(a.residual), dx.mutable_data_ptr<scalar_t>(),
        dr.defined() ? dr.mutable_data_ptr<scalar_t>() : nullptr, channel_affine<T>(a),
        sums.mutable_data_ptr<T>(), batch, a.inner, channels,
        params<T>(a.params.alpha, a.params.beta, a.params.gamma));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(golu_mm, CUDA, m) {
  m.impl("golu", &golu_op<golu_forward_cuda>);
  m.impl("golu_backward", &golu_backward_op<golu_derivative_cuda<BackwardFn>>);
  m.impl("golu_second", &golu_backward_op<golu_derivative_cuda<SecondFn>>);
  m.impl("batch_norm_golu", &batch_norm_golu_op<affine_golu_forward_cuda>);
  m.impl("batch_norm_golu_backward", &batch_norm_golu_backward_op<affine_golu_backward_cuda>);
}

}  // namespace golu_mm

// The fused batch norm (+ residual batch norm) + GoLU operator, generic over a backend's kernels
// (batch_norm_golu.cpp registers the CPU ones, cuda/golu_cuda.cu the CUDA ones): its arguments
// as the kernels take them, the kernel signatures, and the forward and backward.
#pragma once

#include <ATen/ATen.h>

#include <tuple>

#include "golu_math.h"

namespace golu_mm {

// The fused channel affine + residual + GoLU, y = GoLU((x - center[c] - center_lo[c])*scale[c] +
// shift[c] + (residual - residual_center[c] - residual_center_lo[c])*residual_scale[c]), over x
// of shape (N, C, *): the kernels see contiguous x (and residual, grad), `inner` elements per
// (n, c) row, and the per-channel tensors in the compute type (float64 for float64 x, else
// float32; a center_lo holds what a float64 mean has beyond its float32 center). Optional
// tensors are undefined when absent (a residual without residual_scale and residual_center is
// added as is; a missing center_lo is 0).
struct AffineGoluArgs {
  at::Tensor x, residual, scale, shift, residual_scale, center, residual_center, center_lo,
      residual_center_lo;
  int64_t inner;
  GoluParams<double> params;
};
using AffineForwardKernel = void (*)(const AffineGoluArgs& a, at::Tensor& out);
// Writes dx = gz*scale[c] with gz = grad*GoLU'(z), dresidual = gz*residual_scale[c] when `dr` is
// defined, and sums[0][c] = sum(gz), sums[1][c] = sum(gz*(x - center[c])), sums[2][c] =
// sum(gz*(residual - residual_center[c])) (0 without a residual).
using AffineBackwardKernel = void (*)(const AffineGoluArgs& a, const at::Tensor& grad,
                                      at::Tensor& dx, at::Tensor& dr, at::Tensor& sums);
// A channel normalisation as the kernels apply it: per-channel mean, (biased) variance, weight
// and bias in any floating dtype (weight/bias undefined when absent), and eps. (Python's
// BatchNormArgs is a BatchNorm module's state: running statistics and momentum.)
struct ChannelNorm {
  at::Tensor mean, var, weight, bias;
  double eps;
};

// Checks the fused op's arguments (norm_r: the residual's batch norm, mean undefined when the
// residual is added as is) and lays them out for the kernels: scale, shift and center from the
// batch norms; `invstd` and `residual_invstd` get 1/sqrt(var + eps).
AffineGoluArgs batch_norm_golu_args(const at::Tensor& x, const ChannelNorm& norm,
                                    const c10::optional<at::Tensor>& residual,
                                    const ChannelNorm& norm_r, double alpha, double beta,
                                    double gamma, at::Tensor* invstd, at::Tensor* residual_invstd);
void check_like_input(const char* name, const at::Tensor& t, const at::Tensor& x);

template <AffineForwardKernel kernel>
at::Tensor batch_norm_golu_op(const at::Tensor& x, const at::Tensor& mean, const at::Tensor& var,
                              const c10::optional<at::Tensor>& weight,
                              const c10::optional<at::Tensor>& bias, double eps,
                              const c10::optional<at::Tensor>& residual,
                              const c10::optional<at::Tensor>& residual_mean,
                              const c10::optional<at::Tensor>& residual_var,
                              const c10::optional<at::Tensor>& residual_weight,
                              const c10::optional<at::Tensor>& residual_bias, double residual_eps,
                              double alpha, double beta, double gamma) {
  const AffineGoluArgs a = batch_norm_golu_args(
      x, {mean, var, weight.value_or(at::Tensor()), bias.value_or(at::Tensor()), eps}, residual,
      {residual_mean.value_or(at::Tensor()), residual_var.value_or(at::Tensor()),
       residual_weight.value_or(at::Tensor()), residual_bias.value_or(at::Tensor()), residual_eps},
      alpha, beta, gamma, nullptr, nullptr);
  at::Tensor out = at::empty_like(a.x);
  if (out.numel() > 0) kernel(a, out);
  return out;
}

// dx = gz * scale (the whole gradient with running statistics), dresidual likewise when
// residual_grad, and sums = [sum(gz), sum(gz * x_hat), sum(gz * residual_hat)]: the bias, weight
// and residual weight gradients (x_hat = (x - mean) / sqrt(var + eps)).
template <AffineBackwardKernel kernel>
std::tuple<at::Tensor, at::Tensor, at::Tensor> batch_norm_golu_backward_op(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& mean, const at::Tensor& var,
    const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias, double eps,
    const c10::optional<at::Tensor>& residual, const c10::optional<at::Tensor>& residual_mean,
    const c10::optional<at::Tensor>& residual_var,
    const c10::optional<at::Tensor>& residual_weight,
    const c10::optional<at::Tensor>& residual_bias, double residual_eps, double alpha,
    double beta, double gamma, bool residual_grad) {
  at::Tensor invstd, residual_invstd;
  const AffineGoluArgs a = batch_norm_golu_args(
      x, {mean, var, weight.value_or(at::Tensor()), bias.value_or(at::Tensor()), eps}, residual,
      {residual_mean.value_or(at::Tensor()), residual_var.value_or(at::Tensor()),
       residual_weight.value_or(at::Tensor()), residual_bias.value_or(at::Tensor()), residual_eps},
      alpha, beta, gamma, &invstd, &residual_invstd);
  check_like_input("grad", grad, x);
  TORCH_CHECK(!residual_grad || a.residual.defined(),
              "batch_norm_golu_backward: residual_grad needs a residual");
  at::Tensor dx = at::empty_like(a.x);
  at::Tensor dr = residual_grad ? at::empty_like(a.x) : at::Tensor();
  at::Tensor sums = at::zeros({3, x.size(1)}, a.scale.options());
  if (dx.numel() > 0) kernel(a, grad.contiguous(), dx, dr, sums);
  sums[1].mul_(invstd);
  if (residual_invstd.defined()) sums[2].mul_(residual_invstd);
  return {dx, residual_grad ? dr : at::empty({0}, x.options()), sums};
}

}  // namespace golu_mm

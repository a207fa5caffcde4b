// The elementwise golu operators, generic over a backend's kernels (golu.cpp registers the CPU
// ones, cuda/golu_cuda.cu the CUDA ones): argument checks, layout, kernel signatures.
#pragma once

#include <ATen/ATen.h>

#include "golu_math.h"

namespace golu_mm {

// Argument checks shared by every backend: floating dtype (TypeError), finite non-negative
// alpha/beta/gamma (ValueError); for the backward also matching shapes, dtypes and devices.
void check_golu_args(const at::Tensor& x, double alpha, double beta, double gamma);
void check_golu_backward_args(const at::Tensor& grad, const at::Tensor& x, double alpha,
                              double beta, double gamma);

// `t` itself when it is non-overlapping and dense (any memory format: contiguous, channels_last,
// permuted), else a copy in its suggested memory format. Kernels then treat storage as flat.
at::Tensor dense(const at::Tensor& t);
// `t` with exactly the strides of the dense tensor `like` (copied only when they differ).
at::Tensor laid_out_like(const at::Tensor& t, const at::Tensor& like);

// Kernel signatures: inputs are dense and share strides; `out` is at::empty_like of them.
using ForwardKernel = void (*)(const at::Tensor& x, at::Tensor& out, double alpha, double beta,
                               double gamma);
using BackwardKernel = void (*)(const at::Tensor& grad, const at::Tensor& x, at::Tensor& out,
                                double alpha, double beta, double gamma);

// t's data, or null for an undefined (absent optional) tensor.
template <typename T>
const T* data_or_null(const at::Tensor& t) {
  return t.defined() ? t.const_data_ptr<T>() : nullptr;
}

// The operators, generic over the backend's kernels: check, lay out, allocate, launch.
template <ForwardKernel kernel>
at::Tensor golu_op(const at::Tensor& x, double alpha, double beta, double gamma) {
  check_golu_args(x, alpha, beta, gamma);
  const at::Tensor xd = dense(x);
  at::Tensor out = at::empty_like(xd);
  if (out.numel() > 0) kernel(xd, out, alpha, beta, gamma);
  return out;
}

template <BackwardKernel kernel>
at::Tensor golu_backward_op(const at::Tensor& grad, const at::Tensor& x, double alpha, double beta,
                            double gamma) {
  check_golu_backward_args(grad, x, alpha, beta, gamma);
  const at::Tensor xd = dense(x);
  const at::Tensor gd = laid_out_like(grad, xd);
  at::Tensor out = at::empty_like(xd);
  if (out.numel() > 0) kernel(gd, xd, out, alpha, beta, gamma);
  return out;
}

}  // namespace golu_mm

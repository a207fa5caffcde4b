// The CPU kernels (golu_cpu.cpp), as golu.cpp and batch_norm_golu.cpp register them.
#pragma once

#include <ATen/ATen.h>

#include "../batch_norm_golu.h"

namespace golu_mm {

// The instruction set the CPU kernels run with: "avx512", "avx2" or "scalar".
const char* cpu_isa();

void golu_forward_cpu(const at::Tensor& x, at::Tensor& out, double alpha, double beta,
                      double gamma);
void golu_backward_cpu(const at::Tensor& grad, const at::Tensor& x, at::Tensor& out, double alpha,
                       double beta, double gamma);
// grad * GoLU''(x), for double backward (a BackwardKernel).
void golu_second_cpu(const at::Tensor& grad, const at::Tensor& x, at::Tensor& out, double alpha,
                     double beta, double gamma);

void affine_golu_forward_cpu(const AffineGoluArgs& a, at::Tensor& out);
void affine_golu_backward_cpu(const AffineGoluArgs& a, const at::Tensor& grad, at::Tensor& dx,
                              at::Tensor& dr, at::Tensor& sums);

// Per-channel mean and biased variance of contiguous x (N, C, *) in the compute type (the
// batch statistics of a batch norm), `inner` elements per (n, c) row.
void channel_moments_cpu(const at::Tensor& x, int64_t inner, at::Tensor& mean, at::Tensor& var);

}  // namespace golu_mm

// The elementwise operators golu_mm::golu, golu_backward (grad * GoLU'(x)) and golu_second
// (grad * GoLU''(x)): their schemas, their argument checks (the only ones: Python's golu() passes
// parameters on as floats) and layout helpers, and the CPU registration. CUDA:
// cuda/golu_cuda.cu; autograd: golu_autograd.cpp.
#include <algorithm>
#include <cmath>
#include <limits>

#include <torch/library.h>

#include "cpu/golu_cpu.h"
#include "golu.h"

namespace golu_mm {

namespace {
void check_param(const char* name, double value) {
  TORCH_CHECK_VALUE(std::isfinite(value) && value >= 0.0, "golu: ", name,
                    " must be finite and non-negative, got ", value);
}

// Nonzero parameters, and their product, must be normal numbers of the compute type (float32 for
// float32 / float16 / bfloat16 input): beyond that the kernels' guards against inf * 0 fail.
void check_params_fit(at::ScalarType dtype, double alpha, double beta, double gamma) {
  const bool wide = dtype == at::kDouble;
  const double tiny = wide ? std::numeric_limits<double>::min() : std::numeric_limits<float>::min();
  const double max = wide ? std::numeric_limits<double>::max() : std::numeric_limits<float>::max();
  const auto fits = [&](const char* name, double value, bool nonzero) {
    TORCH_CHECK_VALUE((value == 0 && !nonzero) || (value >= tiny && value <= max), "golu: ", name,
                      "=", value, " is not representable in ", wide ? "torch.float64" : "torch.float32",
                      ", the compute type of a ", dtype, " input: nonzero parameters and their "
                      "product must lie in [", tiny, ", ", max, "]");
  };
  fits("alpha", alpha, false);
  fits("beta", beta, false);
  fits("gamma", gamma, false);
  fits("alpha*beta*gamma", alpha * beta * gamma, alpha != 0 && beta != 0 && gamma != 0);
  if (alpha == 0 || beta == 0 || gamma == 0) return;
  // Above largest_beta, the CPU loops' flushing of a subnormal u = exp(-gamma*x) (below
  // exp(-flush)) would change GoLU by more than half an ulp: beta*u and beta*s*u (the gate's and
  // the slope's share, s = gamma*x beyond the flush point) are at most beta * flush*exp(-flush).
  const double flush = -(wide ? kFlushedBelowF64 : kFlushedBelowF32);  // golu_mm/constants.h
  const double eps = wide ? std::numeric_limits<double>::epsilon() : std::numeric_limits<float>::epsilon();
  const char* compute = wide ? "torch.float64" : "torch.float32";
  const double largest_beta = eps / 2 / (flush * std::exp(-flush));
  TORCH_CHECK_VALUE(beta <= largest_beta, "golu: beta=", beta, " is too large for ", compute,
                    " (at most ", largest_beta, "): the CPU kernels flush exp(-gamma*x) below the "
                    "normal range, CUDA keeps it, and beta * exp(-gamma*x) would still change GoLU");
  // Above largest_alpha, alpha * x (formed before the gate) would overflow where GoLU itself is
  // finite: for x from where the gate is 0 (the exponent below zero_below) up to where it rounds
  // to 1 (beyond it GoLU is alpha * x, overflowing exactly when alpha * x does).
  const double zero_below = wide ? kZeroBelowF64 : kZeroBelowF32;
  const double gate_zero = std::log(-zero_below) - std::log(beta);  // no overflow: beta tiny
  const double gate_one = std::log(beta) + (2 - std::log2(eps)) * std::log(2.0);
  const double largest_alpha = max / std::max(gate_zero, gate_one) * gamma;
  TORCH_CHECK_VALUE(alpha <= largest_alpha, "golu: alpha=", alpha, " is too large for ", compute,
                    " (at most ", largest_alpha, " with beta=", beta, ", gamma=", gamma,
                    "): alpha * x, formed before the gate, would overflow where GoLU itself is "
                    "finite");
}
}  // namespace

void check_golu_args(const at::Tensor& x, double alpha, double beta, double gamma) {
  const at::ScalarType dtype = x.scalar_type();
  TORCH_CHECK_TYPE(dtype == at::kDouble || dtype == at::kFloat || dtype == at::kHalf ||
                       dtype == at::kBFloat16,
                   "golu: expected a floating-point tensor (float64/32/16, bfloat16), got ", dtype);
  check_param("alpha", alpha);
  check_param("beta", beta);
  check_param("gamma", gamma);
  check_params_fit(dtype, alpha, beta, gamma);
}

void check_golu_backward_args(const at::Tensor& grad, const at::Tensor& x, double alpha,
                              double beta, double gamma) {
  check_golu_args(x, alpha, beta, gamma);
  TORCH_CHECK(grad.device() == x.device(), "golu_backward: grad is on ", grad.device(),
              " but input is on ", x.device());
  TORCH_CHECK_TYPE(grad.scalar_type() == x.scalar_type(), "golu_backward: grad dtype ",
                   grad.scalar_type(), " differs from input dtype ", x.scalar_type());
  TORCH_CHECK(grad.sizes() == x.sizes(), "golu_backward: grad shape ", grad.sizes(),
              " differs from input shape ", x.sizes());
}

at::Tensor dense(const at::Tensor& t) {
  return t.is_non_overlapping_and_dense() ? t : t.contiguous(t.suggest_memory_format());
}

at::Tensor laid_out_like(const at::Tensor& t, const at::Tensor& like) {
  if (t.strides() == like.strides()) return t;  // same sizes and strides as a dense tensor
  return at::empty_like(like).copy_(t);
}

TORCH_LIBRARY_FRAGMENT(golu_mm, m) {
  m.def("golu(Tensor x, float alpha=1.0, float beta=1.0, float gamma=1.0) -> Tensor");
  m.def(
      "golu_backward(Tensor grad, Tensor x, float alpha=1.0, float beta=1.0, "
      "float gamma=1.0) -> Tensor");
  m.def(
      "golu_second(Tensor grad, Tensor x, float alpha=1.0, float beta=1.0, "
      "float gamma=1.0) -> Tensor");
}

TORCH_LIBRARY_IMPL(golu_mm, CPU, m) {
  m.impl("golu", &golu_op<golu_forward_cpu>);
  m.impl("golu_backward", &golu_backward_op<golu_backward_cpu>);
  m.impl("golu_second", &golu_backward_op<golu_second_cpu>);
}

}  // namespace golu_mm

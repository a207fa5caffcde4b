// The fused operators golu_mm::batch_norm_golu(_backward): a batch norm with given statistics
// as a per-channel affine, an optional residual (itself through a batch norm or not) and GoLU in
// one pass, the backward recomputing the affine and reducing the norms' parameter gradients; and
// golu_mm::channel_moments, batch statistics (CPU; on CUDA torch's reductions serve).
// Autograd: golu_mm/ops/batch_norm_golu.py.
#include <torch/library.h>

#include <cmath>
#include <string>

#include "batch_norm_golu.h"
#include "cpu/golu_cpu.h"
#include "golu.h"

namespace golu_mm {

void check_like_input(const char* name, const at::Tensor& t, const at::Tensor& x) {
  TORCH_CHECK(t.device() == x.device(), "batch_norm_golu: ", name, " is on ", t.device(),
              " but x is on ", x.device());
  TORCH_CHECK_TYPE(t.scalar_type() == x.scalar_type(), "batch_norm_golu: ", name, " dtype ",
                   t.scalar_type(), " differs from x dtype ", x.scalar_type());
  TORCH_CHECK(t.sizes() == x.sizes(), "batch_norm_golu: ", name, " shape ", t.sizes(),
              " differs from x shape ", x.sizes());
}

namespace {
at::ScalarType compute_type(const at::Tensor& x) {
  return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// A per-channel tensor in the compute type: shape (C,), any floating dtype, x's device.
at::Tensor per_channel(const std::string& name, const at::Tensor& t, const at::Tensor& x) {
  TORCH_CHECK(t.device() == x.device(), "batch_norm_golu: ", name, " is on ", t.device(),
              " but x is on ", x.device());
  TORCH_CHECK_TYPE(at::isFloatingType(t.scalar_type()), "batch_norm_golu: ", name,
                   " must be a floating-point tensor, got ", t.scalar_type());
  TORCH_CHECK(t.dim() == 1 && t.size(0) == x.size(1), "batch_norm_golu: ", name,
              " must have shape (C,) = (", x.size(1), ",), got ", t.sizes());
  return t.to(compute_type(x)).contiguous();
}

// The kernels' per-channel affine of a batch norm (its arguments named with `prefix`):
// center = mean, scale = weight / sqrt(var + eps), shift = bias, applied as
// ((x - center) - center_lo) * scale + shift: centred first, as torch's batch norm does
// (x * scale + (bias - mean * scale) loses the spread of x to rounding where the mean is large
// next to it), and by a float64 mean in two float32 parts where one is given (channel_moments'),
// so that the mean's own rounding to float32 does not shift every value. Returns
// 1 / sqrt(var + eps).
at::Tensor affine_of(const std::string& prefix, const ChannelNorm& n, const at::Tensor& x,
                     at::Tensor& scale, at::Tensor& shift, at::Tensor& center,
                     at::Tensor& center_lo) {
  TORCH_CHECK_VALUE(std::isfinite(n.eps) && n.eps >= 0, "batch_norm_golu: ", prefix,
                    "eps must be finite and non-negative, got ", n.eps);
  center = per_channel(prefix + "mean", n.mean, x);
  if (n.mean.scalar_type() == at::kDouble && compute_type(x) != at::kDouble)
    center_lo = (n.mean - center.to(at::kDouble)).to(compute_type(x)).contiguous();
  const at::Tensor invstd = (per_channel(prefix + "var", n.var, x) + n.eps).rsqrt();
  scale = n.weight.defined() ? per_channel(prefix + "weight", n.weight, x) * invstd : invstd;
  shift = n.bias.defined() ? per_channel(prefix + "bias", n.bias, x) : at::zeros_like(center);
  return invstd;
}
}  // namespace

AffineGoluArgs batch_norm_golu_args(const at::Tensor& x, const ChannelNorm& norm,
                                    const c10::optional<at::Tensor>& residual,
                                    const ChannelNorm& norm_r, double alpha, double beta,
                                    double gamma, at::Tensor* invstd, at::Tensor* residual_invstd) {
  check_golu_args(x, alpha, beta, gamma);
  TORCH_CHECK_VALUE(alpha > 0 && beta > 0 && gamma > 0,
                    "batch_norm_golu: alpha, beta and gamma must be positive (GoLU is linear "
                    "otherwise; use golu), got ", alpha, ", ", beta, ", ", gamma);
  TORCH_CHECK(x.dim() >= 2, "batch_norm_golu: x must have shape (N, C, *), got ", x.sizes());
  AffineGoluArgs a;
  a.x = x.contiguous();
  const at::Tensor s = affine_of("", norm, x, a.scale, a.shift, a.center, a.center_lo);
  if (invstd != nullptr) *invstd = s;
  if (residual.has_value() && residual->defined()) {
    check_like_input("residual", *residual, x);
    a.residual = residual->contiguous();
    if (norm_r.mean.defined()) {
      at::Tensor r_shift;
      const at::Tensor rs = affine_of("residual_", norm_r, x, a.residual_scale, r_shift,
                                      a.residual_center, a.residual_center_lo);
      a.shift = a.shift + r_shift;
      if (residual_invstd != nullptr) *residual_invstd = rs;
    }
  } else {
    TORCH_CHECK(!norm_r.mean.defined(), "batch_norm_golu: residual_mean without a residual");
  }
  a.inner = 1;
  for (int64_t d = 2; d < x.dim(); ++d) a.inner *= x.size(d);
  a.params = GoluParams<double>{alpha, beta, gamma};
  return a;
}

namespace {
std::tuple<at::Tensor, at::Tensor> channel_moments(const at::Tensor& x) {
  TORCH_CHECK(x.dim() >= 2 && x.numel() > 0, "channel_moments: x must be a non-empty (N, C, *) "
              "tensor, got shape ", x.sizes());
  check_golu_args(x, 1.0, 1.0, 1.0);  // a supported floating dtype
  const at::Tensor xc = x.contiguous();
  const auto options = x.options().dtype(at::kDouble);  // accumulated in float64: kept so
  at::Tensor mean = at::empty({x.size(1)}, options), var = at::empty({x.size(1)}, options);
  channel_moments_cpu(xc, x.numel() / (x.size(0) * x.size(1)), mean, var);
  return {mean, var};
}
}  // namespace

TORCH_LIBRARY_FRAGMENT(golu_mm, m) {
  m.def("channel_moments(Tensor x) -> (Tensor mean, Tensor var)");
  m.def(
      "batch_norm_golu(Tensor x, Tensor mean, Tensor var, Tensor? weight, Tensor? bias, "
      "float eps, Tensor? residual=None, Tensor? residual_mean=None, Tensor? residual_var=None, "
      "Tensor? residual_weight=None, Tensor? residual_bias=None, float residual_eps=1e-05, "
      "float alpha=1.0, float beta=1.0, float gamma=1.0) -> Tensor");
  m.def(
      "batch_norm_golu_backward(Tensor grad, Tensor x, Tensor mean, Tensor var, Tensor? weight, "
      "Tensor? bias, float eps, Tensor? residual=None, Tensor? residual_mean=None, "
      "Tensor? residual_var=None, Tensor? residual_weight=None, Tensor? residual_bias=None, "
      "float residual_eps=1e-05, float alpha=1.0, float beta=1.0, float gamma=1.0, "
      "bool residual_grad=False) -> (Tensor dx, Tensor dresidual, Tensor sums)");
}

TORCH_LIBRARY_IMPL(golu_mm, CPU, m) {
  m.impl("batch_norm_golu", &batch_norm_golu_op<affine_golu_forward_cpu>);
  m.impl("batch_norm_golu_backward", &batch_norm_golu_backward_op<affine_golu_backward_cpu>);
  m.impl("channel_moments", &channel_moments);
}

}  // namespace golu_mm

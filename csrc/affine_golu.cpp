// The fused operators golu_mm::affine_golu(_backward): a per-channel affine (a batch norm's
// scale and shift), an optional residual and GoLU in one pass, the backward recomputing the
// affine and reducing what the affine's gradients need. Autograd: golu_mm/ops/batch_norm_golu.py.
#include <torch/library.h>

#include "golu.h"

namespace golu_mm {

void check_like_input(const char* name, const at::Tensor& t, const at::Tensor& x) {
  TORCH_CHECK(t.device() == x.device(), "affine_golu: ", name, " is on ", t.device(),
              " but x is on ", x.device());
  TORCH_CHECK_TYPE(t.scalar_type() == x.scalar_type(), "affine_golu: ", name, " dtype ",
                   t.scalar_type(), " differs from x dtype ", x.scalar_type());
  TORCH_CHECK(t.sizes() == x.sizes(), "affine_golu: ", name, " shape ", t.sizes(),
              " differs from x shape ", x.sizes());
}

namespace {
// A per-channel tensor: shape (C,), the compute type, x's device; `t` or undefined if absent.
at::Tensor channel_tensor(const char* name, const c10::optional<at::Tensor>& t,
                          const at::Tensor& x) {
  if (!t.has_value() || !t->defined()) return at::Tensor();
  const at::ScalarType compute = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  TORCH_CHECK(t->device() == x.device(), "affine_golu: ", name, " is on ", t->device(),
              " but x is on ", x.device());
  TORCH_CHECK_TYPE(t->scalar_type() == compute, "affine_golu: ", name, " must be ", compute,
                   " (the compute type of a ", x.scalar_type(), " x), got ", t->scalar_type());
  TORCH_CHECK(t->dim() == 1 && t->size(0) == x.size(1), "affine_golu: ", name,
              " must have shape (C,) = (", x.size(1), ",), got ", t->sizes());
  return t->contiguous();
}
}  // namespace

AffineGoluArgs affine_golu_args(const at::Tensor& x, const at::Tensor& scale,
                                const at::Tensor& shift,
                                const c10::optional<at::Tensor>& residual,
                                const c10::optional<at::Tensor>& residual_scale,
                                const c10::optional<at::Tensor>& center,
                                const c10::optional<at::Tensor>& residual_center, double alpha,
                                double beta, double gamma) {
  check_golu_args(x, alpha, beta, gamma);
  TORCH_CHECK_VALUE(alpha > 0 && beta > 0 && gamma > 0,
                    "affine_golu: alpha, beta and gamma must be positive (GoLU is linear "
                    "otherwise; use golu), got ", alpha, ", ", beta, ", ", gamma);
  TORCH_CHECK(x.dim() >= 2, "affine_golu: x must have shape (N, C, *), got ", x.sizes());
  AffineGoluArgs a;
  a.x = x.contiguous();
  a.scale = channel_tensor("scale", scale, x);
  a.shift = channel_tensor("shift", shift, x);
  a.center = channel_tensor("center", center, x);
  if (residual.has_value() && residual->defined()) {
    check_like_input("residual", *residual, x);
    a.residual = residual->contiguous();
    a.residual_scale = channel_tensor("residual_scale", residual_scale, x);
    a.residual_center = channel_tensor("residual_center", residual_center, x);
  } else {
    TORCH_CHECK(!(residual_scale.has_value() && residual_scale->defined()),
                "affine_golu: residual_scale without a residual");
  }
  a.inner = 1;
  for (int64_t d = 2; d < x.dim(); ++d) a.inner *= x.size(d);
  a.params = GoluParams<double>{alpha, beta, gamma};
  return a;
}

TORCH_LIBRARY_FRAGMENT(golu_mm, m) {
  m.def(
      "affine_golu(Tensor x, Tensor scale, Tensor shift, Tensor? residual=None, "
      "Tensor? residual_scale=None, float alpha=1.0, float beta=1.0, float gamma=1.0) -> Tensor");
  m.def(
      "affine_golu_backward(Tensor grad, Tensor x, Tensor scale, Tensor shift, Tensor center, "
      "Tensor? residual=None, Tensor? residual_scale=None, Tensor? residual_center=None, "
      "float alpha=1.0, float beta=1.0, float gamma=1.0, bool residual_grad=False) "
      "-> (Tensor dx, Tensor dresidual, Tensor sums)");
}

TORCH_LIBRARY_IMPL(golu_mm, CPU, m) {
  m.impl("affine_golu", &affine_golu_op<affine_golu_forward_cpu>);
  m.impl("affine_golu_backward", &affine_golu_backward_op<affine_golu_backward_cpu>);
}

}  // namespace golu_mm

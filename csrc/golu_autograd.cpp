// Autograd for golu_mm::golu and golu_mm::golu_backward, in C++ (the Autograd dispatch key): the
// one autograd definition of each operator, on every supported torch, and a call costs about what
// a native op's does. golu saves only the input; its backward is golu_backward, whose own backward
// (double backward) uses golu_backward again and golu_second (which has none: no third
// derivatives). Under torch.func transforms golu_mm/ops/golu.py routes through autograd.Function.
#include <torch/autograd.h>
#include <torch/library.h>

#include "dispatch.h"

namespace golu_mm {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// golu_backward and golu_second share a signature: (grad, x, alpha, beta, gamma).
using GradientOp = at::Tensor(const at::Tensor&, const at::Tensor&, double, double, double);

at::Tensor call_golu(const at::Tensor& x, double alpha, double beta, double gamma) {
  static const auto op =
      typed_op<at::Tensor(const at::Tensor&, double, double, double)>("golu_mm::golu");
  return op.call(x, alpha, beta, gamma);
}

at::Tensor call_golu_backward(const at::Tensor& grad, const at::Tensor& x, double alpha,
                              double beta, double gamma) {
  static const auto op = typed_op<GradientOp>("golu_mm::golu_backward");
  return op.call(grad, x, alpha, beta, gamma);
}

at::Tensor call_golu_second(const at::Tensor& grad, const at::Tensor& x, double alpha,
                            double beta, double gamma) {
  static const auto op = typed_op<GradientOp>("golu_mm::golu_second");
  return op.call(grad, x, alpha, beta, gamma);
}

void save_params(AutogradContext* ctx, double alpha, double beta, double gamma) {
  ctx->saved_data["alpha"] = alpha;
  ctx->saved_data["beta"] = beta;
  ctx->saved_data["gamma"] = gamma;
}

struct Params {
  double alpha, beta, gamma;
  explicit Params(AutogradContext* ctx)
      : alpha(ctx->saved_data["alpha"].toDouble()),
        beta(ctx->saved_data["beta"].toDouble()),
        gamma(ctx->saved_data["gamma"].toDouble()) {}
};

class GoluFunction : public torch::autograd::Function<GoluFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, double alpha, double beta,
                            double gamma) {
    ctx->save_for_backward({x});
    save_params(ctx, alpha, beta, gamma);
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return call_golu(x, alpha, beta, gamma);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor x = ctx->get_saved_variables()[0];
    const Params p(ctx);
    at::Tensor dx;
    if (grads[0].defined()) {
      if (at::GradMode::is_enabled()) {  // create_graph: record golu_backward for double backward
        dx = call_golu_backward(grads[0], x, p.alpha, p.beta, p.gamma);
      } else {
        at::AutoDispatchBelowADInplaceOrView below_autograd;
        dx = call_golu_backward(grads[0], x, p.alpha, p.beta, p.gamma);
      }
    }
    return {dx, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// grad * GoLU'(x), differentiable in both: d/dgrad = GoLU'(x) (golu_backward, recorded again
// under create_graph), d/dx = grad * GoLU''(x) (golu_second).
class GoluBackwardFunction : public torch::autograd::Function<GoluBackwardFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grad, const at::Tensor& x,
                            double alpha, double beta, double gamma) {
    ctx->save_for_backward({grad, x});
    save_params(ctx, alpha, beta, gamma);
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return call_golu_backward(grad, x, alpha, beta, gamma);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &grad = saved[0], &x = saved[1], &grad2 = grads[0];
    const Params p(ctx);
    at::Tensor dgrad, dx;
    if (grad2.defined() && ctx->needs_input_grad(0))
      dgrad = call_golu_backward(grad2, x, p.alpha, p.beta, p.gamma);
    if (grad2.defined() && ctx->needs_input_grad(1)) {
      // golu_second has no autograd kernel: torch's fallback says so if it is differentiated
      dx = call_golu_second(grad2.mul(grad), x, p.alpha, p.beta, p.gamma);
    }
    return {dgrad, dx, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor golu_autograd(const at::Tensor& x, double alpha, double beta, double gamma) {
  return GoluFunction::apply(x, alpha, beta, gamma);
}

at::Tensor golu_backward_autograd(const at::Tensor& grad, const at::Tensor& x, double alpha,
                                  double beta, double gamma) {
  return GoluBackwardFunction::apply(grad, x, alpha, beta, gamma);
}

}  // namespace

TORCH_LIBRARY_IMPL(golu_mm, Autograd, m) {
  m.impl("golu", &golu_autograd);
  m.impl("golu_backward", &golu_backward_autograd);
}

}  // namespace golu_mm

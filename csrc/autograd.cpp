// Autograd for golu_mm::golu, in C++ (the Autograd dispatch key) so that a call costs about what a
// native op's does. It saves only the input; the backward is the golu_mm::golu_backward operator.
// golu_backward's own autograd (double backward, rarely used) is registered from Python
// (golu_mm/ops/golu.py), composed of torch ops.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

namespace golu_mm {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor call_golu(const at::Tensor& x, double alpha, double beta, double gamma) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("golu_mm::golu", "")
                             .typed<at::Tensor(const at::Tensor&, double, double, double)>();
  return op.call(x, alpha, beta, gamma);
}

at::Tensor call_golu_backward(const at::Tensor& grad, const at::Tensor& x, double alpha,
                              double beta, double gamma) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("golu_mm::golu_backward", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, double, double, double)>();
  return op.call(grad, x, alpha, beta, gamma);
}

class GoluFunction : public torch::autograd::Function<GoluFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, double alpha, double beta,
                            double gamma) {
    ctx->save_for_backward({x});
    ctx->saved_data["alpha"] = alpha;
    ctx->saved_data["beta"] = beta;
    ctx->saved_data["gamma"] = gamma;
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return call_golu(x, alpha, beta, gamma);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor x = ctx->get_saved_variables()[0];
    const double alpha = ctx->saved_data["alpha"].toDouble();
    const double beta = ctx->saved_data["beta"].toDouble();
    const double gamma = ctx->saved_data["gamma"].toDouble();
    at::Tensor dx;
    if (grads[0].defined()) {
      if (at::GradMode::is_enabled()) {  // create_graph: record golu_backward for double backward
        dx = call_golu_backward(grads[0], x, alpha, beta, gamma);
      } else {
        at::AutoDispatchBelowADInplaceOrView below_autograd;
        dx = call_golu_backward(grads[0], x, alpha, beta, gamma);
      }
    }
    return {dx, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor golu_autograd(const at::Tensor& x, double alpha, double beta, double gamma) {
  return GoluFunction::apply(x, alpha, beta, gamma);
}

}  // namespace

TORCH_LIBRARY_IMPL(golu_mm, Autograd, m) { m.impl("golu", &golu_autograd); }

}  // namespace golu_mm

// The golu_mm operator library: schemas, argument checks, layout helpers and the CPU
// registration. CUDA kernels register themselves from cuda/golu_cuda.cu when compiled.
#include <Python.h>

#include <cmath>
#include <limits>

#include <torch/library.h>

#include "cpu/golu_cpu.h"
#include "golu_op.h"

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
  // golu_mm/ops/golu.py largest_beta: above it, the CPU loops' flushing of a subnormal
  // exp(-gamma*x) (below exp(-flush)) would change the result by more than half an ulp.
  const double flush = -(wide ? kFlushedBelowF64 : kFlushedBelowF32);  // golu_mm/constants.h
  const double eps = wide ? std::numeric_limits<double>::epsilon() : std::numeric_limits<float>::epsilon();
  const double largest_beta = eps / 2 / (flush * std::exp(-flush));
  TORCH_CHECK_VALUE(alpha == 0 || gamma == 0 || beta <= largest_beta, "golu: beta=", beta,
                    " is too large for ", wide ? "torch.float64" : "torch.float32", " (at most ",
                    largest_beta, "): the CPU kernels flush exp(-gamma*x) below the normal range, "
                    "CUDA keeps it, and beta * exp(-gamma*x) would still change GoLU");
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

TORCH_LIBRARY(golu_mm, m) {
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

// `import golu_mm._C` loads this library and so registers the operators above (they live in
// torch.ops.golu_mm); the module itself only reports which CPU loops run.
namespace {
PyObject* py_cpu_isa(PyObject*, PyObject*) {
  try {
    return PyUnicode_FromString(golu_mm::cpu_isa());
  } catch (const c10::Error& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what_without_backtrace());
    return nullptr;
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
}
PyMethodDef methods[] = {
    {"cpu_isa", py_cpu_isa, METH_NOARGS,
     "The instruction set of the CPU loops: 'avx512', 'avx2' or 'scalar'."},
    {nullptr, nullptr, 0, nullptr}};
}  // namespace

PyMODINIT_FUNC PyInit__C(void) {
  static PyModuleDef module = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, methods};
  return PyModule_Create(&module);
}

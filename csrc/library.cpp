// The operator library golu_mm (torch.ops.golu_mm) and the Python module golu_mm._C that loads
// it. Each operator adds itself in its own file, by one pattern (docs/operator.md#adding-an-
// operator): <op>.h (checks, the operator generic over a backend's kernels), <op>.cpp (schema in
// a TORCH_LIBRARY_FRAGMENT, CPU registration), cuda/golu_cuda.cu (CUDA registration).
#include <Python.h>

#include <torch/library.h>

#include "cpu/golu_cpu.h"

TORCH_LIBRARY(golu_mm, m) {}  // the namespace: golu.cpp and batch_norm_golu.cpp define its ops

// `import golu_mm._C` loads this library and so registers the operators (they live in
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

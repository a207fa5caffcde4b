// Calling a golu_mm operator through the dispatcher from C++ (autograd calls the operators below
// it this way, so that every backend's kernel and torch's own dispatch keys apply).
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>

namespace golu_mm {

// The operator "golu_mm::<name>" with C++ signature Signature, looked up once per call site:
//   static const auto op = typed_op<at::Tensor(const at::Tensor&)>("golu_mm::golu");
template <typename Signature>
c10::TypedOperatorHandle<Signature> typed_op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

}  // namespace golu_mm

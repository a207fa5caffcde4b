// The CPU loops compiled for AVX2, FMA and F16C; golu_cpu.cpp calls them only on CPUs that have it.
// The target applies to everything in this file, so it includes nothing but the loops and the
// vector type (no ATen or standard-library code whose inline functions would then exist in two
// builds); the loops' helpers have internal linkage for the same reason.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx2,fma,f16c")
#include "vec_avx2.h"

namespace golu_mm {
const Loops* avx2_loops() {
  static const Loops loops = loops_for<avx2::Vec>();
  return &loops;
}
}  // namespace golu_mm

#else
#include "golu_loops.h"

namespace golu_mm {
const Loops* avx2_loops() { return nullptr; }
}  // namespace golu_mm
#endif

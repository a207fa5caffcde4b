// The CPU loops compiled for AVX-512 (F, DQ, VL, BW); golu_cpu.cpp calls them only on CPUs that have it.
// The target applies to everything in this file, so it includes nothing but the loops and the
// vector type (no ATen or standard-library code whose inline functions would then exist in two
// builds); the loops' helpers have internal linkage for the same reason.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,f16c")
// GCC 12 warns about the deliberately undefined pass-through operand of its own intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "vec_avx512.h"

namespace golu_mm {
const Loops* avx512_loops() {
  static const Loops loops = loops_for<avx512::Vec>();
  return &loops;
}
}  // namespace golu_mm

#else
#include "golu_loops.h"

namespace golu_mm {
const Loops* avx512_loops() { return nullptr; }
}  // namespace golu_mm
#endif

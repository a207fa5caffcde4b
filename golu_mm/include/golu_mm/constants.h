// GoLU's exponent thresholds, each on one line as `constexpr double <name> = <value>;`: the C++
// and CUDA kernels include this file and golu_mm/ops/reference.py reads it, so the two cannot
// disagree. Installed with the package (like torch/include) so that Python finds it anywhere.
#pragma once

namespace golu_mm {

// Below these t the kernels return a * exp(t) = 0 for every non-NaN a, even an infinite one
// (GoLU's limit at x = -inf); exactly so for |a| < 9.8e19 (float32: a * exp(-150) < 2^-150 rounds
// to 0) and |a| < 1e284 (float64: below 2^-1075). exp(t) alone underflows much earlier (-104,
// -745.1), but a large a can lift the product back into the subnormal range.
constexpr double kZeroBelowF32 = -150.0;
constexpr double kZeroBelowF64 = -1400.0;

// Below these t the CPU kernels take exp(t) as 0 (never subnormal: slow on CPUs): exp(t) is above
// 2^-125 (float32) and 2^-1022 (float64) above them. CUDA keeps the subnormal values.
constexpr double kFlushedBelowF32 = -86.6;
constexpr double kFlushedBelowF64 = -708.0;

}  // namespace golu_mm

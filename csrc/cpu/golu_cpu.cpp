// CPU kernels: at::parallel_for over flat chunks; each chunk runs the loops of golu_loops.h for
// the best instruction set the CPU has (AVX-512, AVX2 + FMA + F16C, or baseline), chosen once.
// GOLU_MM_CPU_ISA=avx2|scalar caps that choice (to test or compare the other loops). float64 uses
// std::exp (ExpF64, below); alpha, beta or gamma == 0 (GoLU is then linear) is a plain loop for every dtype.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <c10/util/bit_cast.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "../golu.h"
#include "golu_cpu.h"
#include "../golu_math.h"
#include "golu_loops.h"
#include "vec_scalar.h"

namespace golu_mm {
namespace {

constexpr int64_t kGrain = 1 << 15;  // elements per parallel task
constexpr const char* kIsaEnv = "GOLU_MM_CPU_ISA";

struct Choice {
  const char* isa;
  const Loops* loops;  // null where this CPU or build cannot run them
};

Choice choose_loops() {
  static const Loops scalar_loops = loops_for<scalar::Vec>();
  bool avx512 = false, avx2 = false;
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
  avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
#endif
  const Choice candidates[] = {{"avx512", avx512 ? avx512_loops() : nullptr},  // best first
                               {"avx2", avx2 ? avx2_loops() : nullptr},
                               {"scalar", &scalar_loops}};
  constexpr int count = sizeof candidates / sizeof candidates[0];
  int first = 0;
  const char* cap = std::getenv(kIsaEnv);
  if (cap != nullptr && *cap != '\0') {
    while (first < count && std::strcmp(candidates[first].isa, cap) != 0) ++first;
    TORCH_CHECK(first < count, kIsaEnv, "=", cap, " is not one of avx512, avx2, scalar");
    TORCH_CHECK(candidates[first].loops != nullptr, kIsaEnv, "=", cap,
                ", but this CPU or build does not support ", cap);
  }
  while (candidates[first].loops == nullptr) ++first;  // the scalar loops always run
  return candidates[first];
}

const Choice& chosen() {
  static const Choice choice = choose_loops();
  return choice;
}

const Loops& loops() { return *chosen().loops; }

// float64: std::exp where it is fast (glibc takes slower paths for |t| >= 512 and for subnormal
// results), elsewhere exp(t) = exp(r) * 2^n with t = n*ln2 + r, |r| <= ln2/2 (fdlibm's split of
// ln2: n * kLn2Hi is exact). The forms of golu_math.h then scale by 2^n themselves,
// times() below 2^-1022 from bits as fast_exp.h does for float. Clamps and selects are branch-free
// where inputs on both sides of a bound would mispredict a branch.
struct ExpF64 {
  using Limits = Thresholds<double>;  // golu_math.h
  static constexpr double kMax = 709.78;  // exp(t) overflows above log(DBL_MAX) = 709.7827
  static constexpr double kFast = 512.0;  // std::exp's fast path below this |t|
  static constexpr double kLn2Hi = 6.93147180369123816490e-01;
  static constexpr double kLn2Lo = 1.90821492927058770002e-10;

  // exp(r) for the nearest integral n (returned through n).
  static double reduce(double t, double& n) {
    const double shifter = 0x1.8p52;  // adding it rounds to an integer (nearest even)
    n = (t * 1.4426950408889634 + shifter) - shifter;
    return std::exp((t - n * kLn2Hi) - n * kLn2Lo);
  }
  // 2^k for integral k in [-1022, 1023].
  static double pow2(double k) {
    return c10::bit_cast<double>(static_cast<uint64_t>(static_cast<int64_t>(k) + 1023) << 52);
  }

  // exp(t), and 0 below flushed_below: never subnormal. Clamped and selected without a branch
  // (inputs on both sides of a bound would mispredict it); std::exp's path for |t| >= 512 is
  // slower than its usual one, but cheaper than a mispredicted branch to avoid it.
  double flushed(double t) const {
    const double e = std::exp(std::min(std::max(t, Limits::flushed_below), kMax));
    return t < Limits::flushed_below ? 0.0 : (t > kMax ? HUGE_VAL : e);
  }

  // a * exp(t); 0 below zero_below (NaN a stays NaN); for t <= 0 (GoLU's gate).
  double times(double a, double t) const {
    if (!(t <= -kFast)) return a * std::exp(t);  // NaN included
    const bool zero = t < Limits::zero_below;
    double n;
    const double v =
        (zero && a == a ? 0.0 : a) * reduce(zero ? Limits::zero_below : (t > 0 ? 0.0 : t), n);
    if (n >= -1021) return v * pow2(n);
    // n in [-2020, -1022]: w * 2^-1022 with w = v * 2^(n+1022), from bits (see fast_exp.h).
    const uint64_t w_bits = c10::bit_cast<uint64_t>(v * pow2(n + 1022));
    const uint64_t sign = w_bits & 0x8000000000000000ULL;
    const uint64_t magnitude = w_bits ^ sign;
    if (magnitude >= 0x7FF0000000000000ULL) return c10::bit_cast<double>(w_bits);  // inf, NaN
    // Both forms, selected by a bit mask: a branch on |w| < 1 mispredicts on mixed magnitudes.
    const uint64_t sub =
        c10::bit_cast<uint64_t>(c10::bit_cast<double>(magnitude) + 1.0) - 0x3FF0000000000000ULL;
    const uint64_t normal = magnitude - (uint64_t{1022} << 52);
    const uint64_t small = 0 - static_cast<uint64_t>(magnitude < 0x3FF0000000000000ULL);
    return c10::bit_cast<double>((sub & small) | (normal & ~small) | sign);
  }
};

// The storage type the loops take for each dtype (loops().of<S>() holds its loops).
template <typename T> struct Storage { using type = T; };
template <> struct Storage<c10::BFloat16> { using type = Bf16; };
template <> struct Storage<c10::Half> { using type = F16; };

// One channel's affine in float64 (the loops take it in float32).
struct Affine64 {
  double scale, shift, center, residual_scale, residual_center, center_lo, residual_center_lo;
  Affine to_float() const {
    return {static_cast<float>(scale), static_cast<float>(shift), static_cast<float>(center),
            static_cast<float>(residual_scale), static_cast<float>(residual_center),
            static_cast<float>(center_lo), static_cast<float>(residual_center_lo)};
  }
};

// The per-channel tensors' data, read once per kernel call (absent residual ones: scale 1,
// center 0); at(c) is channel c's affine.
template <typename acc_t>
struct ChannelAffines {
  const acc_t *scale, *shift, *center, *residual_scale, *residual_center, *center_lo,
      *residual_center_lo;

  explicit ChannelAffines(const AffineGoluArgs& a)
      : scale(data_or_null<acc_t>(a.scale)), shift(data_or_null<acc_t>(a.shift)),
        center(data_or_null<acc_t>(a.center)),
        residual_scale(data_or_null<acc_t>(a.residual_scale)),
        residual_center(data_or_null<acc_t>(a.residual_center)),
        center_lo(data_or_null<acc_t>(a.center_lo)),
        residual_center_lo(data_or_null<acc_t>(a.residual_center_lo)) {}
  static double get(const acc_t* p, int64_t c, double absent) {
    return p != nullptr ? static_cast<double>(p[c]) : absent;
  }
  Affine64 at(int64_t c) const {
    return {get(scale, c, 1.0),         get(shift, c, 0.0),           get(center, c, 0.0),
            get(residual_scale, c, 1.0), get(residual_center, c, 0.0), get(center_lo, c, 0.0),
            get(residual_center_lo, c, 0.0)};
  }
};

template <typename T>
GoluParams<T> cast_params(const GoluParams<double>& p) {
  return {static_cast<T>(p.alpha), static_cast<T>(p.beta), static_cast<T>(p.gamma)};
}

template <typename scalar_t>
void forward_block(const scalar_t* x, scalar_t* y, int64_t n, const GoluParams<double>& p) {
  using acc_t = at::opmath_type<scalar_t>;
  const GoluParams<acc_t> pa = cast_params<acc_t>(p);
  if (golu_is_linear(pa)) {
    const acc_t c = golu_linear_slope<acc_t>(p.alpha, p.beta);
    for (int64_t i = 0; i < n; ++i)
      y[i] = static_cast<scalar_t>(golu_linear_forward(static_cast<acc_t>(x[i]), c));
  } else if constexpr (std::is_same_v<scalar_t, double>) {
    for (int64_t i = 0; i < n; ++i) y[i] = golu_forward(x[i], pa, ExpF64{});
  } else {
    using S = typename Storage<scalar_t>::type;
    loops().of<S>().forward(
        reinterpret_cast<const S*>(x), reinterpret_cast<S*>(y), n, pa);
  }
}

// dx = dy * GoLU'(x) (order 1) or dy * GoLU''(x) (order 2).
template <int order, typename scalar_t>
void derivative_block(const scalar_t* dy, const scalar_t* x, scalar_t* dx, int64_t n,
                      const GoluParams<double>& p) {
  using acc_t = at::opmath_type<scalar_t>;
  const GoluParams<acc_t> pa = cast_params<acc_t>(p);
  if (golu_is_linear(pa)) {
    const acc_t c = golu_linear_slope<acc_t>(p.alpha, p.beta);
    for (int64_t i = 0; i < n; ++i) {
      const acc_t xv = static_cast<acc_t>(x[i]);
      const acc_t d = order == 1 ? golu_linear_derivative(xv, c) : golu_linear_second_derivative(xv);
      dx[i] = static_cast<scalar_t>(static_cast<acc_t>(dy[i]) * d);
    }
  } else if constexpr (std::is_same_v<scalar_t, double>) {
    for (int64_t i = 0; i < n; ++i)
      dx[i] = order == 1 ? golu_backward(dy[i], x[i], pa, ExpF64{})
                         : golu_second(dy[i], x[i], pa, ExpF64{});
  } else {
    using S = typename Storage<scalar_t>::type;
    const auto loop = order == 1 ? loops().of<S>().backward : loops().of<S>().second;
    loop(reinterpret_cast<const S*>(dy), reinterpret_cast<const S*>(x), reinterpret_cast<S*>(dx),
         n, pa);
  }
}

// The fused affine + GoLU rows: float64 here, the other dtypes through the loops.
template <typename scalar_t>
void affine_forward_row(const scalar_t* x, const scalar_t* r, scalar_t* y, int64_t n,
                        const Affine64& a, const GoluParams<double>& p) {
  if constexpr (std::is_same_v<scalar_t, double>) {
    for (int64_t i = 0; i < n; ++i)
      y[i] = golu_forward(std::fma(r == nullptr ? 0.0 : r[i] - a.residual_center,
                                   a.residual_scale, std::fma(x[i] - a.center, a.scale, a.shift)),
                          p, ExpF64{});
  } else {
    using S = typename Storage<scalar_t>::type;
    loops().of<S>().affine_forward(
        reinterpret_cast<const S*>(x), reinterpret_cast<const S*>(r), reinterpret_cast<S*>(y), n,
        a.to_float(), cast_params<float>(p));
  }
}

template <typename scalar_t>
void affine_backward_channel(const scalar_t* dy, const scalar_t* x, const scalar_t* r,
                             scalar_t* dx, scalar_t* dr, int64_t rows, int64_t inner,
                             int64_t stride, const Affine64& a, const GoluParams<double>& p,
                             double* sums) {
  if constexpr (std::is_same_v<scalar_t, double>) {
    for (int64_t row = 0; row < rows; ++row) {
      for (int64_t i = row * stride; i < row * stride + inner; ++i) {
        const double xc = x[i] - a.center;
        const double rc = r == nullptr ? 0.0 : r[i] - a.residual_center;
        const double z = std::fma(rc, a.residual_scale, std::fma(xc, a.scale, a.shift));
        const double g = golu_backward(dy[i], z, p, ExpF64{});
        dx[i] = g * a.scale;
        if (dr != nullptr) dr[i] = g * a.residual_scale;
        sums[0] += g;
        sums[1] += g * xc;
        if (r != nullptr) sums[2] += g * rc;
      }
    }
  } else {
    using S = typename Storage<scalar_t>::type;
    loops().of<S>().affine_backward(
        reinterpret_cast<const S*>(dy), reinterpret_cast<const S*>(x),
        reinterpret_cast<const S*>(r), reinterpret_cast<S*>(dx), reinterpret_cast<S*>(dr), rows,
        inner, stride, a.to_float(), cast_params<float>(p), sums);
  }
}

// Adds sum(x - shift) and sum((x - shift)^2) over a channel to sums.
template <typename scalar_t>
void moments_channel(const scalar_t* x, int64_t rows, int64_t inner, int64_t stride,
                     double shift, double* sums) {
  if constexpr (std::is_same_v<scalar_t, double>) {
    for (int64_t row = 0; row < rows; ++row) {
      for (int64_t i = row * stride; i < row * stride + inner; ++i) {
        const double d = x[i] - shift;
        sums[0] += d;
        sums[1] += d * d;
      }
    }
  } else {
    using S = typename Storage<scalar_t>::type;
    loops().of<S>().moments(reinterpret_cast<const S*>(x), rows, inner, stride,
                            static_cast<float>(shift), sums);
  }
}

}  // namespace

const char* cpu_isa() { return chosen().isa; }

void affine_golu_forward_cpu(const AffineGoluArgs& a, at::Tensor& out) {
  const int64_t channels = a.x.size(1), rows = a.x.numel() / a.inner;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, a.x.scalar_type(), "affine_golu_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* px = a.x.const_data_ptr<scalar_t>();
    const scalar_t* pr = data_or_null<scalar_t>(a.residual);
    scalar_t* py = out.mutable_data_ptr<scalar_t>();
    const ChannelAffines<acc_t> affines(a);
    at::parallel_for(0, rows, std::max<int64_t>(1, kGrain / a.inner), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t offset = row * a.inner;
        affine_forward_row(px + offset, pr == nullptr ? nullptr : pr + offset, py + offset,
                           a.inner, affines.at(row % channels),
                           a.params);
      }
    });
  });
}

void affine_golu_backward_cpu(const AffineGoluArgs& a, const at::Tensor& grad, at::Tensor& dx,
                              at::Tensor& dr, at::Tensor& sums) {
  const int64_t channels = a.x.size(1), batch = a.x.size(0);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, a.x.scalar_type(), "affine_golu_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* pg = grad.const_data_ptr<scalar_t>();
    const scalar_t* px = a.x.const_data_ptr<scalar_t>();
    const scalar_t* pr = data_or_null<scalar_t>(a.residual);
    scalar_t* pdx = dx.mutable_data_ptr<scalar_t>();
    scalar_t* pdr = dr.defined() ? dr.mutable_data_ptr<scalar_t>() : nullptr;
    acc_t* ps = sums.mutable_data_ptr<acc_t>();
    const ChannelAffines<acc_t> affines(a);
    // One task per channel: its rows are reduced in order, so the sums do not depend on threads.
    at::parallel_for(0, channels, 1, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        const Affine64 affine = affines.at(c);
        double acc[3] = {0.0, 0.0, 0.0};
        const int64_t offset = c * a.inner;
        affine_backward_channel(pg + offset, px + offset, pr == nullptr ? nullptr : pr + offset,
                                pdx + offset, pdr == nullptr ? nullptr : pdr + offset, batch,
                                a.inner, channels * a.inner, affine, a.params, acc);
        for (int k = 0; k < 3; ++k) ps[k * channels + c] = static_cast<acc_t>(acc[k]);
      }
    });
  });
}

void channel_moments_cpu(const at::Tensor& x, int64_t inner, at::Tensor& mean, at::Tensor& var) {
  // mean and var are float64 whatever x is: accumulated in float64, and kept so (the fused
  // node centres by the float64 mean, in two float32 parts)
  const int64_t channels = x.size(1), batch = x.size(0);
  const double count = static_cast<double>(batch * inner);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "channel_moments_cpu", [&] {
    const scalar_t* px = x.const_data_ptr<scalar_t>();
    double* pm = mean.mutable_data_ptr<double>();
    double* pv = var.mutable_data_ptr<double>();
    at::parallel_for(0, channels, 1, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        double first[2] = {0.0, 0.0}, second[2] = {0.0, 0.0};
        const scalar_t* channel = px + c * inner;
        moments_channel(channel, batch, inner, channels * inner, 0.0, first);
        // The second pass's shift as the loops apply it (float32 but for float64 data): the
        // mean is that shift plus the mean deviation from it, exactly the shift used.
        const double m = std::is_same_v<scalar_t, double>
                             ? first[0] / count
                             : static_cast<double>(static_cast<float>(first[0] / count));
        moments_channel(channel, batch, inner, channels * inner, m, second);
        // The corrected two-pass formula: sum((x - m)^2) - sum(x - m)^2 / count.
        pm[c] = m + second[0] / count;
        // Rounding can leave a constant channel's variance slightly negative: clamp it, keeping
        // NaN (a NaN input must reach the running statistics as it does in torch's batch norm).
        const double v = (second[1] - second[0] * second[0] / count) / count;
        pv[c] = v < 0.0 ? 0.0 : v;
      }
    });
  });
}

void golu_forward_cpu(const at::Tensor& x, at::Tensor& out, double alpha, double beta,
                      double gamma) {
  const GoluParams<double> p{alpha, beta, gamma};
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "golu_cpu", [&] {
    const scalar_t* px = x.const_data_ptr<scalar_t>();
    scalar_t* py = out.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, x.numel(), kGrain, [&](int64_t begin, int64_t end) {
      forward_block(px + begin, py + begin, end - begin, p);
    });
  });
}

template <int order>
void golu_derivative_cpu(const at::Tensor& grad, const at::Tensor& x, at::Tensor& out,
                         double alpha, double beta, double gamma) {
  const GoluParams<double> p{alpha, beta, gamma};
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "golu_derivative_cpu", [&] {
        const scalar_t* pg = grad.const_data_ptr<scalar_t>();
        const scalar_t* px = x.const_data_ptr<scalar_t>();
        scalar_t* po = out.mutable_data_ptr<scalar_t>();
        at::parallel_for(0, x.numel(), kGrain, [&](int64_t begin, int64_t end) {
          derivative_block<order>(pg + begin, px + begin, po + begin, end - begin, p);
        });
      });
}

void golu_backward_cpu(const at::Tensor& grad, const at::Tensor& x, at::Tensor& out, double alpha,
                       double beta, double gamma) {
  golu_derivative_cpu<1>(grad, x, out, alpha, beta, gamma);
}

void golu_second_cpu(const at::Tensor& grad, const at::Tensor& x, at::Tensor& out, double alpha,
                     double beta, double gamma) {
  golu_derivative_cpu<2>(grad, x, out, alpha, beta, gamma);
}

}  // namespace golu_mm

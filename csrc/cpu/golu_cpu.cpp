// CPU kernels: at::parallel_for over flat chunks; each chunk runs the loops of golu_loops.h for
// the best instruction set the CPU has (AVX-512, AVX2 + FMA + F16C, or baseline), chosen once.
// GOLU_MM_CPU_ISA=avx2|scalar caps that choice (to test or compare the other loops). float64 uses
// std::exp; beta == 0 or gamma == 0 (GoLU is then linear) is a plain loop for every dtype.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "../golu.h"
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

// The storage type the loops take for each dtype, and the loop for it.
template <typename T> struct Storage { using type = T; };
template <> struct Storage<c10::BFloat16> { using type = Bf16; };
template <> struct Storage<c10::Half> { using type = F16; };

ForwardLoop<float> forward_loop(const Loops& l, const float*) { return l.forward_f32; }
ForwardLoop<Bf16> forward_loop(const Loops& l, const Bf16*) { return l.forward_bf16; }
ForwardLoop<F16> forward_loop(const Loops& l, const F16*) { return l.forward_f16; }
BackwardLoop<float> backward_loop(const Loops& l, const float*) { return l.backward_f32; }
BackwardLoop<Bf16> backward_loop(const Loops& l, const Bf16*) { return l.backward_bf16; }
BackwardLoop<F16> backward_loop(const Loops& l, const F16*) { return l.backward_f16; }

struct ExpStd {
  template <typename T>
  T operator()(T v) const { return std::exp(v); }
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
    const acc_t c = golu_linear_slope(pa, ExpStd{});
    for (int64_t i = 0; i < n; ++i)
      y[i] = static_cast<scalar_t>(golu_linear_forward(static_cast<acc_t>(x[i]), c));
  } else if constexpr (std::is_same_v<scalar_t, double>) {
    for (int64_t i = 0; i < n; ++i) y[i] = golu_forward(x[i], pa, ExpStd{});
  } else {
    using S = typename Storage<scalar_t>::type;
    forward_loop(loops(), static_cast<const S*>(nullptr))(
        reinterpret_cast<const S*>(x), reinterpret_cast<S*>(y), n, pa);
  }
}

template <typename scalar_t>
void backward_block(const scalar_t* dy, const scalar_t* x, scalar_t* dx, int64_t n,
                    const GoluParams<double>& p) {
  using acc_t = at::opmath_type<scalar_t>;
  const GoluParams<acc_t> pa = cast_params<acc_t>(p);
  if (golu_is_linear(pa)) {
    const acc_t c = golu_linear_slope(pa, ExpStd{});
    for (int64_t i = 0; i < n; ++i)
      dx[i] = static_cast<scalar_t>(static_cast<acc_t>(dy[i]) *
                                    golu_linear_derivative(static_cast<acc_t>(x[i]), c));
  } else if constexpr (std::is_same_v<scalar_t, double>) {
    for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * golu_derivative(x[i], pa, ExpStd{});
  } else {
    using S = typename Storage<scalar_t>::type;
    backward_loop(loops(), static_cast<const S*>(nullptr))(
        reinterpret_cast<const S*>(dy), reinterpret_cast<const S*>(x), reinterpret_cast<S*>(dx),
        n, pa);
  }
}

}  // namespace

const char* cpu_isa() { return chosen().isa; }

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

void golu_backward_cpu(const at::Tensor& grad, const at::Tensor& x, at::Tensor& out, double alpha,
                       double beta, double gamma) {
  const GoluParams<double> p{alpha, beta, gamma};
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "golu_backward_cpu", [&] {
        const scalar_t* pg = grad.const_data_ptr<scalar_t>();
        const scalar_t* px = x.const_data_ptr<scalar_t>();
        scalar_t* po = out.mutable_data_ptr<scalar_t>();
        at::parallel_for(0, x.numel(), kGrain, [&](int64_t begin, int64_t end) {
          backward_block(pg + begin, px + begin, po + begin, end - begin, p);
        });
      });
}

}  // namespace golu_mm

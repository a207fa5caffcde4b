// Just enough CUDA, on the CPU, to run csrc/cuda/golu_kernels.cuh unchanged: each block's threads
// are ucontext fibers on one OS thread, each running until it reaches a barrier (__syncthreads, or
// a warp shuffle: one barrier to publish the lanes' values, one before the slots are reused) or
// returns; blocks run one after another in a shuffled order. Atomics are plain adds (one OS
// thread). What would be undefined on a GPU and is visible here aborts loudly: a shuffle with
// lanes missing (a partial warp, or lanes that returned), threads waiting at different barriers.
#pragma once

#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static  // one block runs at a time: a static is that block's shared memory

// CUDA's math functions are overloaded for float and double in the global namespace.
using std::copysign;
using std::exp;
using std::fabs;
using std::fma;
using std::log;

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

namespace emu {

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "cuda emulation: %s\n", what);
  std::fflush(stderr);
  std::abort();
}

enum class State { kRunning, kAtBlockBarrier, kAtWarpBarrier, kDone };

struct Fiber {
  ucontext_t context;
  std::vector<char> stack;
  State state = State::kRunning;
  dim3 thread;
};

struct Device {
  ucontext_t scheduler;
  std::vector<Fiber> fibers;
  std::vector<uint64_t> lanes;  // each thread's shuffle slot
  size_t current = 0;
  dim3 grid, block, block_index;
  std::function<void()> kernel;
};

inline Device& device() {
  static Device d;
  return d;
}

inline Fiber& self() { return device().fibers[device().current]; }

// Give control back to the scheduler until the barrier this thread waits at is released.
inline void wait_at(State barrier) {
  Fiber& f = self();
  f.state = barrier;
  swapcontext(&f.context, &device().scheduler);
}

inline void thread_entry() {
  device().kernel();
  self().state = State::kDone;  // then uc_link returns to the scheduler
}

// Release the threads of one barrier, or abort when none can be released.
inline void release(Device& d) {
  const size_t n = d.fibers.size();
  bool all_at_block = true;
  for (const Fiber& f : d.fibers)
    all_at_block &= f.state == State::kAtBlockBarrier || f.state == State::kDone;
  if (all_at_block) {  // threads that returned count as arrived
    for (Fiber& f : d.fibers)
      if (f.state == State::kAtBlockBarrier) f.state = State::kRunning;
    return;
  }
  bool released = false;
  for (size_t first = 0; first < n; first += 32) {
    const size_t last = std::min(n, first + 32);
    size_t waiting = 0;
    for (size_t i = first; i < last; ++i) waiting += d.fibers[i].state == State::kAtWarpBarrier;
    if (waiting == 0) continue;
    if (last - first < 32) fail("warp shuffle in a partial warp (blockDim not a multiple of 32)");
    if (waiting < 32) {
      for (size_t i = first; i < last; ++i)
        if (d.fibers[i].state == State::kDone) fail("warp shuffle with lanes that have returned");
      fail("threads of one warp wait at different barriers");
    }
    for (size_t i = first; i < last; ++i) d.fibers[i].state = State::kRunning;
    released = true;
  }
  if (!released) fail("deadlock: threads of the block wait at different barriers");
}

inline void run_block(Device& d) {
  const size_t n = d.fibers.size();
  for (size_t i = 0; i < n; ++i) {
    Fiber& f = d.fibers[i];
    f.state = State::kRunning;
    f.thread = dim3(static_cast<unsigned>(i % d.block.x),
                    static_cast<unsigned>(i / d.block.x % d.block.y),
                    static_cast<unsigned>(i / (d.block.x * d.block.y)));
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = f.stack.data();
    f.context.uc_stack.ss_size = f.stack.size();
    f.context.uc_link = &d.scheduler;
    makecontext(&f.context, thread_entry, 0);
  }
  for (;;) {
    for (size_t i = 0; i < n; ++i) {
      if (d.fibers[i].state != State::kRunning) continue;
      d.current = i;
      swapcontext(&d.scheduler, &d.fibers[i].context);
    }
    if (std::all_of(d.fibers.begin(), d.fibers.end(),
                    [](const Fiber& f) { return f.state == State::kDone; }))
      return;
    release(d);
  }
}

// kernel<<<grid, block>>>(...) as launch(grid, block, seed, [&] { kernel(...); }).
template <typename Kernel>
void launch(dim3 grid, dim3 block, unsigned seed, Kernel&& kernel) {
  Device& d = device();
  d.grid = grid;
  d.block = block;
  d.kernel = kernel;
  const size_t threads = static_cast<size_t>(block.x) * block.y * block.z;
  if (threads == 0 || threads > 1024) fail("block size must be 1..1024 threads");
  d.fibers.assign(threads, Fiber{});
  for (Fiber& f : d.fibers) f.stack.resize(256 * 1024);
  d.lanes.assign(threads, 0);
  std::vector<dim3> blocks;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) blocks.emplace_back(x, y, z);
  std::shuffle(blocks.begin(), blocks.end(), std::mt19937(seed));
  for (const dim3& b : blocks) {
    d.block_index = b;
    run_block(d);
  }
}

}  // namespace emu

#define threadIdx (::emu::self().thread)
#define blockIdx (::emu::device().block_index)
#define blockDim (::emu::device().block)
#define gridDim (::emu::device().grid)

inline void __syncthreads() { emu::wait_at(emu::State::kAtBlockBarrier); }

template <typename T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta) {
  static_assert(sizeof(T) <= sizeof(uint64_t), "shuffled values are at most 8 bytes");
  if (mask != 0xffffffffu) emu::fail("only full-warp shuffles are emulated");
  emu::Device& d = emu::device();
  const size_t me = d.current, lane = me % 32;
  std::memcpy(&d.lanes[me], &value, sizeof(T));
  emu::wait_at(emu::State::kAtWarpBarrier);  // every lane has published its value
  T out = value;
  if (lane + delta < 32) std::memcpy(&out, &d.lanes[me + delta], sizeof(T));
  emu::wait_at(emu::State::kAtWarpBarrier);  // every lane has read before a slot is rewritten
  return out;
}

template <typename T>
T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}

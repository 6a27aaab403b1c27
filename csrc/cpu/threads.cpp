// The thread count of CPU fills. Process-wide (fills from any Python thread, e.g. checkpoint
// writers, follow it) and fastinit's alone: the pool's threads are not OpenMP's, so nothing
// here changes torch's OpenMP settings in the same process.
#include "threads.h"

#include <algorithm>
#include <atomic>
#include <string>

#include "../dispatch.h"
#include "../errors.h"

#if defined(__linux__)
#include <sched.h>
#endif
#include <unistd.h>

namespace fastinit {
namespace cpu {
namespace {

std::atomic<int> g_num_threads{0};   // set_num_threads; 0: the default rule
std::atomic<int> g_limit{0};         // set_thread_limit; 0: none
std::atomic<double> g_grain_scale{1.0};

// Read once: glibc reads a file in /sys for it, several microseconds a call.
int online_cpus() {
  static const int n = [] {
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? int(online) : 1;
  }();
  return n;
}

// CPUs this process may run on now (taskset, os.sched_setaffinity, a container's cpuset).
int affinity_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return online_cpus();
}

}  // namespace

int fill_threads(int torch_threads) {
  const int n = g_num_threads.load(std::memory_order_relaxed);
  if (n > 0) return n;
  int cap = affinity_cpus();
  const int limit = g_limit.load(std::memory_order_relaxed);
  if (limit > 0) cap = std::min(cap, limit);
  if (torch_threads > 0) cap = std::min(cap, torch_threads);
  return cap;
}

void set_thread_limit(int n) { g_limit.store(std::max(0, n), std::memory_order_relaxed); }
int thread_limit() { return g_limit.load(std::memory_order_relaxed); }
void clear_num_threads() { g_num_threads.store(0, std::memory_order_relaxed); }

void set_grain_scale(double scale) {
  if (!(scale >= 0)) throw ValueError("fastinit: grain scale must be >= 0");
  g_grain_scale.store(scale, std::memory_order_relaxed);
}
double grain_scale() { return g_grain_scale.load(std::memory_order_relaxed); }

// A sane ceiling: past 16 threads per processor a fill only waits on more threads.
int max_threads() { return std::max(64, 16 * online_cpus()); }

void set_num_threads(int64_t n) {
  if (n < 1 || n > max_threads())
    throw ValueError(tagged("set_num_threads", "n must be an int in [1, " +
                                                   std::to_string(max_threads()) + "], got " +
                                                   std::to_string(n)));
  g_num_threads.store(int(n), std::memory_order_relaxed);
}

int get_num_threads(int torch_threads) { return fill_threads(torch_threads); }

}  // namespace cpu
}  // namespace fastinit

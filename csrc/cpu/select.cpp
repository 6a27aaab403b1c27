// Chooses the CPU kernel build for this processor at run time (never -march=native), and
// owns the thread count. Every build computes the same bits; only the vector width differs.
#include <omp.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>

#include "../dispatch.h"
#include "../errors.h"
#include "isa_request.h"
#include "pages.h"

namespace fastinit {
namespace cpu {
namespace avx512 { void fill(const FillJob& job, bool streaming, int threads); }
namespace avx2 { void fill(const FillJob& job, bool streaming, int threads); }
namespace base { void fill(const FillJob& job, bool streaming, int threads); }

namespace {

enum class Isa { base, avx2, avx512 };

Isa detect() {
  // FASTINIT_ISA forces a narrower build (tests use it to compare the paths); an unknown value
  // is refused on every processor, a wider one than it has gives the widest it has.
  const IsaRequest asked = isa_request(std::getenv("FASTINIT_ISA"));
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("f16c") && __builtin_cpu_supports("bmi2");
  const bool has512 = has2 && __builtin_cpu_supports("avx512f") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512vl");
  if (asked == IsaRequest::base) return Isa::base;
  if (asked == IsaRequest::avx2) return has2 ? Isa::avx2 : Isa::base;
  if (has512) return Isa::avx512;
  if (has2) return Isa::avx2;
#else
  (void)asked;
#endif
  return Isa::base;  // also every non-x86 processor: CMake builds only the portable kernels there
}

Isa chosen() {
  static const Isa isa = detect();
  return isa;
}

// libgomp cannot start a thread team in a child forked after the parent ran one (the child
// waits forever for pool threads that were not copied), and fork after init is common
// (DataLoader workers, multiprocessing). Whether the parent ran one is unknowable here: with
// torch imported first, this module shares torch's libgomp, and torch's parallel ops start the
// pool. So every forked child fills on its own thread only.
std::atomic<bool> g_forked_child{false};
void on_fork_child() { g_forked_child.store(true, std::memory_order_relaxed); }
const bool g_fork_handler = [] { return pthread_atfork(nullptr, nullptr, on_fork_child) == 0; }();

bool threads_allowed() { return !g_forked_child.load(std::memory_order_relaxed); }

// set_num_threads is process-wide: omp_set_num_threads alone would only reach the calling
// thread (fills from other Python threads, e.g. checkpoint workers, would ignore it).
std::atomic<int> g_num_threads{0};  // 0: OpenMP's default

int threads_for_fill() {
  if (!threads_allowed()) return 1;
  const int n = g_num_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : omp_get_max_threads();
}

}  // namespace

void fill(const FillJob& job) {
  const bool streaming = prepare_pages(job.plan);
  const int threads = threads_for_fill();
  switch (chosen()) {
#if defined(FI_HAVE_X86_ISAS)
    case Isa::avx512: return avx512::fill(job, streaming, threads);
    case Isa::avx2: return avx2::fill(job, streaming, threads);
#endif
    default: return base::fill(job, streaming, threads);
  }
}

const char* isa_name() {
#if defined(FI_HAVE_X86_ISAS)
  switch (chosen()) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: break;
  }
#endif
  return "base";
}

// OpenMP's own limit, and a sane one: libgomp crashes starting 100,000 threads and aborts at
// 2^31 - 1; past 16 per processor a fill only waits on more threads.
int max_threads() {
  const int sane = std::max(64, 16 * omp_get_num_procs());
  return std::max(1, std::min(omp_get_thread_limit(), sane));
}

void set_num_threads(int64_t n) {
  if (n < 1 || n > max_threads())
    throw ValueError(tagged("set_num_threads", "n must be an int in [1, " +
                                                   std::to_string(max_threads()) + "], got " +
                                                   std::to_string(n)));
  g_num_threads.store(int(n), std::memory_order_relaxed);
  omp_set_num_threads(int(n));
}
int get_num_threads() { return threads_for_fill(); }

}  // namespace cpu
}  // namespace fastinit

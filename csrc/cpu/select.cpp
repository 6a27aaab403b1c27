// Chooses the CPU kernel build for this processor at run time (never -march=native), and
// owns the thread count. Every build computes the same bits; only the vector width differs.
#include <omp.h>

#include <cstdlib>
#include <cstring>

#include "../dispatch.h"
#include "pages.h"

namespace fastinit {
namespace cpu {
namespace avx512 { void fill(const FillJob& job, bool streaming); }
namespace avx2 { void fill(const FillJob& job, bool streaming); }
namespace base { void fill(const FillJob& job, bool streaming); }

namespace {

enum class Isa { base, avx2, avx512 };

Isa detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool has512 = has2 && __builtin_cpu_supports("avx512f") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512vl");
  // FASTINIT_ISA=base|avx2 forces a narrower build (tests use it to compare the paths).
  const char* forced = std::getenv("FASTINIT_ISA");
  if (forced && !std::strcmp(forced, "base")) return Isa::base;
  if (forced && !std::strcmp(forced, "avx2")) return has2 ? Isa::avx2 : Isa::base;
  if (has512) return Isa::avx512;
  if (has2) return Isa::avx2;
#endif
  return Isa::base;
}

Isa chosen() {
  static const Isa isa = detect();
  return isa;
}

}  // namespace

void fill(const FillJob& job) {
  const bool streaming = prepare_pages(job.plan);
  switch (chosen()) {
#if defined(FI_HAVE_X86_ISAS)
    case Isa::avx512: return avx512::fill(job, streaming);
    case Isa::avx2: return avx2::fill(job, streaming);
#endif
    default: return base::fill(job, streaming);
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

void set_num_threads(int n) { omp_set_num_threads(n); }
int get_num_threads() { return omp_get_max_threads(); }

}  // namespace cpu
}  // namespace fastinit

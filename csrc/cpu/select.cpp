// Chooses the CPU kernel build for this processor at run time (never -march=native), and how
// a fill is split over threads. Every build computes the same bits; only the vector width differs.
#include <algorithm>
#include <cstdlib>
#include <string>

#include "../dispatch.h"
#include "../errors.h"
#include "isa_request.h"
#include "pages.h"
#include "split.h"
#include "threads.h"

namespace fastinit {
namespace cpu {
namespace avx512 { void fill(const FillJob& job, bool streaming, const Split& split); }
namespace avx2 { void fill(const FillJob& job, bool streaming, const Split& split); }
namespace base { void fill(const FillJob& job, bool streaming, const Split& split); }

namespace {

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

}  // namespace

Split split_of(const FillJob& job, int torch_threads) {
  Split split = split_for(job, chosen(), max_threads(), grain_scale());
  // The CPUs' count is a system call: only for fills large enough to be split.
  if (split.threads > 1) split = split_for(job, chosen(), fill_threads(torch_threads), grain_scale());
  return split;
}

void fill(const FillJob& job, int torch_threads) {
  const bool streaming = prepare_pages(job.plan);
  const Split split = split_of(job, torch_threads);
  switch (chosen()) {
#if defined(FI_HAVE_X86_ISAS)
    case Isa::avx512: return avx512::fill(job, streaming, split);
    case Isa::avx2: return avx2::fill(job, streaming, split);
#endif
    default: return base::fill(job, streaming, split);
  }
}

bool may_use_threads(int64_t numel) {
  return numel >= min_split_elements(chosen(), grain_scale());
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

}  // namespace cpu
}  // namespace fastinit

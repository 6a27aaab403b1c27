// How a large CPU fill should meet its memory. A fresh torch.empty / np.empty buffer is not
// mapped yet; its first write faults every page in, and on this class of machine the faults
// cost more than generating the numbers (a 512 MiB fresh fill_: 0.095 s; the same memory
// resident: 0.033 s). Two levers, measured on the 2-core KVM guest of BENCHMARKS.md:
//  - Streaming stores skip the read-for-ownership of resident memory (a resident 512 MiB
//    constant_: 0.011 s vs 0.029 s), but a page the kernel has just zeroed sits in the cache,
//    and streaming it out costs more than plain stores (fresh uniform_: 0.18 s vs 0.14 s).
//    So stream only when sampled pages are already resident (mincore).
//  - Transparent huge pages on the 2 MiB-aligned interior (512x fewer faults; numpy advises
//    its own arrays so): 1 GiB fresh uniform_ 0.13 s vs 0.28 s when the process keeps
//    recycling huge pages, but 0.34-1.6 s when they must come from memory the hypervisor has
//    taken back (virtio-balloon), the usual case for a one-off model build. So it is opt-in:
//    FASTINIT_HUGEPAGES=1. It changes how memory is backed, never its contents.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "pages.h"

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace fastinit {
namespace cpu {
namespace {

constexpr int64_t kAdviseMinBytes = 4 << 20;  // numpy's threshold for huge-page advice
constexpr uintptr_t kHugePage = uintptr_t(2) << 20;
constexpr int kResidencySamples = 16;

// Streaming pays once a fill is larger than the cache share it could stay in: below, plain
// stores hit lines that are already cached (often dirty: torch or the caller just wrote them),
// and streaming them out first costs more. Measured here on resident float32 buffers,
// constant_ GB/s plain vs streaming: 4 MiB 58 vs 41, 64 MiB 51 vs 46, 128 MiB 20 vs 47;
// uniform_/normal_ are compute-bound and within 10% either way. Half the last-level cache,
// kept within [4 MiB, 64 MiB] (the VM here reports the host's 480 MiB L3).
int64_t stream_min_bytes() {
  static const int64_t bytes = [] {
    int64_t llc = 0;
#if defined(__linux__) && defined(_SC_LEVEL3_CACHE_SIZE)
    llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
    if (llc <= 0) llc = int64_t(32) << 20;
    return std::min(std::max(llc / 2, int64_t(4) << 20), int64_t(64) << 20);
  }();
  return bytes;
}

bool huge_pages_allowed() {
  static const bool allowed = [] {
    const char* v = std::getenv("FASTINIT_HUGEPAGES");
    return v && !std::strcmp(v, "1");
  }();
  return allowed;
}

// [lo, hi): the bytes the plan's elements span (strides may be negative).
void span_of(const Plan& p, uintptr_t& lo, uintptr_t& hi) {
  int64_t first = 0, last = 0;
  for (int k = 0; k < p.ndim; ++k) {
    const int64_t reach = (p.shape[k] - 1) * p.mstride[k];
    (reach < 0 ? first : last) += reach;
  }
  lo = reinterpret_cast<uintptr_t>(p.data) + first * p.elem_size;
  hi = reinterpret_cast<uintptr_t>(p.data) + (last + 1) * p.elem_size;
}

#if defined(__linux__)
void advise_huge_pages(uintptr_t lo, uintptr_t hi) {
  const uintptr_t start = (lo + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t end = hi & ~(kHugePage - 1);
  // A hint: failure (no THP in this kernel, a file mapping) changes nothing.
  if (end > start) (void)madvise(reinterpret_cast<void*>(start), end - start, MADV_HUGEPAGE);
}

// True when most of kResidencySamples pages spread over [lo, hi) are already mapped.
// Unknown (mincore failing) counts as resident: streaming is the right default there.
bool mostly_resident(uintptr_t lo, uintptr_t hi) {
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t step = (hi - lo) / kResidencySamples;
  int resident = 0;
  for (int s = 0; s < kResidencySamples; ++s) {
    const uintptr_t at = (lo + uintptr_t(s) * step) & ~(page - 1);
    unsigned char in_core = 0;
    if (mincore(reinterpret_cast<void*>(at), page, &in_core) != 0) return true;
    resident += in_core & 1;
  }
  return 2 * resident > kResidencySamples;
}
#else
void advise_huge_pages(uintptr_t, uintptr_t) {}
bool mostly_resident(uintptr_t, uintptr_t) { return true; }
#endif

}  // namespace

bool prepare_pages(const Plan& p) {
  const int64_t bytes = p.numel * int64_t(p.elem_size);
  if (bytes < kAdviseMinBytes) return false;
  uintptr_t lo = 0, hi = 0;
  span_of(p, lo, hi);
  // Only a dense span is ours alone to advise; a strided view shares pages with other data.
  const bool dense = int64_t(hi - lo) == bytes;
  if (dense && huge_pages_allowed()) advise_huge_pages(lo, hi);
  return bytes >= stream_min_bytes() && mostly_resident(lo, hi);
}

}  // namespace cpu
}  // namespace fastinit

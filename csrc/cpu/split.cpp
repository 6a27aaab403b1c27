// A thread pays only when its share of a fill is well above what waking it costs (about 4 us
// on the KVM guests of BENCHMARKS.md, 20-30 us at the 99th percentile), so each thread gets at
// least kThreadCycles of work, and smaller fills run on the calling thread alone. The work is
// estimated from the element count and the per-core cost of the distribution on the chosen
// instruction set (benchmarks/per_core.py, cycles per element at the nominal clock).
#include "split.h"

#include <algorithm>

namespace fastinit {
namespace cpu {
namespace {

// Work a thread must get (about 30 us at 2.6 GHz).
constexpr double kThreadCycles = 80000;

enum Cost { kConstant, kBits, kUniform32, kNormal32, kUniform64, kNormal64, kCosts };

// Cycles per element, one core, output in cache; constant_ is the store alone. avx2 and
// avx512: BENCHMARKS.md's per-core table (Zen 5); base, the portable build: measured in the
// same run as avx512 and scaled to its row (Philox auto-vectorized with SSE2, a scalar
// transform).
constexpr double kCycles[3][kCosts] = {
    /* base   */ {0.15, 2.0, 2.2, 15.0, 4.7, 18.6},
    /* avx2   */ {0.15, 1.21, 1.23, 2.9, 2.5, 10.7},
    /* avx512 */ {0.15, 0.59, 0.57, 1.4, 1.2, 6.0},
};

Cost cost_of(const FillJob& job) {
  const bool f64 = job.dtype == DType::f64;
  switch (job.kind) {
    case DistKind::constant: return kConstant;
    case DistKind::bits: return kBits;
    case DistKind::uniform: return f64 ? kUniform64 : kUniform32;
    default: return f64 || job.wide ? kNormal64 : kNormal32;
  }
}

// Elements per thread, at least.
double grain_of(Cost cost, Isa isa, double grain_scale) {
  return std::max(1.0, grain_scale * kThreadCycles / kCycles[int(isa)][cost]);
}

}  // namespace

Split split_for(const FillJob& job, Isa isa, int max_threads, double grain_scale) {
  const double grain = grain_of(cost_of(job), isa, grain_scale);
  Split s;
  s.threads = int(std::max(1.0, std::min(double(max_threads), double(job.plan.numel) / grain)));
  // Four tasks to a thread's least share: a thread that wakes late or is descheduled holds
  // up at most one short task, and the others take the rest.
  s.task_elements = std::max(kBatch, (int64_t(grain / 4) + kBatch - 1) / kBatch * kBatch);
  return s;
}

int64_t min_split_elements(Isa isa, double grain_scale) {
  return int64_t(2 * grain_of(kNormal64, isa, grain_scale));  // the costliest per element
}

}  // namespace cpu
}  // namespace fastinit

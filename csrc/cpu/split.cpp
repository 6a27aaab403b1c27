// A thread pays only when its share of a fill is well above what sharing costs: waking a
// sleeping worker costs a fill 10-20 us on the KVM guests of BENCHMARKS.md (a futex wake and an
// interrupt to its core), a worker still watching for work after the previous fill (pool.cpp)
// about 2 us. So each thread gets at least kThreadNs of work, and smaller fills run on the
// calling thread alone. The work is estimated from the element count and the one-thread cost
// per element of the distribution on the chosen instruction set, measured by
// benchmarks/grain.py, which also times each size on one thread and on two.
#include "split.h"

#include <algorithm>

namespace fastinit {
namespace cpu {
namespace {

// Work a thread must get, ns: with a watching worker two threads pay from about 5 us of work,
// with a sleeping one from about 40.
constexpr double kThreadNs = 20000;

enum Cost { kConstant, kBits, kUniform32, kNormal32, kUniform64, kNormal64, kCosts };

// ns per element on one thread, 2^20-element fills (4-8 MiB, past L2), Zen 5 guest, quiet;
// bits as uniform_ less its transform.
constexpr double kNs[3][kCosts] = {
    /* base   */ {0.095, 1.8, 1.94, 13.9, 4.2, 16.9},
    /* avx2   */ {0.078, 0.55, 0.62, 1.51, 1.68, 6.4},
    /* avx512 */ {0.064, 0.45, 0.52, 1.09, 0.97, 4.9},
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
  return std::max(1.0, grain_scale * kThreadNs / kNs[int(isa)][cost]);
}

}  // namespace

Split split_for(const FillJob& job, Isa isa, int max_threads, double grain_scale) {
  const Cost cost = cost_of(job);
  const double numel = double(job.plan.numel);
  Split s;
  s.threads = int(std::max(1.0, std::min(double(max_threads),
                                         numel / grain_of(cost, isa, grain_scale))));
  // Sixteen tasks per thread, each at least a quarter of a thread's least share (about 5 us of
  // work), at most a quarter of a thread's share of this fill and at most 16 least shares
  // (about 300 us): a thread that wakes late or is descheduled holds up at most one short
  // task, and the others take the rest. Not many more: neighbouring tasks go to different
  // threads, and two threads first touching pages of the same 2 MiB (fresh memory) take turns
  // at its page-table lock.
  const double grain = grain_of(cost, isa, 1.0);
  const double task = std::min({std::max(grain / 4, numel / (16.0 * s.threads)),
                                numel / (4.0 * s.threads), 16 * grain});
  // Whole Philox batches, except in tests (grain_scale < 1), where fills of a few thousand
  // elements are split too.
  const int64_t round = grain_scale < 1 ? 1 : kBatch;
  s.task_elements = std::max(round, (int64_t(task) + round - 1) / round * round);
  return s;
}

int64_t min_split_elements(Isa isa, double grain_scale) {
  return int64_t(2 * grain_of(kNormal64, isa, grain_scale));  // the costliest per element
}

}  // namespace cpu
}  // namespace fastinit

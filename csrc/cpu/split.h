// How a CPU fill is divided: how many threads, and how many elements a task holds (split.cpp).
#pragma once
#include <cstdint>

#include "../fill_job.h"

namespace fastinit {
namespace cpu {

enum class Isa { base, avx2, avx512 };

constexpr int64_t kBatch = 512;  // elements per Philox batch (fill.cpp): stays in L1

struct Split {
  int threads = 1;            // the calling thread included
  int64_t task_elements = 0;  // elements per task (a thread takes tasks one at a time)
};

// At most max_threads threads, each with enough work to pay for waking it. grain_scale
// multiplies the work a thread must get (tests set it to 0 to split every fill).
Split split_for(const FillJob& job, Isa isa, int max_threads, double grain_scale);

// The fewest elements any fill needs to be split on this instruction set.
int64_t min_split_elements(Isa isa, double grain_scale);

}  // namespace cpu
}  // namespace fastinit

// How many threads a CPU fill may use (threads.cpp), and the testing knob for the grain.
#pragma once
#include <cstdint>

namespace fastinit {
namespace cpu {

// The most a fill may use now: set_num_threads' n where it was called; otherwise the least of
// the CPUs this process may run on (its affinity), the process's limit (set_thread_limit:
// OMP_NUM_THREADS, the cgroup's CPU quota) and torch_threads (torch's own count; 0: torch is
// not loaded).
int fill_threads(int torch_threads);

// The count the default rule leaves out (0: none), set once from Python at import.
void set_thread_limit(int n);
int thread_limit();
void clear_num_threads();  // back to the default rule

// Multiplies the work each thread must get (split.cpp); 0 splits every fill (tests).
void set_grain_scale(double scale);
double grain_scale();

}  // namespace cpu
}  // namespace fastinit

// fastinit's own CPU threads: a small pool of workers that sleep in the kernel between runs of
// fills (after a fill a worker watches 50 us for the next one) and take a fill's tasks one at
// a time from a shared counter. No OpenMP: a thread that the scheduler has taken away (another
// process on its core) never holds the fill up at a barrier, because the threads that run take
// its share; a waiting caller sleeps instead of spinning; and torch's OpenMP settings in the
// same process are left alone.
#pragma once
#include <cstdint>

namespace fastinit {
namespace cpu {

using TaskFn = void (*)(void* ctx, int64_t task);

// Runs fn(ctx, t) once for every t in [0, ntasks), on the calling thread and at most
// threads - 1 pool workers, and returns when all have returned. Which thread runs which task
// is not fixed (a late worker runs fewer); fn must not depend on it. Runs every task on the
// calling thread when threads <= 1, ntasks <= 1, or the pool is busy with another caller's
// fill. fn must not throw.
void parallel_for(int64_t ntasks, int threads, TaskFn fn, void* ctx);

template <class F>
void parallel_for(int64_t ntasks, int threads, F& f) {
  parallel_for(ntasks, threads, [](void* c, int64_t t) { (*static_cast<F*>(c))(t); }, &f);
}

// Workers started so far in this process (a forked child starts with none). For tests.
int pool_workers();

// True while fills run serially after a stall (pool.cpp: a thread holding a task was off its
// core for long). For tests and benchmarks.
bool pool_backing_off();

// Tests: every worker waits this long (0 by default) after it is woken, before it looks for
// tasks (holding_task false: a worker that wakes late), or after it has claimed each task
// (true: a worker taken off its core in the middle of one).
void set_worker_delay_us(int64_t us, bool holding_task);

}  // namespace cpu
}  // namespace fastinit

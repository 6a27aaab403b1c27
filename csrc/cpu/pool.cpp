// The pool behind parallel_for (pool.h). One job at a time: the caller publishes it, wakes as
// many sleeping workers as the job has seats for, and takes tasks itself at once; each thread
// claims the next task with a compare-and-swap on one word holding (job id, next task), so a
// worker that wakes late, or is descheduled, simply runs fewer tasks. The caller returns when
// every task has finished: it spins for a few microseconds (the last tasks are short), then
// sleeps on a futex, leaving its core to whichever thread still holds a task.
//
// That wait is the one cost of sharing a fill that cannot be avoided: a thread the scheduler
// takes off its core in the middle of a task holds the fill until it runs again (milliseconds
// when every core is busy), and nobody else may finish a task that thread is writing. So a
// wait much longer than a task (kStallNs, and four of the caller's own) is taken as a sign that
// the cores are busy, and fills run on their callers alone for a while: 10 ms, doubling with
// each stall up to 1 s, back to 10 ms after a fill that did not stall. (A wait of 50 us and a backoff
// halved, not reset, by a smooth fill gave up a quiet machine's second thread to every short
// burst of another process: 2^20-element fills 45% slower with one such process beside them.)
//
// A worker may read a job's parameters after that job is over (it was slow to wake): its
// claim names the job it read, and fails once the word has moved on to a newer job, so it
// never runs a task of a job that has returned. Workers live as long as the process; a forked
// child has none (they were not copied) and starts its own on its first parallel fill.
#include "pool.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <new>
#include <thread>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#else
#include <condition_variable>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace fastinit {
namespace cpu {
namespace {

constexpr uint64_t kIndexMask = 0xFFFFFFFFu;
constexpr uint64_t kClosed = kIndexMask;  // no task index reaches it: nothing to claim
constexpr auto kSpin = std::chrono::microseconds(20);  // the caller's wait before it sleeps
constexpr int64_t kStallNs = 200000;        // a task lasts about 5 us (split.cpp)
constexpr int64_t kMinBackoffNs = 10000000;
constexpr int64_t kMaxBackoffNs = 1000000000;
constexpr int64_t kWorkerWatchNs = 50000;  // a worker's watch for the next job (below)
constexpr size_t kWorkerStack = size_t(1) << 20;

// Sleep while `word` still holds `seen` (may return early); wake up to n sleepers on `word`.
#if defined(__linux__)
void sleep_while(std::atomic<uint32_t>& word, uint32_t seen) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, seen, nullptr,
          nullptr, 0);
}
void wake(std::atomic<uint32_t>& word, int n) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, n, nullptr, nullptr,
          0);
}
#else
std::mutex g_sleep_mu;
std::condition_variable g_sleep_cv;
void sleep_while(std::atomic<uint32_t>& word, uint32_t seen) {
  std::unique_lock<std::mutex> lock(g_sleep_mu);
  g_sleep_cv.wait(lock, [&] { return word.load() != seen; });
}
void wake(std::atomic<uint32_t>&, int) {
  { std::lock_guard<std::mutex> lock(g_sleep_mu); }  // a sleeper is either waiting or sees the word
  g_sleep_cv.notify_all();
}
#endif

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// The words every thread writes during a job sit on cache lines of their own.
struct Pool {
  std::mutex job_mu;  // held by the one caller whose job the workers serve
  alignas(64) std::atomic<uint64_t> claim{kClosed};  // (job << 32) | next unclaimed task
  alignas(64) std::atomic<int64_t> done{0};  // tasks of the current job that have returned
  alignas(64) std::atomic<uint64_t> seats{0};  // (job << 32) | workers that may still join it
  std::atomic<TaskFn> fn{nullptr};
  std::atomic<void*> ctx{nullptr};
  std::atomic<int64_t> ntasks{0};
  std::atomic<uint32_t> job_seq{0};    // workers sleep on it; bumped once per job
  std::atomic<int> sleepers{0};
  alignas(64) std::atomic<uint32_t> done_seq{0};  // the caller sleeps on it
  std::atomic<int> caller_sleeping{0};
  std::atomic<int> workers{0};         // started (changed under job_mu)
  uint32_t job = 0;                    // id of the latest job (under job_mu)
  std::atomic<int64_t> serial_until{0};  // steady clock, ns: until then fills run serially
  int64_t backoff = kMinBackoffNs;       // under job_mu
};
Pool g_pool;
std::atomic<int64_t> g_worker_delay_us{0};
std::atomic<bool> g_delay_holding_task{false};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool backing_off(const Pool& p) {
  return now_ns() < p.serial_until.load(std::memory_order_relaxed);
}

void test_delay(bool holding_task) {
  const int64_t us = g_worker_delay_us.load(std::memory_order_relaxed);
  if (us > 0 && g_delay_holding_task.load(std::memory_order_relaxed) == holding_task)
    std::this_thread::sleep_for(std::chrono::microseconds(us));
}

void reset_in_child() {
  new (&g_pool) Pool();  // the parent's workers, and any job in flight, are not in the child
#if !defined(__linux__)
  new (&g_sleep_mu) std::mutex();
  new (&g_sleep_cv) std::condition_variable();
#endif
}
const bool g_fork_handler = [] { return pthread_atfork(nullptr, nullptr, reset_in_child) == 0; }();

void finished(Pool& p) {
  p.done_seq.fetch_add(1);
  if (p.caller_sleeping.load()) wake(p.done_seq, 1);
}

// Claims and runs tasks of `job` until none is left (or the job is over), then counts them
// done at once: one write to the shared counter per thread, not per task (an atomic on a line
// another core holds costs hundreds of nanoseconds on these guests).
int64_t work(Pool& p, uint64_t job, bool worker) {
  const TaskFn fn = p.fn.load(std::memory_order_acquire);
  void* const ctx = p.ctx.load(std::memory_order_acquire);
  const int64_t n = p.ntasks.load(std::memory_order_acquire);
  int64_t ran = 0;
  uint64_t c = p.claim.load(std::memory_order_acquire);
  for (;;) {
    if ((c >> 32) != job || int64_t(c & kIndexMask) >= n) break;
    if (!p.claim.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel,
                                       std::memory_order_acquire))
      continue;
    if (worker) test_delay(true);
    fn(ctx, int64_t(c & kIndexMask));
    ++ran;
    c = p.claim.load(std::memory_order_acquire);
  }
  if (ran > 0 && p.done.fetch_add(ran, std::memory_order_acq_rel) + ran == n) finished(p);
  return ran;
}

// A worker takes one of the current job's seats, if one is left, and works on it.
void join_job(Pool& p) {
  uint64_t s = p.seats.load(std::memory_order_acquire);
  do {
    if ((s & kIndexMask) == 0) return;
  } while (!p.seats.compare_exchange_weak(s, s - 1, std::memory_order_acq_rel,
                                          std::memory_order_acquire));
  (void)work(p, s >> 32, true);
}

void* worker_main(void* arg) {
  Pool& p = g_pool;
  uint32_t seen = uint32_t(reinterpret_cast<uintptr_t>(arg));  // job_seq before its job
  for (;;) {
    const uint32_t now = p.job_seq.load(std::memory_order_acquire);
    if (now != seen) {
      seen = now;
      test_delay(false);
      join_job(p);
      // Fills often come in runs (a model's tensors): watch for the next job a little while
      // before sleeping, which spares its caller the wake (a system call and an interrupt to
      // this core, 10-20 us on a VM). Not while fills run serially: the cores are busy.
      const int64_t until = now_ns() + kWorkerWatchNs;
      while (p.job_seq.load(std::memory_order_acquire) == seen && now_ns() < until &&
             !backing_off(p))
        for (int i = 0; i < 16; ++i) cpu_relax();
      continue;
    }
    p.sleepers.fetch_add(1);
    if (p.job_seq.load() == seen) sleep_while(p.job_seq, seen);
    p.sleepers.fetch_sub(1);
  }
  return nullptr;
}

// Starts workers until there are `want` (fewer if the system refuses more threads).
void start_workers(Pool& p, int want) {
  for (int have = p.workers.load(); have < want; ++have) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, kWorkerStack);
    sigset_t all, old;  // signals stay with the threads Python knows about
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t thread;
    const uintptr_t seen = p.job_seq.load();
    const int rc = pthread_create(&thread, &attr, worker_main, reinterpret_cast<void*>(seen));
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    pthread_attr_destroy(&attr);
    if (rc != 0) return;
    p.workers.store(have + 1);
  }
}

// The caller waits for the tasks other threads still hold; returns how long (ns).
int64_t wait_done(Pool& p, int64_t n) {
  if (p.done.load(std::memory_order_acquire) == n) return 0;
  const int64_t start = now_ns();
  const auto spin_until = std::chrono::steady_clock::now() + kSpin;
  for (unsigned i = 1; p.done.load(std::memory_order_acquire) != n; ++i) {
    if (i % 64 != 0 || std::chrono::steady_clock::now() < spin_until) {
      cpu_relax();
      continue;
    }
    const uint32_t seq = p.done_seq.load();
    p.caller_sleeping.store(1);
    if (p.done.load() != n) sleep_while(p.done_seq, seq);
    p.caller_sleeping.store(0);
  }
  return now_ns() - start;
}

// After a stall, fills run serially for the backoff, which doubles; a smooth fill resets it.
// A stall: a wait past kStallNs and past four of the caller's own tasks (the last task of
// another thread may legitimately take as long as one of them: long, in a large fill).
void note_wait(Pool& p, int64_t waited_ns, int64_t task_ns) {
  if (waited_ns < std::max(kStallNs, 4 * task_ns)) {
    p.backoff = kMinBackoffNs;
    return;
  }
  p.serial_until.store(now_ns() + p.backoff, std::memory_order_relaxed);
  p.backoff = std::min(2 * p.backoff, kMaxBackoffNs);
}

void run_serial(int64_t ntasks, TaskFn fn, void* ctx) {
  for (int64_t t = 0; t < ntasks; ++t) fn(ctx, t);
}

}  // namespace

void parallel_for(int64_t ntasks, int threads, TaskFn fn, void* ctx) {
  Pool& p = g_pool;
  if (threads > ntasks) threads = int(ntasks);
  if (threads <= 1 || uint64_t(ntasks) >= kClosed) return run_serial(ntasks, fn, ctx);
  if (backing_off(p)) return run_serial(ntasks, fn, ctx);  // the cores are busy
  std::unique_lock<std::mutex> lock(p.job_mu, std::try_to_lock);
  if (!lock.owns_lock()) return run_serial(ntasks, fn, ctx);  // another thread's fill has them
  start_workers(p, threads - 1);
  const int helpers = std::min(threads - 1, p.workers.load());
  if (helpers == 0) return run_serial(ntasks, fn, ctx);

  const uint64_t job = ++p.job;
  p.claim.store((job << 32) | kClosed, std::memory_order_release);  // before the new parameters
  p.fn.store(fn, std::memory_order_release);
  p.ctx.store(ctx, std::memory_order_release);
  p.ntasks.store(ntasks, std::memory_order_release);
  p.done.store(0, std::memory_order_relaxed);
  p.claim.store(job << 32, std::memory_order_release);
  p.seats.store((job << 32) | uint64_t(helpers), std::memory_order_release);
  p.job_seq.fetch_add(1);
  if (p.sleepers.load() > 0) wake(p.job_seq, helpers);

  const int64_t start = now_ns();
  const int64_t ran = work(p, job, false);
  const int64_t task_ns = ran > 0 ? (now_ns() - start) / ran : 0;
  const int64_t waited = wait_done(p, ntasks);
  p.seats.store(job << 32, std::memory_order_relaxed);  // no seat left for a late worker
  note_wait(p, waited, task_ns);
}

int pool_workers() { return g_pool.workers.load(); }

void set_worker_delay_us(int64_t us, bool holding_task) {
  g_delay_holding_task.store(holding_task);
  g_worker_delay_us.store(us < 0 ? 0 : us);
}

bool pool_backing_off() { return backing_off(g_pool); }

}  // namespace cpu
}  // namespace fastinit

// CPU backend: tasks of whole rows or pieces of a row run on fastinit's thread pool (pool.h),
// Philox blocks generated in batches, then the distribution applied element-wise. This file is
// compiled once per instruction set (FI_ISA = avx512 / avx2 / base, see CMakeLists.txt); the
// source and the bits are the same.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "../core/philox.h"
#include "../core/plan.h"
#include "../core/storage.h"
#include "../fill_job.h"
#include "../visit.h"
#include "normal_simd.h"
#include "philox_simd.h"
#include "pool.h"
#include "split.h"
#include "store_run.h"
#include "stream_store.h"

#ifndef FI_ISA
#define FI_ISA base
#endif
#define FI_CAT2(a, b) a##b
#define FI_CAT(a, b) FI_CAT2(a, b)

namespace fastinit {
namespace cpu {
namespace FI_ISA {
namespace {

constexpr int64_t kMaxTasks = int64_t(1) << 30;  // the pool's claim word counts tasks in 32 bits

// Words of blocks [first, first + nblocks) into out[4 * j + lane]. The SIMD path writes whole
// groups of kSimdBlocks blocks (out has room for the last one's overrun), except where the low
// counter word would wrap inside the batch: the scalar loop handles that carry.
void philox_batch(uint32_t* __restrict out, uint64_t first, int64_t nblocks, uint64_t key,
                  uint64_t stream) {
  if (kHaveSimdPhilox && uint64_t(uint32_t(first)) + uint64_t(nblocks) + 64 <= (uint64_t(1) << 32)) {
    philox_batch_simd(out, first, nblocks, key, stream);
    return;
  }
  const uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  const uint32_t s0 = uint32_t(stream), s1 = uint32_t(stream >> 32);
  for (int64_t j = 0; j < nblocks; ++j) {
    const uint64_t b = first + uint64_t(j);
    const Block4 r = philox4x32_10(uint32_t(b), uint32_t(b >> 32), s0, s1, k0, k1);
    out[4 * j + 0] = r.w[0];
    out[4 * j + 1] = r.w[1];
    out[4 * j + 2] = r.w[2];
    out[4 * j + 3] = r.w[3];
  }
}

template <class D>
constexpr bool is_random() {
  return D::kRandom;
}

// Elements with logical indices [g, g + len), written at out[0], out[ostride], ...
template <class T, class Dist, class CT>
void fill_run(T* out, int64_t ostride, uint64_t g, int64_t len, const Dist& dist, CT lo, CT hi,
              uint64_t key, uint64_t stream, bool streaming) {
  using W = typename WordOf<T>::type;
  constexpr int kPer = WordOf<T>::kPerBlock;
  if constexpr (!is_random<Dist>()) {  // a constant: converted once, then copied
    T c;
    store(&c, min_f(max_f(dist(W(0)), lo), hi));
    alignas(64) T stored[kBatch];
    std::fill(stored, stored + kBatch, c);
    for (int64_t pos = 0; pos < len; pos += kBatch) {
      const int64_t n = std::min(kBatch, len - pos);
      if (ostride == 1 && streaming) {
        stream_copy(out + pos, stored, size_t(n) * sizeof(T));
      } else {
        for (int64_t j = 0; j < n; ++j) out[(pos + j) * ostride] = c;
      }
    }
    return;
  }
  alignas(64) uint32_t words[kBatch * 2 + 256];  // SIMD groups may overrun by < 64 words
  for (int64_t pos = 0; pos < len; pos += kBatch) {
    const int64_t n = std::min(kBatch, len - pos);
    const uint64_t gi = g + uint64_t(pos);
    const int64_t skip = int64_t(gi % kPer);
    philox_batch(words, gi / kPer, (skip + n + kPer - 1) / kPer, key, stream);
    const W* w = reinterpret_cast<const W*>(words) + skip;
    // Values first (a batch-wide vector transform where one exists), then clamp and store.
    alignas(64) CT vals[kBatch];
    dist_batch(dist, w, vals, n);
    T* o = out + pos * ostride;
    if (ostride == 1 && streaming) {
      alignas(64) T stored[kBatch];
      store_run(stored, vals, n, lo, hi);
      stream_copy(o, stored, size_t(n) * sizeof(T));
    } else if (ostride == 1) {
      store_run(o, vals, n, lo, hi);
    } else {
      for (int64_t j = 0; j < n; ++j) store(o + j * ostride, min_f(max_f(vals[j], lo), hi));
    }
  }
}

// uint32 outputs (raw bits) need no clamping.
template <class Dist>
void fill_run(uint32_t* out, int64_t ostride, uint64_t g, int64_t len, const Dist& dist,
              uint32_t, uint32_t, uint64_t key, uint64_t stream, bool) {
  alignas(64) uint32_t words[kBatch + 256];
  for (int64_t pos = 0; pos < len; pos += kBatch) {
    const int64_t n = std::min(kBatch, len - pos);
    const uint64_t gi = g + uint64_t(pos);
    const int64_t skip = int64_t(gi % 4);
    philox_batch(words, gi / 4, (skip + n + 3) / 4, key, stream);
    if (ostride == 1) {
      std::memcpy(out + pos, words + skip, size_t(n) * 4);
    } else {
      for (int64_t j = 0; j < n; ++j) out[(pos + j) * ostride] = dist(words[skip + j]);
    }
  }
}

// Tasks of task_elements: pieces of one row, or several whole rows where rows are shorter.
// Each element's value depends only on its logical index, so any thread may run any task.
template <class T, class Dist, class CT>
void fill_plan(const FillJob& job, bool streaming, const Split& split, const Dist& dist, CT lo,
               CT hi) {
  const Plan& p = job.plan;
  const int last = p.ndim - 1;
  const int64_t row_len = p.shape[last];
  const int64_t rows = p.numel / row_len;
  const int64_t piece = std::min(row_len, split.task_elements);
  const int64_t pieces_per_row = (row_len + piece - 1) / piece;
  const int64_t pieces = rows * pieces_per_row;
  const int64_t per_task = std::max({int64_t(1), split.task_elements / piece,
                                     (pieces + kMaxTasks - 1) / kMaxTasks});
  const int64_t tasks = (pieces + per_task - 1) / per_task;
  T* const base = reinterpret_cast<T*>(p.data);
  auto run_task = [&](int64_t task) {
    const int64_t end = std::min(pieces, (task + 1) * per_task);
    for (int64_t t = task * per_task; t < end; ++t) {
      const int64_t row = t / pieces_per_row, start = t % pieces_per_row * piece;
      const RowOrigin o = row_origin(p, row);
      const int64_t len = std::min(piece, row_len - start);
      fill_run(base + o.moff + start * p.mstride[last], p.mstride[last],
               o.first + uint64_t(start) * p.gstride[last], len, dist, lo, hi, job.key,
               job.stream, streaming);
    }
    if (streaming) stream_fence();  // before the task counts as done on another thread
  };
  parallel_for(tasks, split.threads, run_task);
}

}  // namespace

// streaming: write rows with non-temporal stores (chosen by pages.cpp); split: threads and task
// size (select.cpp, split.h).
void fill(const FillJob& job, bool streaming, const Split& split) {
  visit_job(job, [&](auto* tag, const auto& dist, auto lo, auto hi) {
    using T = std::remove_pointer_t<decltype(tag)>;
    fill_plan<T>(job, streaming, split, dist, lo, hi);
  });
}

}  // namespace FI_ISA
}  // namespace cpu
}  // namespace fastinit

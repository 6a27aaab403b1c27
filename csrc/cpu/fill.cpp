// CPU backend: OpenMP over tiles of rows, Philox blocks generated in batches, then the
// distribution applied element-wise. This file is compiled once per instruction set
// (FI_ISA = avx512 / avx2 / base, see CMakeLists.txt); the source and the bits are the same.
#include <omp.h>

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

constexpr int64_t kBatch = 512;    // elements per Philox batch: stays in L1
constexpr int64_t kTile = 1 << 16; // elements per OpenMP work item
constexpr int64_t kParallelMin = 1 << 15;

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

template <class T, class Dist, class CT>
void fill_plan(const FillJob& job, bool streaming, int threads, const Dist& dist, CT lo,
               CT hi) {
  const Plan& p = job.plan;
  const int last = p.ndim - 1;
  const int64_t row_len = p.shape[last];
  const int64_t rows = p.numel / row_len;
  const int64_t tiles_per_row = (row_len + kTile - 1) / kTile;
  const int64_t tiles = rows * tiles_per_row;
  T* const base = reinterpret_cast<T*>(p.data);
#pragma omp parallel num_threads(threads) if (threads > 1 && p.numel >= kParallelMin && tiles > 1)
  {
#pragma omp for schedule(static)
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t row = t / tiles_per_row, chunk = t % tiles_per_row;
    const RowOrigin o = row_origin(p, row);
    int64_t moff = o.moff;
    uint64_t gidx = o.first;
    const int64_t start = chunk * kTile;
    const int64_t len = std::min(kTile, row_len - start);
    moff += start * p.mstride[last];
    gidx += uint64_t(start) * p.gstride[last];
    fill_run(base + moff, p.mstride[last], gidx, len, dist, lo, hi, job.key, job.stream, streaming);
  }
  if (streaming) stream_fence();  // each thread orders its own streaming stores
  }
}

}  // namespace

// streaming: write rows with non-temporal stores (chosen by pages.cpp); threads: the team size
// (select.cpp: set_num_threads, or 1 in a forked child, where libgomp cannot start a team).
void fill(const FillJob& job, bool streaming, int threads) {
  visit_job(job, [&](auto* tag, const auto& dist, auto lo, auto hi) {
    using T = std::remove_pointer_t<decltype(tag)>;
    fill_plan<T>(job, streaming, threads, dist, lo, hi);
  });
}

}  // namespace FI_ISA
}  // namespace cpu
}  // namespace fastinit

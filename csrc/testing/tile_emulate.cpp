// The tiled CUDA path run on the host: every CTA of a launch takes its tiles grid-stride, and
// for each, every thread runs core/tile_map.h's tile_compute (into a checked shared memory),
// then, warp by warp, tile_store (into a checked buffer). Each value carries the Philox block
// and word it came from, so a test can hold every element to its logical index, and each
// warp's stores of one loop step are checked to be one contiguous run of elements.
#include "tile_emulate.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "../core/tile_map.h"
#include "../errors.h"
#include "../visit.h"
#include "checked_stores.h"

namespace fastinit {
namespace testing {
namespace {

// A value in the proof's shared memory: the element and where its word came from.
template <class T>
struct Traced {
  T value;
  uint64_t block;
  int8_t word;
  int64_t evaluation;  // which block evaluation of the tile produced it
};

// TileValues, counting its evaluations and tagging each word.
template <class T, class Values>
struct TracedValues {
  using Value = Traced<T>;
  static constexpr int kPer = WordOf<T>::kPerBlock;
  const Values& inner;
  int64_t& evaluations;

  void block(uint64_t b, Value (&out)[kPer]) const {
    T vals[kPer];
    inner.block(b, vals);
    for (int q = 0; q < kPer; ++q) out[q] = Value{vals[q], b, int8_t(q), evaluations};
    ++evaluations;
  }
};

// One tile's shared memory: every slot inside [0, tm * tl), written once, read once, after
// its write; every evaluation of the tile used for at least one word.
template <class V>
class CheckedShared {
 public:
  explicit CheckedShared(int64_t slots)
      : slots_(size_t(slots)), writes_(size_t(slots)), reads_(size_t(slots)) {}

  void start_tile(int64_t evaluations_before) {
    std::fill(writes_.begin(), writes_.end(), 0);
    std::fill(reads_.begin(), reads_.end(), 0);
    first_evaluation_ = evaluations_before;
    used_.clear();
  }
  void put(int64_t slot, const V& v) {
    if (slot < 0 || slot >= int64_t(slots_.size()))
      throw std::logic_error("tile emulation: a shared slot outside the tile");
    if (writes_[size_t(slot)]++)
      throw std::logic_error("tile emulation: shared slot " + std::to_string(slot) +
                             " written twice");
    slots_[size_t(slot)] = v;
    const size_t e = size_t(v.evaluation - first_evaluation_);
    if (used_.size() <= e) used_.resize(e + 1, 0);
    used_[e] = 1;
  }
  const V& get(int64_t slot) const {
    if (slot < 0 || slot >= int64_t(slots_.size()) || !writes_[size_t(slot)])
      throw std::logic_error("tile emulation: shared slot " + std::to_string(slot) +
                             " read but never written");
    if (reads_[size_t(slot)]++)
      throw std::logic_error("tile emulation: shared slot " + std::to_string(slot) + " read twice");
    return slots_[size_t(slot)];
  }
  // After the tile's stores: rows x cols slots, each written and read; no evaluation wasted.
  int64_t finish_tile(const TileOrigin& o, int64_t evaluations_after) const {
    int64_t written = 0;
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (writes_[i] != reads_[i])
        throw std::logic_error("tile emulation: shared slot " + std::to_string(i) + " never read");
      written += writes_[i];
    }
    if (written != o.rows * o.cols)
      throw std::logic_error("tile emulation: " + std::to_string(written) +
                             " slots for a tile of " + std::to_string(o.rows * o.cols));
    const int64_t evaluations = evaluations_after - first_evaluation_;
    if (int64_t(std::count(used_.begin(), used_.end(), 1)) != evaluations)
      throw std::logic_error("tile emulation: a Philox block evaluated for no word of the tile");
    return written;
  }

 private:
  std::vector<V> slots_;
  std::vector<uint8_t> writes_;
  mutable std::vector<uint8_t> reads_;
  int64_t first_evaluation_ = 0;
  std::vector<uint8_t> used_;
};

// The store phase's sink: the checked buffer, the trace, and the stores of the current warp,
// grouped by step when the warp ends.
template <class T>
class WarpStores {
 public:
  WarpStores(const Plan& p, CheckedStores& checked, TileEmulation& em)
      : data_(reinterpret_cast<T*>(p.data)), checked_(checked), em_(em) {}

  void store(int step, T* at, const Traced<T>& v) {
    checked_.scalar(at, v.value);
    const size_t i = size_t((at - data_) - em_.span_lo);
    em_.block[i] = v.block;
    em_.word[i] = v.word;
    pending_.emplace_back(step, at - data_);
  }
  void end_warp() {
    std::sort(pending_.begin(), pending_.end());
    for (size_t i = 0; i < pending_.size();) {
      size_t j = i + 1;
      for (; j < pending_.size() && pending_[j].first == pending_[i].first; ++j)
        if (pending_[j].second != pending_[j - 1].second + 1)
          throw std::logic_error("tile emulation: a warp's stores in one step are not contiguous "
                                 "(offsets " + std::to_string(pending_[j - 1].second) + " and " +
                                 std::to_string(pending_[j].second) + ")");
      ++em_.warp_stores;
      em_.partial_warp_stores += j - i < size_t(kWarpLanes);
      i = j;
    }
    pending_.clear();
  }

 private:
  T* data_;
  CheckedStores& checked_;
  TileEmulation& em_;
  std::vector<std::pair<int, int64_t>> pending_;  // (step, element offset)
};

template <class T, class Dist, class CT>
void run_launch(const FillJob& job, const TileGeometry& g, const Dist& dist, CT lo, CT hi,
                TileEmulation& em, CheckedStores& checked) {
  const TileValues<T, Dist, CT> values{dist, lo, hi, philox_keys(job.key), job.stream};
  const TracedValues<T, TileValues<T, Dist, CT>> traced{values, em.philox_blocks};
  CheckedShared<Traced<T>> shared(tile_slots(g));
  WarpStores<T> sink(job.plan, checked, em);
  const int warps = em.threads / kWarpLanes;
  for (int cta = 0; cta < em.ctas; ++cta) {
    for (int64_t t = cta; t < g.tiles; t += em.ctas) {
      const TileOrigin o = tile_origin(job.plan, g, t);
      shared.start_tile(em.philox_blocks);
      for (int thread = 0; thread < em.threads; ++thread)
        tile_compute<T>(job.plan, g, o, thread, em.threads, traced, shared);
      if (em.fault == 1) tile_compute<T>(job.plan, g, o, 0, em.threads, traced, shared);
      // __syncthreads()
      for (int warp = 0; warp < warps; ++warp) {
        for (int lane = 0; lane < kWarpLanes; ++lane) {
          const int thread = em.fault == 3 ? lane * warps + warp : warp * kWarpLanes + lane;
          if (em.fault == 2 && thread == em.threads - 1) continue;
          tile_store<T>(job.plan, g, o, thread, em.threads, shared, sink);
        }
        sink.end_warp();
      }
      em.words_used += shared.finish_tile(o, em.philox_blocks);
      em.partial_tiles += o.rows < g.tm || o.cols < g.tl;
      em.tile_rows += o.rows;
    }
  }
}

void tile_emulate(const FillJob& job, TileEmulation& em) {
  const TileGeometry g = tile_geometry(job.plan, em.tile_m, em.tile_l);
  em.usable = g.usable;
  if (!g.usable) return;
  em.mdim = g.mdim;
  em.ldim = g.ldim;
  em.m_extent = job.plan.shape[g.mdim];
  em.row_extent = job.plan.shape[g.ldim];
  em.tiles = g.tiles;
  CheckedStores checked(job.plan, "tile emulation");
  em.span_lo = checked.span_lo();
  em.block.assign(size_t(checked.span_size()), 0);
  em.word.assign(size_t(checked.span_size()), -1);
  visit_job(job, [&](auto* tag, const auto& dist, auto lo, auto hi) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (!grid_check_bounds<std::decay_t<decltype(dist)>>(lo, hi))
      throw std::logic_error("tile emulation: a normal fill with finite bounds");
    run_launch<T>(job, g, dist, lo, hi, em, checked);
  });
  checked.check_complete();
}

}  // namespace

void fill_tile_emulated(const TensorView& v, const FillRequest& r, TileEmulation& em) {
  if (v.device != DeviceKind::cpu)
    throw DeviceError(tagged(r.fn, "the tile emulation runs on host memory only"));
  if (em.tile_m < kWarpLanes || em.tile_m % kWarpLanes != 0 || em.tile_l < 1 || em.ctas < 1 ||
      em.threads < kWarpLanes || em.threads % kWarpLanes != 0)
    throw ValueError(tagged(r.fn, "tile_m and threads must be positive multiples of 32, "
                                  "tile_l and ctas >= 1"));
  FillJob job;
  if (make_job(v, r, job)) tile_emulate(job, em);
}

}  // namespace testing
}  // namespace fastinit

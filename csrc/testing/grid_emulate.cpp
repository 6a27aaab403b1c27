// The CUDA kernel's work division run on the host: every (warp, lane) of the launch the kernel
// would make calls the same core/grid_map.h fill_lane, writing into a CPU buffer through a sink
// that checks each store. So CI proves, without a GPU, that the mapping covers every element of
// any plan (contiguous, strided, negative strides, shards, offsets) exactly once, with the
// contract's value, and issues 16-byte stores only to aligned addresses in contiguous rows.
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/grid_map.h"
#include "../dispatch.h"
#include "../visit.h"

namespace fastinit {
namespace testing {
namespace {

// Element offsets (from data) a plan's elements span: [lo, hi].
void plan_span(const Plan& p, int64_t& lo, int64_t& hi) {
  lo = hi = 0;
  for (int k = 0; k < p.ndim; ++k) {
    const int64_t reach = (p.shape[k] - 1) * p.mstride[k];
    (reach < 0 ? lo : hi) += reach;
  }
}

// Counts the writes to each element of the span; refuses a store outside it, a second write
// to an element, and a misaligned 16-byte store.
class CheckedStores {
 public:
  CheckedStores(const Plan& p, GridEmulation& em) : p_(p), em_(em) {
    plan_span(p, lo_, hi_);
    writes_.assign(size_t(hi_ - lo_ + 1), 0);
  }

  template <class T>
  void vector(T* at, const Vec16& v) {
    if (reinterpret_cast<uintptr_t>(at) % 16 != 0)
      throw std::logic_error("grid emulation: a 16-byte store to a misaligned address");
    for (int e = 0; e < VecOf<T>::kElems; ++e) mark(at + e);
    std::memcpy(at, &v, 16);
    ++em_.vector_stores;
  }
  template <class T>
  void scalar(T* at, T x) {
    mark(at);
    std::memcpy(at, &x, sizeof(T));
    ++em_.scalar_stores;
  }

  // After the launch: every element of the plan written exactly once, nothing else written.
  void check_complete() const {
    int64_t written = 0;
    for (uint8_t w : writes_) written += w;
    if (written != p_.numel)
      throw std::logic_error("grid emulation: " + std::to_string(written) + " stores for " +
                             std::to_string(p_.numel) + " elements");
    for (int64_t i = 0; i < p_.numel; ++i) {
      int64_t rem = i, off = 0;
      for (int k = p_.ndim - 1; k >= 0; --k) {
        off += (rem % p_.shape[k]) * p_.mstride[k];
        rem /= p_.shape[k];
      }
      if (writes_[size_t(off - lo_)] != 1)
        throw std::logic_error("grid emulation: element " + std::to_string(i) + " was not written");
    }
  }

 private:
  template <class T>
  void mark(T* at) {
    const int64_t bytes = reinterpret_cast<char*>(at) - p_.data;
    const int64_t off = bytes / int64_t(sizeof(T));
    if (bytes % int64_t(sizeof(T)) != 0 || off < lo_ || off > hi_)
      throw std::logic_error("grid emulation: a store outside the target's elements");
    if (++writes_[size_t(off - lo_)] > 1)
      throw std::logic_error("grid emulation: element at offset " + std::to_string(off) +
                             " written twice");
  }

  const Plan& p_;
  GridEmulation& em_;
  int64_t lo_ = 0, hi_ = 0;
  std::vector<uint8_t> writes_;
};

template <class T, bool kOneRow, class Dist, class CT>
void run_launch(const FillJob& job, const GridGeometry& g, const Dist& dist, CT lo, CT hi,
                int64_t blocks, int fault, CheckedStores& sink) {
  const int64_t warps = blocks * (kThreadsPerBlock / kWarpLanes);
  const PhiloxKeys keys = philox_keys(job.key);
  for (int64_t warp = 0; warp < warps - (fault == 2); ++warp)
    for (int lane = 0; lane < kWarpLanes; ++lane)
      fill_lane<T, kOneRow>(job.plan, g, dist, lo, hi, keys, job.stream, warp, warps, lane, sink);
  if (fault == 1) fill_lane<T, kOneRow>(job.plan, g, dist, lo, hi, keys, job.stream, 0, warps, 0, sink);
}

}  // namespace

void grid_emulate(const FillJob& job, GridEmulation& em) {
  CheckedStores sink(job.plan, em);
  visit_job(job, [&](auto* tag, const auto& dist, auto lo, auto hi) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (!grid_check_bounds<std::decay_t<decltype(dist)>>(lo, hi))
      throw std::logic_error("grid emulation: a normal fill with finite bounds");
    const GridGeometry g = grid_geometry(job.plan, VecOf<T>::kElems);
    em.blocks = grid_blocks(g, int64_t(em.sms) * em.blocks_per_sm);
    em.tiles = g.tiles;
    em.tile_groups = g.tile_groups;
    if (g.one_row)
      run_launch<T, true>(job, g, dist, lo, hi, em.blocks, em.fault, sink);
    else
      run_launch<T, false>(job, g, dist, lo, hi, em.blocks, em.fault, sink);
  });
  sink.check_complete();
}

}  // namespace testing
}  // namespace fastinit

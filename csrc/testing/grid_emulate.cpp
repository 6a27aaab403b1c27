// The CUDA kernel's work division run on the host: every (warp, lane) of the launch the kernel
// would make calls the same core/grid_map.h fill_lane, writing into a CPU buffer through a sink
// that checks each store. So CI proves, without a GPU, that the mapping covers every element of
// any plan (contiguous, strided, negative strides, shards, offsets) exactly once, with the
// contract's value, and issues 16-byte stores only to aligned addresses in contiguous rows.
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include "../core/grid_map.h"
#include "../dispatch.h"
#include "../visit.h"
#include "checked_stores.h"

namespace fastinit {
namespace testing {
namespace {

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
  CheckedStores sink(job.plan, "grid emulation");
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
  em.vector_stores = sink.vector_stores;
  em.scalar_stores = sink.scalar_stores;
}

}  // namespace testing
}  // namespace fastinit

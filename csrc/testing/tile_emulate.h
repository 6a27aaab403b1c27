// The tiled CUDA path's division of work (core/tile_map.h) run on the host over a CPU target,
// for tests: the same checks, plan and values as fill(), and what the threads did.
#pragma once
#include <cstdint>
#include <vector>

#include "../dispatch.h"

namespace fastinit {
namespace testing {

struct TileEmulation {
  int64_t tile_m = 32, tile_l = 32;  // tm (a multiple of 32) and tl (>= 1)
  int ctas = 4, threads = 256;       // the launch: CTAs (grid-stride over tiles), threads each
  // Tests of the checks: 1 runs thread 0's compute phase twice, 2 leaves the last thread's
  // stores out, 3 numbers the threads so that a warp's lanes are `threads / 32` apart.
  int fault = 0;

  bool usable = false;  // whether the plan takes the tile path; nothing is written otherwise
  int mdim = -1, ldim = -1;              // in the plan (dims collapsed)
  int64_t m_extent = 0, row_extent = 0;  // the plan's shape along them
  int64_t tiles = 0, partial_tiles = 0, tile_rows = 0;  // tile_rows: rows summed over tiles
  int64_t philox_blocks = 0, words_used = 0;            // blocks evaluated, words stored
  int64_t warp_stores = 0, partial_warp_stores = 0;     // (warp, step) groups; under 32 lanes
  // Per element of the plan's span (offset span_lo + i from data): the Philox block and word
  // lane its value came from; word -1 where nothing was stored.
  int64_t span_lo = 0;
  std::vector<uint64_t> block;
  std::vector<int8_t> word;
};

// Throws ValueError for a launch that cannot be (tile_m, threads not multiples of 32, ...) and
// std::logic_error when the mapping breaks a rule: an element written twice or missed, a
// shared slot outside the tile, written twice, read before it was written or never read, a
// Philox block evaluated for no word, or a warp's stores in one step not one contiguous run.
void fill_tile_emulated(const TensorView& view, const FillRequest& req, TileEmulation& em);

}  // namespace testing
}  // namespace fastinit

// How a tiled CUDA fill divides a strided or transposed view among the threads of a CTA,
// written once for device and host: a host build (testing/tile_emulate.cpp) runs these
// functions for every thread of a launch, so CI proves without a GPU that each element is
// written exactly once, with the word the contract gives its logical index, and that a warp's
// stores are one contiguous run of memory.
//
// The row path (grid_map.h) walks each row of consecutive logical indices; where the row is
// strided in memory (a transposed matrix: stride = the row count) its stores are scattered. A
// tile path applies where another dim m has memory stride +-1: the view is cut into tiles of
// tm x tl elements over (m, row), the other dims index batches, and a CTA takes a tile at a time:
//   1. compute: item w = (r = w % tm, s = w / tm) evaluates Philox block s of tile row r's
//      logical run (tl consecutive indices touch at most (tl + kPer - 2) / kPer + 1 blocks of
//      kPer words: 4, or 2 for float64) and puts each of its words that falls inside the row
//      into shared slot (r, c);
//   2. barrier;
//   3. store: item w = (r = w % tm, c = w / tm) stores slot (r, c) to element (m0 + r, l0 + c).
//      tm is a multiple of 32, so the 32 lanes of a warp take one column and 32 consecutive r:
//      memory offsets one apart, a single coalesced store (a partial tile masks a suffix);
//   4. barrier, then the next tile (tiles go to CTAs grid-stride).
// Slots are column-major with pitch tm (slot = c * tm + r): the store phase reads 32
// consecutive slots, and the compute phase's lanes (32 consecutive r) hit 32 distinct banks
// whatever their columns, for 4-byte elements.
#pragma once
#include <cstdint>

#include "grid_map.h"
#include "plan.h"

namespace fastinit {

struct TileGeometry {
  bool usable = false;  // the plan has a dim other than the row with memory stride +-1
  int mdim = -1;        // that dim: a tile's rows r run along it
  int ldim = -1;        // the row (the plan's last dim, logical stride 1): columns c
  int64_t tm = 0, tl = 0;                         // tile extent along mdim and ldim
  int64_t tiles_m = 0, tiles_l = 0, batches = 0;  // tiles along each, and the batch count
  int64_t tiles = 0;                              // tiles_m * tiles_l * batches
};

// Host side: the tiles of a plan, for tm a positive multiple of 32 and tl >= 1. Not usable
// (the row path serves it) where the row is contiguous, there is no other dim of stride +-1
// (e.g. a[:, ::2].T), or the row is a single element.
inline TileGeometry tile_geometry(const Plan& p, int64_t tm, int64_t tl) {
  TileGeometry g;
  const int last = p.ndim - 1;
  if (tm <= 0 || tm % kWarpLanes != 0 || tl <= 0 || p.numel == 0 || last < 1) return g;
  if (p.gstride[last] != 1 || p.shape[last] < 2 || p.mstride[last] == 1 || p.mstride[last] == -1)
    return g;
  for (int k = 0; k < last; ++k)
    if (p.mstride[k] == 1 || p.mstride[k] == -1) g.mdim = k;
  if (g.mdim < 0) return g;
  g.usable = true;
  g.ldim = last;
  g.tm = tm;
  g.tl = tl;
  g.tiles_m = (p.shape[g.mdim] + tm - 1) / tm;
  g.tiles_l = (p.shape[last] + tl - 1) / tl;
  g.batches = p.numel / (p.shape[g.mdim] * p.shape[last]);
  g.tiles = g.tiles_m * g.tiles_l * g.batches;
  return g;
}

// Shared-memory elements a CTA needs for one tile.
FI_HD int64_t tile_slots(const TileGeometry& g) { return g.tm * g.tl; }

FI_HD int64_t tile_slot(const TileGeometry& g, int64_t r, int64_t c) { return c * g.tm + r; }

// A tile's element (0, 0): its memory offset and logical index, and the tile's extent (rows
// along mdim, cols along the row; smaller than tm x tl at the view's far edges).
struct TileOrigin {
  int64_t moff = 0;
  uint64_t first = 0;
  int64_t rows = 0, cols = 0;
};

// Tile `t`: tiles along mdim vary fastest (neighbouring CTAs continue the same columns in
// memory), then along the row, then the batch, whose index runs over the other dims in C order.
FI_HD TileOrigin tile_origin(const Plan& p, const TileGeometry& g, int64_t t) {
  int64_t rest = div_floor(t, g.tiles_m);
  const int64_t m0 = (t - rest * g.tiles_m) * g.tm;
  int64_t batch = div_floor(rest, g.tiles_l);
  const int64_t l0 = (rest - batch * g.tiles_l) * g.tl;
  TileOrigin o;
  o.moff = m0 * p.mstride[g.mdim] + l0 * p.mstride[g.ldim];
  o.first = p.base + uint64_t(m0) * p.gstride[g.mdim] + uint64_t(l0);
  for (int k = p.ndim - 1; k >= 0; --k) {
    if (k == g.mdim || k == g.ldim) continue;
    const int64_t q = div_floor(batch, p.shape[k]);
    const int64_t jk = batch - q * p.shape[k];
    batch = q;
    o.moff += jk * p.mstride[k];
    o.first += uint64_t(jk) * p.gstride[k];
  }
  const int64_t rows_left = p.shape[g.mdim] - m0, cols_left = p.shape[g.ldim] - l0;
  o.rows = rows_left < g.tm ? rows_left : g.tm;
  o.cols = cols_left < g.tl ? cols_left : g.tl;
  return o;
}

// The values of one Philox block's words in T, as the contract gives them (word q of block b
// is logical index b * kPer + q): the distribution, clamped, rounded into T.
template <class T, class Dist, class CT>
struct TileValues {
  using Value = T;
  static constexpr int kPer = WordOf<T>::kPerBlock;
  Dist dist;
  CT lo, hi;
  PhiloxKeys keys;
  uint64_t stream;

  FI_HD void block(uint64_t b, T (&vals)[kPer]) const {
    using W = typename WordOf<T>::type;
    Block4 blk{};
    if constexpr (Dist::kRandom) blk = philox_block(keys, stream, b);
    FI_UNROLL
    for (int q = 0; q < kPer; ++q)
      store(&vals[q], clamped_value(dist, word_from_block(blk, q, W{}), lo, hi));
  }
};

// Phase 1 for thread `thread` of `threads`: its Philox blocks, each word that belongs to the
// tile put into its slot. Values: a type Value and block(b, Value (&)[kPer]) (TileValues);
// Shared: put(slot, Value). T (the element type) gives kPer.
// The block's word 0 sits in column c0 = b * kPer - a of row r (a: the row's first logical
// index); the difference is taken modulo 2^64, so a row ending at index 2^64 - 1 is right.
template <class T, class Values, class Shared>
FI_HD void tile_compute(const Plan& p, const TileGeometry& g, const TileOrigin& o, int thread,
                        int threads, const Values& values, Shared& shared) {
  constexpr int kPer = WordOf<T>::kPerBlock;
  const int64_t slots = (o.cols + kPer - 2) / kPer + 1;  // blocks a row of cols can touch
  const uint64_t mstep = p.gstride[g.mdim];
  for (int64_t w = thread; w < g.tm * slots; w += threads) {
    const int64_t s = div_floor(w, g.tm);
    const int64_t r = w - s * g.tm;
    if (r >= o.rows) continue;
    const uint64_t a = o.first + uint64_t(r) * mstep;
    const uint64_t b = a / kPer + uint64_t(s);
    const int64_t c0 = int64_t(b * kPer - a);  // >= 1 - kPer
    if (c0 >= o.cols) continue;
    typename Values::Value vals[kPer];
    values.block(b, vals);
    FI_UNROLL
    for (int q = 0; q < kPer; ++q) {
      const int64_t c = c0 + q;
      if (c >= 0 && c < o.cols) shared.put(tile_slot(g, r, c), vals[q]);
    }
  }
}

// Phase 2 (after the CTA's barrier) for thread `thread`: slots to memory. Shared: get(slot);
// Sink: store(step, T* at, T x), step = the thread's loop iteration (all lanes of a warp run
// the same number: tm * cols is a multiple of 32), which the host proof groups stores by.
template <class T, class Shared, class Sink>
FI_HD void tile_store(const Plan& p, const TileGeometry& g, const TileOrigin& o, int thread,
                      int threads, const Shared& shared, Sink& sink) {
  T* const origin = reinterpret_cast<T*>(p.data) + o.moff;
  const int64_t ms = p.mstride[g.mdim], ls = p.mstride[g.ldim];
  int step = 0;
  for (int64_t w = thread; w < g.tm * o.cols; w += threads, ++step) {
    const int64_t c = div_floor(w, g.tm);
    const int64_t r = w - c * g.tm;
    if (r < o.rows) sink.store(step, origin + r * ms + c * ls, shared.get(tile_slot(g, r, c)));
  }
}

}  // namespace fastinit

// How the CUDA fill divides a tensor among threads, written once for device and host: the kernel
// (cuda/fill.cu) runs fill_lane in every thread, and a host build (testing/grid_emulate.cpp) runs
// the same function for every (warp, lane) of the same launch, so CI proves without a GPU that
// each element is written exactly once, with the contract's value, and that 16-byte stores only
// reach 16-byte-aligned addresses.
//
// Work comes in vector groups: group G holds the V = 16 / sizeof(T) elements with logical
// indices [G*V, G*V + V), whole Philox blocks (V/4 blocks; one for float64), so a thread writes
// one 16-byte vector per group where the row is contiguous and aligned. A row (the plan's last
// dim: consecutive logical indices) is cut into tiles of up to 256 groups; a warp takes a whole
// tile, lane l its groups l, l + 32, ... (coalesced), and tiles go to warps grid-stride. The
// row's memory offset and first index (divisions over the dims) are found once per tile, and
// not at all when the plan is a single row (a contiguous tensor, the common case).
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "bits.h"
#include "distributions.h"
#include "macros.h"
#include "philox.h"
#include "plan.h"
#include "storage.h"

namespace fastinit {

constexpr int kWarpLanes = 32;
constexpr int kMaxGroupsPerLane = 8;
constexpr int kThreadsPerBlock = 256;

template <class T>
struct VecOf {
  static constexpr int kElems = 16 / int(sizeof(T));
  static constexpr int kLog2 = kElems == 16 ? 4 : kElems == 8 ? 3 : kElems == 4 ? 2 : 1;
  static constexpr int kBlocks = kElems / WordOf<T>::kPerBlock;  // Philox blocks per group
};

struct GridGeometry {
  bool one_row = true;         // the plan is one row: a tile is a chunk of it, no division
  int64_t tile_groups = 0;     // groups per tile: a multiple of 32, at most 32 * 8
  int64_t tiles_per_row = 0;
  int64_t tiles = 0;           // rows * tiles_per_row: the warps' work items
};

// Host side: the tiles of a plan whose element type has `vec` elements per 16 bytes.
inline GridGeometry grid_geometry(const Plan& p, int vec) {
  GridGeometry g;
  const int last = p.ndim - 1;
  const int64_t row_len = p.shape[last];
  const int64_t rows = row_len > 0 ? p.numel / row_len : 0;
  // Every row starts at the same place within a group when each row step is a multiple of V.
  bool same_phase = true;
  for (int k = 0; k < last; ++k) same_phase = same_phase && p.gstride[k] % uint64_t(vec) == 0;
  const int64_t phase = same_phase ? int64_t(p.base % uint64_t(vec)) : vec - 1;
  g.one_row = p.ndim == 1;
  // groups a row touches (an upper bound where rows' phases differ)
  const int64_t groups_per_row = (phase + row_len + vec - 1) / vec;
  const int64_t cap = int64_t(kWarpLanes) * kMaxGroupsPerLane;
  g.tiles_per_row = (groups_per_row + cap - 1) / cap;
  // Spread a row evenly over its tiles (257 groups: two tiles of 160, not 256 + 1).
  const int64_t even = (groups_per_row + g.tiles_per_row - 1) / g.tiles_per_row;
  g.tile_groups = (even + kWarpLanes - 1) / kWarpLanes * kWarpLanes;
  g.tiles = rows * g.tiles_per_row;
  return g;
}

// Blocks of kThreadsPerBlock for a launch: a warp per tile, at most `resident` blocks (the
// device's SMs times the blocks each holds at once); the warps then loop grid-stride.
inline int64_t grid_blocks(const GridGeometry& g, int64_t resident) {
  const int64_t warps_per_block = kThreadsPerBlock / kWarpLanes;
  const int64_t wanted = (g.tiles + warps_per_block - 1) / warps_per_block;
  return wanted < resident ? wanted : resident;
}

// 16 bytes of output, element 0 in the low bits (little-endian memory order, as on the GPU
// and on every host fastinit builds for).
struct Vec16 {
  uint32_t w[4];
};
FI_HD void pack_into(Vec16& v, int i, float x) { v.w[i] = f32_bits(x); }
FI_HD void pack_into(Vec16& v, int i, uint32_t x) { v.w[i] = x; }
FI_HD void pack_into(Vec16& v, int i, double x) {
  const uint64_t b = f64_bits(x);
  v.w[2 * i] = uint32_t(b);
  v.w[2 * i + 1] = uint32_t(b >> 32);
}
FI_HD void pack_into(Vec16& v, int i, bf16_t x) { v.w[i >> 1] |= uint32_t(x.bits) << (16 * (i & 1)); }
FI_HD void pack_into(Vec16& v, int i, f16_t x) { v.w[i >> 1] |= uint32_t(x.bits) << (16 * (i & 1)); }
FI_HD void pack_into(Vec16& v, int i, f8e4m3fn_t x) { v.w[i >> 2] |= uint32_t(x.bits) << (8 * (i & 3)); }
FI_HD void pack_into(Vec16& v, int i, f8e5m2_t x) { v.w[i >> 2] |= uint32_t(x.bits) << (8 * (i & 3)); }

// Normal values need no clamp: params.cpp bounds them by -inf and +inf, and min/max with those
// return every value, NaN included, unchanged (grid_check_bounds holds a launch to that).
template <class Dist>
struct Unclamped : std::false_type {};
template <>
struct Unclamped<Normal32> : std::true_type {};
template <>
struct Unclamped<Normal64> : std::true_type {};
template <>
struct Unclamped<RawBits32> : std::true_type {};

template <class Dist, class CT>
inline bool grid_check_bounds(CT lo, CT hi) {
  if constexpr (Unclamped<Dist>::value && !std::is_same<CT, uint32_t>::value)
    return lo == -CT(INFINITY) && hi == CT(INFINITY);
  return true;
}

// Uniform values are never -0 or NaN (a + range * u with range * u >= +0 gives +0 at the least
// when a is a zero), and a uniform kernel's hi is never -0 (a == b is a constant fill; below
// any b the largest value is +0 or nonzero), so the device's one-instruction IEEE max/min
// (FMNMX) equals max_f/min_f's compare-and-select on them: the two differ only on a pair of
// opposite zeros. Every other distribution keeps max_f/min_f.
template <class Dist>
struct IeeeClamp : std::false_type {};
template <>
struct IeeeClamp<Uniform32> : std::true_type {};
template <>
struct IeeeClamp<Uniform64> : std::true_type {};

// The computed value of one word: the distribution, clamped to [lo, hi] (in CT, before T).
template <class Dist, class W, class CT>
FI_HD CT clamped_value(const Dist& dist, W w, CT lo, CT hi) {
  if constexpr (Unclamped<Dist>::value) {
    return dist(w);
  } else {
#if defined(__CUDA_ARCH__)
    if constexpr (IeeeClamp<Dist>::value) return fmin(fmax(dist(w), lo), hi);
#endif
    return min_f(max_f(dist(w), lo), hi);
  }
}

// The values of group `block0 / kBlocks`: kBlocks Philox blocks, clamped, in CT.
template <class T, class Dist, class CT, int V = VecOf<T>::kElems>
FI_HD void group_values(const Dist& dist, CT lo, CT hi, const PhiloxKeys& keys, uint64_t stream,
                        uint64_t block0, CT (&vals)[V]) {
  using W = typename WordOf<T>::type;
  constexpr int kPer = WordOf<T>::kPerBlock;
  FI_UNROLL
  for (int b = 0; b < VecOf<T>::kBlocks; ++b) {
    Block4 blk{};
    if constexpr (Dist::kRandom) blk = philox_block(keys, stream, block0 + uint64_t(b));
    FI_UNROLL
    for (int l = 0; l < kPer; ++l)
      vals[b * kPer + l] = clamped_value(dist, word_from_block(blk, l, W{}), lo, hi);
  }
}

// Two values rounded into bfloat16 / float16, packed (the first in the low half). On the device
// one cvt instruction for both: IEEE round-to-nearest-even, as bits.h's integer rounding, for
// every value but NaN (the hardware's NaN is canonical), which takes bits.h's path.
template <class H>
FI_HD uint32_t half2_bits(float a, float b) {
  constexpr bool kBf16 = std::is_same<H, bf16_t>::value;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if (a == a && b == b) {
    uint32_t r;
    if constexpr (kBf16) {
      asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(b), "f"(a));
    } else {
      asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(b), "f"(a));
    }
    return r;
  }
#endif
  if constexpr (kBf16) return uint32_t(bf16_from_f32(a)) | (uint32_t(bf16_from_f32(b)) << 16);
  return uint32_t(f16_from_f32(a)) | (uint32_t(f16_from_f32(b)) << 16);
}

// A whole group's values (computed type CT) rounded into T and packed into 16 bytes.
template <class T, class CT, int V>
FI_HD Vec16 pack_group(const CT (&vals)[V]) {
  Vec16 v{};
  if constexpr (std::is_same<T, bf16_t>::value || std::is_same<T, f16_t>::value) {
    FI_UNROLL
    for (int i = 0; i < V / 2; ++i) v.w[i] = half2_bits<T>(float(vals[2 * i]), float(vals[2 * i + 1]));
  } else {
    FI_UNROLL
    for (int e = 0; e < V; ++e) {
      T x;
      store(&x, vals[e]);
      pack_into(v, e, x);
    }
  }
  return v;
}

// One thread's share of a fill: lane `lane` of warp `warp` of `warps`. Sink has
// vector(T* p, const Vec16&) for an aligned 16-byte group and scalar(T* p, T) for one element.
template <class T, bool kOneRow, class Dist, class CT, class Sink>
FI_HD void fill_lane(const Plan& p, const GridGeometry& g, const Dist& dist, CT lo, CT hi,
                     const PhiloxKeys& keys, uint64_t stream, int64_t warp, int64_t warps,
                     int lane, Sink& sink) {
  constexpr int V = VecOf<T>::kElems, kLog2 = VecOf<T>::kLog2, kBlocks = VecOf<T>::kBlocks;
  const int last = p.ndim - 1;
  const int64_t row_len = p.shape[last];
  const int64_t step = p.mstride[last];
  for (int64_t t = warp; t < g.tiles; t += warps) {
    int64_t chunk = t;
    RowOrigin o{0, p.base};
    if constexpr (!kOneRow) {
      const int64_t row = div_floor(t, g.tiles_per_row);
      chunk = t - row * g.tiles_per_row;
      o = row_origin(p, row);
    }
    T* const row = reinterpret_cast<T*>(p.data) + o.moff;
    const int64_t phase = int64_t(o.first & uint64_t(V - 1));
    const uint64_t group0 = o.first >> kLog2;
    // Group starts are 16 bytes apart in a contiguous row: all aligned or none.
    const bool vectors = step == 1 && ((reinterpret_cast<uintptr_t>(row) -
                                        uintptr_t(phase) * sizeof(T)) & 15u) == 0;
    const int64_t j_begin = chunk * g.tile_groups;
    const int64_t j_end = j_begin + g.tile_groups;
    CT vals[V];
    if (vectors && j_begin * V >= phase && j_end * V - phase <= row_len) {
      // The tile's groups are all whole and aligned (almost every tile of a contiguous
      // tensor): no bounds per group, a pointer and a block counter stepped by a warp's width.
      // Where a group is one Philox block (float32, float64, raw bits), two groups per step
      // keep two independent chains in flight per thread (H200: +1 to 4%); narrower types
      // already have 2 to 4 blocks per group, and the extra registers cost them 5%.
      constexpr int64_t kStep = int64_t(kWarpLanes) * V;
      constexpr uint64_t kBlockStep = uint64_t(kWarpLanes) * kBlocks;
      T* at = row + ((j_begin + lane) * V - phase);
      uint64_t block0 = (group0 + uint64_t(j_begin + lane)) * uint64_t(kBlocks);
      int n = int(g.tile_groups / kWarpLanes);
      for (; kBlocks == 1 && n >= 2; n -= 2) {
        CT next[V];
        group_values<T>(dist, lo, hi, keys, stream, block0, vals);
        group_values<T>(dist, lo, hi, keys, stream, block0 + kBlockStep, next);
        sink.vector(at, pack_group<T>(vals));
        sink.vector(at + kStep, pack_group<T>(next));
        at += 2 * kStep;
        block0 += 2 * kBlockStep;
      }
      for (; n > 0; --n) {
        group_values<T>(dist, lo, hi, keys, stream, block0, vals);
        sink.vector(at, pack_group<T>(vals));
        at += kStep;
        block0 += kBlockStep;
      }
      continue;
    }
    for (int64_t j = j_begin + lane; j < j_end; j += kWarpLanes) {
      const int64_t rel = j * V - phase;  // row position of the group's element 0
      if (rel >= row_len) break;
      group_values<T>(dist, lo, hi, keys, stream, (group0 + uint64_t(j)) * uint64_t(kBlocks), vals);
      if (rel >= 0 && rel <= row_len - V && vectors) {
        sink.vector(row + rel, pack_group<T>(vals));
      } else {
        const int lb = rel < 0 ? int(-rel) : 0;
        const int le = row_len - rel < V ? int(row_len - rel) : V;
        FI_UNROLL
        for (int e = 0; e < V; ++e) {
          if (e >= lb && e < le) {
            T x;
            store(&x, vals[e]);
            sink.scalar(row + (rel + e) * step, x);
          }
        }
      }
    }
  }
}

}  // namespace fastinit

// Philox4x32-10 on many consecutive blocks at once with AVX-512 or AVX2 intrinsics, giving
// exactly the words of core/philox.h in block order. Included by cpu/fill.cpp only.
//
// Layout trick: SIMD position p = 4q + r (q = 128-bit lane, r = slot in it) computes block
// 4r + q. After the standard 4x4 in-lane transpose (unpack 32 then 64), vector r then holds
// blocks 4r .. 4r+3 in order, so it is stored as is: no lane-crossing shuffle.
#pragma once
#if defined(__AVX512F__) || defined(__AVX2__)  // x86 only: other targets take the scalar loop
#include <immintrin.h>
#endif

#include <cstdint>

#include "../core/philox.h"

namespace fastinit {
namespace cpu {
// Internal linkage: this header is compiled once per instruction set (cpu/fill.cpp), and
// the copies must not be merged by the linker.
namespace {

#if defined(__AVX512F__)
constexpr int64_t kSimdBlocks = 16;
using VecU = __m512i;
FI_HD VecU vset1(uint32_t x) { return _mm512_set1_epi32(int(x)); }
FI_HD VecU vadd(VecU a, VecU b) { return _mm512_add_epi32(a, b); }
FI_HD VecU vxor3(VecU a, VecU b, VecU c) { return _mm512_ternarylogic_epi32(a, b, c, 0x96); }
// hi and lo halves of the 32x32 -> 64-bit products a[i] * m, per 32-bit element. In-lane
// shuffles (port 5) rather than 64-bit shifts (port 0, which the multiplies already load).
FI_HD void vmulhilo(VecU a, VecU m, VecU& hi, VecU& lo) {
  const VecU even = _mm512_mul_epu32(a, m);
  const VecU odd = _mm512_mul_epu32(_mm512_shuffle_epi32(a, _MM_PERM_DDBB), m);
  hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_shuffle_epi32(even, _MM_PERM_DDBB), odd);
  lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_shuffle_epi32(odd, _MM_PERM_CCAA));
}
FI_HD VecU block_offsets() {
  return _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
}
FI_HD void store4(uint32_t* out, VecU c0, VecU c1, VecU c2, VecU c3) {
  const VecU t0 = _mm512_unpacklo_epi32(c0, c1), t1 = _mm512_unpackhi_epi32(c0, c1);
  const VecU t2 = _mm512_unpacklo_epi32(c2, c3), t3 = _mm512_unpackhi_epi32(c2, c3);
  _mm512_storeu_si512(out + 0, _mm512_unpacklo_epi64(t0, t2));
  _mm512_storeu_si512(out + 16, _mm512_unpackhi_epi64(t0, t2));
  _mm512_storeu_si512(out + 32, _mm512_unpacklo_epi64(t1, t3));
  _mm512_storeu_si512(out + 48, _mm512_unpackhi_epi64(t1, t3));
}
#elif defined(__AVX2__)
constexpr int64_t kSimdBlocks = 8;
using VecU = __m256i;
FI_HD VecU vset1(uint32_t x) { return _mm256_set1_epi32(int(x)); }
FI_HD VecU vadd(VecU a, VecU b) { return _mm256_add_epi32(a, b); }
FI_HD VecU vxor3(VecU a, VecU b, VecU c) { return _mm256_xor_si256(_mm256_xor_si256(a, b), c); }
FI_HD void vmulhilo(VecU a, VecU m, VecU& hi, VecU& lo) {
  const VecU even = _mm256_mul_epu32(a, m);
  const VecU odd = _mm256_mul_epu32(_mm256_shuffle_epi32(a, 0xF5), m);
  hi = _mm256_blend_epi32(_mm256_shuffle_epi32(even, 0xF5), odd, 0xAA);
  lo = _mm256_blend_epi32(even, _mm256_shuffle_epi32(odd, 0xA0), 0xAA);
}
FI_HD VecU block_offsets() { return _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7); }
// Two 128-bit lanes: position p = 4q + r holds block 2r + q; vectors r = 0..3 after the
// transpose hold blocks (2r, 2r + 1).
FI_HD void store4(uint32_t* out, VecU c0, VecU c1, VecU c2, VecU c3) {
  const VecU t0 = _mm256_unpacklo_epi32(c0, c1), t1 = _mm256_unpackhi_epi32(c0, c1);
  const VecU t2 = _mm256_unpacklo_epi32(c2, c3), t3 = _mm256_unpackhi_epi32(c2, c3);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 0), _mm256_unpacklo_epi64(t0, t2));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8), _mm256_unpackhi_epi64(t0, t2));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 16), _mm256_unpacklo_epi64(t1, t3));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 24), _mm256_unpackhi_epi64(t1, t3));
}
#endif

#if defined(__AVX512F__) || defined(__AVX2__)
constexpr bool kHaveSimdPhilox = true;

// G groups of kSimdBlocks blocks from block j on, computed together: the rounds are a chain of
// dependent multiplies, and independent groups fill their latency.
template <int G>
inline void philox_groups(uint32_t* __restrict out, uint64_t first, int64_t j, const VecU* rk0,
                          const VecU* rk1, VecU hi_word, VecU s0, VecU s1) {
  const VecU m0 = vset1(kPhiloxM0), m1 = vset1(kPhiloxM1), offsets = block_offsets();
  VecU a0[G], a1[G], a2[G], a3[G];
  for (int g = 0; g < G; ++g) {
    a0[g] = vadd(vset1(uint32_t(first) + uint32_t(j + g * kSimdBlocks)), offsets);
    a1[g] = hi_word;
    a2[g] = s0;
    a3[g] = s1;
  }
  for (int r = 0; r < 10; ++r) {
    for (int g = 0; g < G; ++g) {
      VecU h0, l0, h1, l1;
      vmulhilo(a0[g], m0, h0, l0);
      vmulhilo(a2[g], m1, h1, l1);
      a0[g] = vxor3(h1, a1[g], rk0[r]);
      a1[g] = l1;
      a2[g] = vxor3(h0, a3[g], rk1[r]);
      a3[g] = l0;
    }
  }
  for (int g = 0; g < G; ++g) store4(out + 4 * (j + g * kSimdBlocks), a0[g], a1[g], a2[g], a3[g]);
}

// Four groups at a time (per word, on a Zen 5 core: 1.45 -> 1.00 cycles with AVX2, 0.57 -> 0.42
// with AVX-512, against two groups; eight spill and measure slower), then one at a time: the
// last group may write up to kSimdBlocks - 1 blocks past nblocks (out has room).
inline void philox_batch_simd(uint32_t* __restrict out, uint64_t first, int64_t nblocks,
                              uint64_t key, uint64_t stream) {
  VecU rk0[10], rk1[10];
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int r = 0; r < 10; ++r, k0 += kPhiloxW0, k1 += kPhiloxW1) {
    rk0[r] = vset1(k0);
    rk1[r] = vset1(k1);
  }
  const VecU hi_word = vset1(uint32_t(first >> 32));
  const VecU s0 = vset1(uint32_t(stream)), s1 = vset1(uint32_t(stream >> 32));
  int64_t j = 0;
  for (; j + 4 * kSimdBlocks <= nblocks; j += 4 * kSimdBlocks)
    philox_groups<4>(out, first, j, rk0, rk1, hi_word, s0, s1);
  for (; j < nblocks; j += kSimdBlocks) philox_groups<1>(out, first, j, rk0, rk1, hi_word, s0, s1);
}
#else
constexpr bool kHaveSimdPhilox = false;
inline void philox_batch_simd(uint32_t*, uint64_t, int64_t, uint64_t, uint64_t) {}
#endif

}  // namespace
}  // namespace cpu
}  // namespace fastinit

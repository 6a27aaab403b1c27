// AVX-512 and AVX2 forms of core's std_normal_f32 (distributions.h + fmath.h ndtri_table_f32): the same
// operations in the same order, with the 32-segment table held in registers and looked up by
// vpermt2ps instead of 9 gathers. Tests hold it to the reference bit for bit.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "../core/distributions.h"

namespace fastinit {
namespace cpu {
namespace {  // internal linkage: compiled once per instruction set

#if defined(__AVX512F__)
constexpr bool kHaveNormalBatch = true;

// z[j] = std_normal_f32(w[j]) for j < n.
inline void std_normal_batch(const uint32_t* __restrict w, float* __restrict z, int64_t n) {
  constexpr int kRows = FI_NORMAL_TABLE_DEGREE + 1;
  __m512 lo[kRows], hi[kRows];
  for (int j = 0; j < kRows; ++j) {
    lo[j] = _mm512_loadu_ps(&kNormalTableHost[j][0]);
    hi[j] = _mm512_loadu_ps(&kNormalTableHost[j][16]);
  }
  const __m512i abs_mask = _mm512_set1_epi32(0x7FFFFFFF), sign_mask = _mm512_set1_epi32(int(0x80000000u));
  const __m512i mant_mask = _mm512_set1_epi32(0x007FFFFF), one_bits = _mm512_set1_epi32(0x3F800000);
  const __m512i bias = _mm512_set1_epi32(125), cap = _mm512_set1_epi32(31);
  const __m512 half = _mm512_set1_ps(0.5f), quarter = _mm512_set1_ps(0.25f),
               three_halves = _mm512_set1_ps(1.5f), scale = _mm512_set1_ps(2.3283064365386962890625e-10f);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m512i wv = _mm512_loadu_si512(w + j);
    const __m512 q = _mm512_mul_ps(
        _mm512_add_ps(_mm512_cvtepi32_ps(_mm512_and_si512(wv, abs_mask)), half), scale);
    const __m512i qb = _mm512_castps_si512(q);
    const __mmask16 top = _mm512_cmp_ps_mask(q, quarter, _CMP_GE_OQ);
    __m512i k = _mm512_min_epi32(_mm512_sub_epi32(bias, _mm512_srli_epi32(qb, 23)), cap);
    k = _mm512_mask_mov_epi32(k, top, _mm512_setzero_si512());
    const __m512 c = _mm512_sub_ps(q, half);
    const __m512 m = _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(qb, mant_mask), one_bits));
    const __m512 x = _mm512_mask_mov_ps(_mm512_sub_ps(m, three_halves), top, c);
    __m512 p = _mm512_permutex2var_ps(lo[0], k, hi[0]);
    for (int r = 1; r < kRows; ++r)
      p = _mm512_add_ps(_mm512_mul_ps(p, x), _mm512_permutex2var_ps(lo[r], k, hi[r]));
    p = _mm512_mask_mov_ps(p, top, _mm512_mul_ps(p, c));
    // -z flips exactly the sign bit, so the word's top bit is xor-ed in.
    const __m512i zb = _mm512_xor_si512(_mm512_castps_si512(p), _mm512_and_si512(wv, sign_mask));
    _mm512_storeu_ps(z + j, _mm512_castsi512_ps(zb));
  }
  for (; j < n; ++j) z[j] = std_normal_f32(w[j]);
}
#elif defined(__AVX2__)
constexpr bool kHaveNormalBatch = true;

// 8 lanes; the 32-entry table is 4 registers per row. Segments halve in probability, so when
// every lane's segment is below 8 (about 94% of vectors) one vpermps per row suffices; else
// four and a two-level blend. Either way the same coefficient, so the same bits.
inline void std_normal_batch(const uint32_t* __restrict w, float* __restrict z, int64_t n) {
  constexpr int kRows = FI_NORMAL_TABLE_DEGREE + 1;
  __m256 t[kRows][4];
  for (int j = 0; j < kRows; ++j)
    for (int part = 0; part < 4; ++part) t[j][part] = _mm256_loadu_ps(&kNormalTableHost[j][8 * part]);
  const __m256i abs_mask = _mm256_set1_epi32(0x7FFFFFFF), sign_mask = _mm256_set1_epi32(int(0x80000000u));
  const __m256i mant_mask = _mm256_set1_epi32(0x007FFFFF), one_bits = _mm256_set1_epi32(0x3F800000);
  const __m256i bias = _mm256_set1_epi32(125), cap = _mm256_set1_epi32(31), seven = _mm256_set1_epi32(7);
  const __m256 half = _mm256_set1_ps(0.5f), quarter = _mm256_set1_ps(0.25f),
               three_halves = _mm256_set1_ps(1.5f), scale = _mm256_set1_ps(2.3283064365386962890625e-10f);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + j));
    const __m256 q = _mm256_mul_ps(
        _mm256_add_ps(_mm256_cvtepi32_ps(_mm256_and_si256(wv, abs_mask)), half), scale);
    const __m256i qb = _mm256_castps_si256(q);
    const __m256 top = _mm256_cmp_ps(q, quarter, _CMP_GE_OQ);
    __m256i k = _mm256_min_epi32(_mm256_sub_epi32(bias, _mm256_srli_epi32(qb, 23)), cap);
    k = _mm256_andnot_si256(_mm256_castps_si256(top), k);
    const __m256 c = _mm256_sub_ps(q, half);
    const __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(qb, mant_mask), one_bits));
    const __m256 x = _mm256_blendv_ps(_mm256_sub_ps(m, three_halves), c, top);
    __m256 p;
    if (_mm256_testz_si256(_mm256_cmpgt_epi32(k, seven), _mm256_cmpgt_epi32(k, seven))) {
      p = _mm256_permutevar8x32_ps(t[0][0], k);
      for (int r = 1; r < kRows; ++r)
        p = _mm256_add_ps(_mm256_mul_ps(p, x), _mm256_permutevar8x32_ps(t[r][0], k));
    } else {
      const __m256 bit3 = _mm256_castsi256_ps(_mm256_slli_epi32(k, 28));
      const __m256 bit4 = _mm256_castsi256_ps(_mm256_slli_epi32(k, 27));
      auto row = [&](int r) {
        const __m256 lo = _mm256_blendv_ps(_mm256_permutevar8x32_ps(t[r][0], k),
                                           _mm256_permutevar8x32_ps(t[r][1], k), bit3);
        const __m256 hi = _mm256_blendv_ps(_mm256_permutevar8x32_ps(t[r][2], k),
                                           _mm256_permutevar8x32_ps(t[r][3], k), bit3);
        return _mm256_blendv_ps(lo, hi, bit4);
      };
      p = row(0);
      for (int r = 1; r < kRows; ++r) p = _mm256_add_ps(_mm256_mul_ps(p, x), row(r));
    }
    p = _mm256_blendv_ps(p, _mm256_mul_ps(p, c), top);
    const __m256i zb = _mm256_xor_si256(_mm256_castps_si256(p), _mm256_and_si256(wv, sign_mask));
    _mm256_storeu_ps(z + j, _mm256_castsi256_ps(zb));
  }
  for (; j < n; ++j) z[j] = std_normal_f32(w[j]);
}
#else
constexpr bool kHaveNormalBatch = false;
inline void std_normal_batch(const uint32_t* w, float* z, int64_t n) {
  for (int64_t j = 0; j < n; ++j) z[j] = std_normal_f32(w[j]);
}
#endif

// Distribution values for a batch of words; Normal32 takes the vector path above.
template <class Dist, class W, class CT>
void dist_batch(const Dist& dist, const W* w, CT* v, int64_t n) {
  for (int64_t j = 0; j < n; ++j) v[j] = dist(w[j]);
}
inline void dist_batch(const Normal32& dist, const uint32_t* w, float* v, int64_t n) {
  std_normal_batch(w, v, n);
  for (int64_t j = 0; j < n; ++j) v[j] = dist.mean + dist.std * v[j];
}

}  // namespace
}  // namespace cpu
}  // namespace fastinit

// AVX-512 and AVX2 forms of core's float64 normal and truncated-normal transforms
// (distributions.h std_normal_f64 / trunc_std_normal<double>): fmath.h's lane-generic PPND16
// and log on GCC vectors of 8 (AVX-512) or 4 (AVX2) doubles, so the same IEEE operations in
// the same order and the same bits (tests hold them to the reference).
//
// PPND16 has a central rational (|q - 1/2| <= 0.425, 85% of draws) and a tail one behind a log
// and a sqrt. The scalar form computes both and selects; here every lane takes the central form
// in a first pass, which also lists the lanes that need the tail, and a second pass computes
// the tail for those lanes only, packed into full vectors. The select picks the same value, so
// the bits do not change; about 2.5x less arithmetic.
//
// Without x86 SIMD (the base build, aarch64) each element computes only the region it takes,
// behind a branch: the same value again, and about 2.5x less work than both regions.
#pragma once
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include <cstdint>
#include <cstring>

#include "../core/distributions.h"

namespace fastinit {
namespace cpu {
namespace {  // internal linkage: compiled once per instruction set

#if defined(__AVX512F__) || defined(__AVX2__)

#if defined(__AVX512F__)
constexpr int kLanes64 = 8;
#else
constexpr int kLanes64 = 4;
#endif
typedef double VD __attribute__((vector_size(8 * kLanes64)));
typedef int64_t VL __attribute__((vector_size(8 * kLanes64)));  // comparison results: 0 / -1
typedef uint64_t VU __attribute__((vector_size(8 * kLanes64)));

// Lane masks, and loads of base[idx[l]] for kLanes64 int32 indices (a gather instruction: the
// lanes written one by one and read back as a vector stall on store forwarding).
#if defined(__AVX512F__)
inline unsigned vbits64(VL m) { return _mm512_movepi64_mask(__m512i(m)); }
inline VD gather64(const double* base, const int32_t* idx) {
  return VD(_mm512_i32gather_pd(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx)), base, 8));
}
inline VU gather64(const uint64_t* base, const int32_t* idx) {
  return VU(_mm512_i32gather_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx)), base, 8));
}
#else
inline unsigned vbits64(VL m) { return unsigned(_mm256_movemask_pd(__m256d(m))); }
inline VD gather64(const double* base, const int32_t* idx) {
  return VD(_mm256_i32gather_pd(base, _mm_loadu_si128(reinterpret_cast<const __m128i*>(idx)), 8));
}
inline VU gather64(const uint64_t* base, const int32_t* idx) {
  return VU(_mm256_i32gather_epi64(reinterpret_cast<const long long*>(base),
                                   _mm_loadu_si128(reinterpret_cast<const __m128i*>(idx)), 8));
}
#endif
template <class V, class T>
inline V vload64(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class V, class T>
inline void vstore64(T* p, V v) {
  std::memcpy(p, &v, sizeof v);
}

// core's lane-generic float64 functions (fmath.h) on these vectors.
struct VecF64 {
  using D = VD;
  using U = VU;
  static VD splat(double x) { return VD{} + x; }  // 0 + x is x: no constant here is -0
  static VU bits(VD x) { return VU(x); }
  static VD from_bits(VU u) { return VD(u); }
  // double(int64_t(u)) for u < 2^52, exactly: 2^52 + u has u as its mantissa.
  static VD small_int(VU u) { return VD(u | 0x4330000000000000ull) - 4503599627370496.0; }
#if defined(__AVX512F__)
  static VD sqrt(VD x) { return VD(_mm512_sqrt_pd(__m512d(x))); }
#else
  static VD sqrt(VD x) { return VD(_mm256_sqrt_pd(__m256d(x))); }
#endif
};

// The two passes shared by both distributions. quantile(j) gives lane group j's q and the sign
// bit to apply to Phi^-1(q); v = mean + std * (+-z).
template <class Quantile>
inline void ndtri64_batch(double mean, double std, const Quantile& quantile, double* __restrict v,
                          int64_t n) {
  constexpr int64_t kChunk = 512;
  alignas(64) double qs[kChunk];
  alignas(64) uint64_t signs[kChunk];
  alignas(64) int32_t tail[kChunk + 2 * kLanes64];
  for (int64_t base = 0; base < n; base += kChunk) {
    const int64_t m = (n - base < kChunk ? n - base : kChunk) / kLanes64 * kLanes64;
    int64_t ntail = 0;
    for (int64_t j = 0; j < m; j += kLanes64) {
      VD q;
      VU sign;
      quantile(base + j, q, sign);
      const VD c = q - 0.5;
      const VD z = VD(VU(ppnd16_central<VecF64>(c)) ^ sign);
      vstore64(v + base + j, mean + std * z);
      unsigned lanes = vbits64(c < -0.425);
      if (lanes) {
        vstore64(qs + j, q);
        vstore64(signs + j, sign);
        for (; lanes; lanes &= lanes - 1) tail[ntail++] = int32_t(j + __builtin_ctz(lanes));
      }
    }
    // The tail lanes, packed, two vectors at a time (the log, sqrt and two divisions form a
    // long chain); the list is padded with copies of its first entry.
    if (ntail == 0) continue;
    for (int l = 0; l < 2 * kLanes64; ++l) tail[ntail + l] = tail[0];
    for (int64_t t = 0; t < ntail; t += 2 * kLanes64) {
      alignas(64) double out[2 * kLanes64];
      for (int h = 0; h < 2; ++h) {
        const int32_t* idx = tail + t + h * kLanes64;
        const VD z = VD(VU(ppnd16_tail<VecF64>(gather64(qs, idx))) ^ gather64(signs, idx));
        vstore64(out + h * kLanes64, mean + std * z);
      }
      const int64_t k = ntail - t < 2 * kLanes64 ? ntail - t : 2 * kLanes64;
      for (int64_t l = 0; l < k; ++l) v[base + tail[t + l]] = out[l];
    }
  }
}

// Normal64: q = (r + 1/2) 2^-53 from the word's low 63 bits (r = those bits >> 11), sign = top bit.
inline void normal64_batch(const Normal64& d, const uint64_t* __restrict w, double* __restrict v,
                           int64_t n) {
  const int64_t m = n / kLanes64 * kLanes64;
  ndtri64_batch(d.mean, d.std, [w](int64_t j, VD& q, VU& sign) {
    const VU wv = vload64<VU>(w + j);
    q = std_normal_q_f64<VecF64>(wv);
    sign = wv & 0x8000000000000000ull;
  }, v, m);
  for (int64_t j = m; j < n; ++j) v[j] = d(w[j]);
}

// TruncNormal64: trunc_std_normal<double>(open_unit_f64(w)), the quantile measured from the
// nearer end of the line; the upper side negates z.
inline void trunc_normal64_batch(const TruncNormal64& d, const uint64_t* __restrict w,
                                 double* __restrict v, int64_t n) {
  const int64_t m = n / kLanes64 * kLanes64;
  const double mass_lo = d.mass_lo, mass_hi = d.mass_hi, mass = d.mass;
  ndtri64_batch(d.mean, d.std, [=](int64_t j, VD& q, VU& sign) {
    VL lower;
    q = trunc_quantile(open_unit_f64_lanes<VecF64>(vload64<VU>(w + j)), mass_lo, mass_hi, mass, lower);
    sign = VU(~lower) & 0x8000000000000000ull;
  }, v, m);
  for (int64_t j = m; j < n; ++j) v[j] = d(w[j]);
}

#else
// ndtri_lower_f64 with only the taken region computed.
inline double ndtri_lower_f64_taken(double q) {
  const double c = q - 0.5;
  return c < -0.425 ? ppnd16_tail<ScalarF64>(q) : ppnd16_central<ScalarF64>(c);
}
inline void normal64_batch(const Normal64& d, const uint64_t* __restrict w, double* __restrict v,
                           int64_t n) {
  for (int64_t j = 0; j < n; ++j) {  // std_normal_f64
    const double z = ndtri_lower_f64_taken(std_normal_q_f64<ScalarF64>(w[j]));
    v[j] = d.mean + d.std * ((w[j] >> 63) ? -z : z);
  }
}
inline void trunc_normal64_batch(const TruncNormal64& d, const uint64_t* __restrict w,
                                 double* __restrict v, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {  // trunc_std_normal<double>
    bool lower;
    const double z = ndtri_lower_f64_taken(trunc_quantile(open_unit_f64(w[j]), d.mass_lo, d.mass_hi,
                                                          d.mass, lower));
    v[j] = d.mean + d.std * (lower ? z : -z);
  }
}
#endif

}  // namespace
}  // namespace cpu
}  // namespace fastinit

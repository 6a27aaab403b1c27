// AVX-512 and AVX2 forms of core's float32 normal and truncated-normal transforms
// (distributions.h, fmath.h ndtri_table_f32): the same operations in the same order, with the
// 32-segment table held in registers and read by permutes instead of gathers. Tests hold them
// to the reference bit for bit.
#pragma once
#if defined(__AVX512F__) || defined(__AVX2__)  // x86 only: other targets take the scalar loop
#include <immintrin.h>
#endif

#include <cstdint>

#include "../core/distributions.h"
#include "normal64_simd.h"

namespace fastinit {
namespace cpu {
namespace {  // internal linkage: compiled once per instruction set

constexpr int kRows = FI_NORMAL_TABLE_DEGREE + 1;

#if defined(__AVX512F__)
constexpr int kLanes = 16;
using VF = __m512;
using VI = __m512i;

struct NormalTable {
  VF lo[kRows], hi[kRows];
  NormalTable() {
    for (int j = 0; j < kRows; ++j) {
      lo[j] = _mm512_loadu_ps(&kNormalTableHost[j][0]);
      hi[j] = _mm512_loadu_ps(&kNormalTableHost[j][16]);
    }
  }
  // ndtri_table_f32 (fmath.h) on 16 lanes: the segment k, the polynomial's variable x.
  struct Lanes {
    VI k;
    VF c, x;
    __mmask16 top;
  };
  static Lanes lanes(VF q) {
    Lanes l;
    const VI qb = _mm512_castps_si512(q);
    l.top = _mm512_cmp_ps_mask(q, _mm512_set1_ps(0.25f), _CMP_GE_OQ);
    const VI k = _mm512_min_epi32(_mm512_sub_epi32(_mm512_set1_epi32(125), _mm512_srli_epi32(qb, 23)),
                                  _mm512_set1_epi32(31));
    l.k = _mm512_mask_mov_epi32(k, l.top, _mm512_setzero_si512());
    l.c = _mm512_sub_ps(q, _mm512_set1_ps(0.5f));
    const VF m = _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(qb, _mm512_set1_epi32(0x007FFFFF)),
                                                     _mm512_set1_epi32(0x3F800000)));
    l.x = _mm512_mask_mov_ps(_mm512_sub_ps(m, _mm512_set1_ps(1.5f)), l.top, l.c);
    return l;
  }
  VF coef(int r, VI k) const { return _mm512_permutex2var_ps(lo[r], k, hi[r]); }
  static VF finish(const Lanes& l, VF p) { return _mm512_mask_mov_ps(p, l.top, _mm512_mul_ps(p, l.c)); }
  VF eval(VF q) const {
    const Lanes l = lanes(q);
    VF p = coef(0, l.k);
    for (int r = 1; r < kRows; ++r) p = _mm512_add_ps(_mm512_mul_ps(p, l.x), coef(r, l.k));
    return finish(l, p);
  }
  // G vectors with their Horner steps interleaved: G times the independent work in flight
  // (the chain of 8 multiply-adds, not the instruction count, bounds one vector).
  template <int G>
  void eval_group(const VF* q, VF* z) const {
    Lanes l[G];
    VF p[G];
    for (int i = 0; i < G; ++i) {
      l[i] = lanes(q[i]);
      p[i] = coef(0, l[i].k);
    }
    for (int r = 1; r < kRows; ++r)
      for (int i = 0; i < G; ++i) p[i] = _mm512_add_ps(_mm512_mul_ps(p[i], l[i].x), coef(r, l[i].k));
    for (int i = 0; i < G; ++i) z[i] = finish(l[i], p[i]);
  }
};
inline VF vload(const float* p) { return _mm512_loadu_ps(p); }
inline VI vloadi(const uint32_t* p) { return _mm512_loadu_si512(p); }
inline void vstore(float* p, VF v) { _mm512_storeu_ps(p, v); }
inline VF vsplat(float x) { return _mm512_set1_ps(x); }
inline VF vadd(VF a, VF b) { return _mm512_add_ps(a, b); }
inline VF vsub(VF a, VF b) { return _mm512_sub_ps(a, b); }
inline VF vmul(VF a, VF b) { return _mm512_mul_ps(a, b); }
inline VF vmax(VF a, VF b) { return _mm512_max_ps(b, a); }  // max_f(a, b) = a < b ? b : a
inline VF vcvt(VI a) { return _mm512_cvtepi32_ps(a); }
inline VI vand(VI a, uint32_t m) { return _mm512_and_si512(a, _mm512_set1_epi32(int(m))); }
inline VI vsrl(VI a, int s) { return _mm512_srli_epi32(a, s); }
inline VF vflip(VF z, VI sign) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(z), sign)); }
inline VF vselect_le(VF a, VF b, VF if_le, VF otherwise) {  // a <= b ? if_le : otherwise
  return _mm512_mask_mov_ps(otherwise, _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ), if_le);
}
inline bool vany_lt(VF a, VF b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ) != 0; }
inline VF vneg(VF a) { return _mm512_xor_ps(a, _mm512_set1_ps(-0.0f)); }

#elif defined(__AVX2__)
constexpr int kLanes = 8;
using VF = __m256;
using VI = __m256i;

// 8 lanes; each table row is 4 registers. Segments halve in probability, so when every lane's
// segment is below 8 (about 94% of vectors) one vpermps per row suffices; else four and a
// two-level blend. Either way the same coefficient, so the same bits.
struct NormalTable {
  VF t[kRows][4];
  NormalTable() {
    for (int j = 0; j < kRows; ++j)
      for (int part = 0; part < 4; ++part) t[j][part] = _mm256_loadu_ps(&kNormalTableHost[j][8 * part]);
  }
  struct Lanes {  // as in the AVX-512 form
    VI k;
    VF c, x, top;
  };
  static Lanes lanes(VF q) {
    Lanes l;
    const VI qb = _mm256_castps_si256(q);
    l.top = _mm256_cmp_ps(q, _mm256_set1_ps(0.25f), _CMP_GE_OQ);
    const VI k = _mm256_min_epi32(_mm256_sub_epi32(_mm256_set1_epi32(125), _mm256_srli_epi32(qb, 23)),
                                  _mm256_set1_epi32(31));
    l.k = _mm256_andnot_si256(_mm256_castps_si256(l.top), k);
    l.c = _mm256_sub_ps(q, _mm256_set1_ps(0.5f));
    const VF m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(qb, _mm256_set1_epi32(0x007FFFFF)),
                                                     _mm256_set1_epi32(0x3F800000)));
    l.x = _mm256_blendv_ps(_mm256_sub_ps(m, _mm256_set1_ps(1.5f)), l.c, l.top);
    return l;
  }
  static bool small(VI k) {  // every segment below 8
    const VI big = _mm256_cmpgt_epi32(k, _mm256_set1_epi32(7));
    return _mm256_testz_si256(big, big);
  }
  VF coef_small(int r, VI k) const { return _mm256_permutevar8x32_ps(t[r][0], k); }
  VF coef(int r, VI k) const {
    const VF bit3 = _mm256_castsi256_ps(_mm256_slli_epi32(k, 28));
    const VF bit4 = _mm256_castsi256_ps(_mm256_slli_epi32(k, 27));
    const VF lo = _mm256_blendv_ps(_mm256_permutevar8x32_ps(t[r][0], k),
                                   _mm256_permutevar8x32_ps(t[r][1], k), bit3);
    const VF hi = _mm256_blendv_ps(_mm256_permutevar8x32_ps(t[r][2], k),
                                   _mm256_permutevar8x32_ps(t[r][3], k), bit3);
    return _mm256_blendv_ps(lo, hi, bit4);
  }
  static VF finish(const Lanes& l, VF p) { return _mm256_blendv_ps(p, _mm256_mul_ps(p, l.c), l.top); }
  VF eval(VF q) const {
    const Lanes l = lanes(q);
    VF p;
    if (small(l.k)) {
      p = coef_small(0, l.k);
      for (int r = 1; r < kRows; ++r) p = _mm256_add_ps(_mm256_mul_ps(p, l.x), coef_small(r, l.k));
    } else {
      p = coef(0, l.k);
      for (int r = 1; r < kRows; ++r) p = _mm256_add_ps(_mm256_mul_ps(p, l.x), coef(r, l.k));
    }
    return finish(l, p);
  }
  // As in the AVX-512 form; a group with a segment of 8 or more goes by halves, then alone
  // (the transform alone on a Zen 5 core, cycles per element: 2.25 one vector at a time,
  // 1.73 two, 1.57 four).
  template <int G>
  void eval_group(const VF* q, VF* z) const {
    Lanes l[G];
    VI kmax = _mm256_setzero_si256();
    for (int i = 0; i < G; ++i) {
      l[i] = lanes(q[i]);
      kmax = _mm256_max_epi32(kmax, l[i].k);
    }
    if (!small(kmax)) {
      if constexpr (G > 1) {
        eval_group<G / 2>(q, z);
        eval_group<G / 2>(q + G / 2, z + G / 2);
      } else {
        z[0] = eval(q[0]);
      }
      return;
    }
    VF p[G];
    for (int i = 0; i < G; ++i) p[i] = coef_small(0, l[i].k);
    for (int r = 1; r < kRows; ++r)
      for (int i = 0; i < G; ++i) p[i] = _mm256_add_ps(_mm256_mul_ps(p[i], l[i].x), coef_small(r, l[i].k));
    for (int i = 0; i < G; ++i) z[i] = finish(l[i], p[i]);
  }
};
inline VF vload(const float* p) { return _mm256_loadu_ps(p); }
inline VI vloadi(const uint32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline void vstore(float* p, VF v) { _mm256_storeu_ps(p, v); }
inline VF vsplat(float x) { return _mm256_set1_ps(x); }
inline VF vadd(VF a, VF b) { return _mm256_add_ps(a, b); }
inline VF vsub(VF a, VF b) { return _mm256_sub_ps(a, b); }
inline VF vmul(VF a, VF b) { return _mm256_mul_ps(a, b); }
inline VF vmax(VF a, VF b) { return _mm256_max_ps(b, a); }
inline VF vcvt(VI a) { return _mm256_cvtepi32_ps(a); }
inline VI vand(VI a, uint32_t m) { return _mm256_and_si256(a, _mm256_set1_epi32(int(m))); }
inline VI vsrl(VI a, int s) { return _mm256_srli_epi32(a, s); }
inline VF vflip(VF z, VI sign) { return _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(z), sign)); }
inline VF vselect_le(VF a, VF b, VF if_le, VF otherwise) {
  return _mm256_blendv_ps(otherwise, if_le, _mm256_cmp_ps(a, b, _CMP_LE_OQ));
}
inline bool vany_lt(VF a, VF b) { return _mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_LT_OQ)) != 0; }
inline VF vneg(VF a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
#endif

#if defined(__AVX512F__) || defined(__AVX2__)
constexpr int kGroup = 4;  // vectors per eval_group

// mean + std * std_normal_f32(w[j]), j < n.
inline void normal_batch(const Normal32& d, const uint32_t* __restrict w, float* __restrict v, int64_t n) {
  const NormalTable table;
  const VF mean = vsplat(d.mean), stdv = vsplat(d.std);
  const auto q_of = [](VI wv) {
    return vmul(vadd(vcvt(vand(wv, 0x7FFFFFFFu)), vsplat(0.5f)), vsplat(2.3283064365386962890625e-10f));
  };
  int64_t j = 0;
  for (; j + kGroup * kLanes <= n; j += kGroup * kLanes) {
    VI wv[kGroup];
    VF q[kGroup], z[kGroup];
    for (int i = 0; i < kGroup; ++i) q[i] = q_of(wv[i] = vloadi(w + j + i * kLanes));
    table.eval_group<kGroup>(q, z);
    for (int i = 0; i < kGroup; ++i)  // -z flips the sign bit
      vstore(v + j + i * kLanes, vadd(mean, vmul(stdv, vflip(z[i], vand(wv[i], 0x80000000u)))));
  }
  for (; j + kLanes <= n; j += kLanes) {
    const VI wv = vloadi(w + j);
    vstore(v + j, vadd(mean, vmul(stdv, vflip(table.eval(q_of(wv)), vand(wv, 0x80000000u)))));
  }
  for (; j < n; ++j) v[j] = d(w[j]);
}

// TruncNormal32 (trunc_std_normal<float>): lanes whose q falls below 2^-33 (intervals past
// 6.3 std) take core's scalar form, which switches to PPND7 there.
inline void trunc_normal_batch(const TruncNormal32& d, const uint32_t* __restrict w, float* __restrict v,
                               int64_t n) {
  const NormalTable table;
  const VF mean = vsplat(d.mean), stdv = vsplat(d.std), lo = vsplat(d.mass_lo), hi = vsplat(d.mass_hi),
           mass = vsplat(d.mass), one = vsplat(1.0f), half = vsplat(0.5f);
  const VF deep = vsplat(1.16415321826934814453125e-10f);
  struct Draw {  // trunc_std_normal's position t and its quantile q, one vector
    VF t, q;
  };
  const auto draw = [&](VI wv) {
    const VF u = vmul(vadd(vcvt(vsrl(wv, 9)), half), vsplat(1.1920928955078125e-07f));
    Draw r;
    r.t = vadd(lo, vmul(u, mass));
    const VF s = vadd(hi, vmul(vsub(one, u), mass));
    r.q = vmax(vselect_le(r.t, half, r.t, s), vsplat(1.40129846e-45f));
    return r;
  };
  const auto put = [&](float* out, const Draw& r, VF z) {
    vstore(out, vadd(mean, vmul(stdv, vselect_le(r.t, half, z, vneg(z)))));
  };
  int64_t j = 0;
  for (; j + kGroup * kLanes <= n; j += kGroup * kLanes) {
    Draw r[kGroup];
    VF q[kGroup], z[kGroup];
    bool deep_lane = false;
    for (int i = 0; i < kGroup; ++i) {
      r[i] = draw(vloadi(w + j + i * kLanes));
      q[i] = r[i].q;
      deep_lane = deep_lane || vany_lt(q[i], deep);
    }
    if (deep_lane) {
      for (int64_t l = 0; l < kGroup * kLanes; ++l) v[j + l] = d(w[j + l]);
      continue;
    }
    table.eval_group<kGroup>(q, z);
    for (int i = 0; i < kGroup; ++i) put(v + j + i * kLanes, r[i], z[i]);
  }
  for (; j + kLanes <= n; j += kLanes) {
    const Draw a = draw(vloadi(w + j));
    if (vany_lt(a.q, deep)) {
      for (int64_t l = 0; l < kLanes; ++l) v[j + l] = d(w[j + l]);
      continue;
    }
    put(v + j, a, table.eval(a.q));
  }
  for (; j < n; ++j) v[j] = d(w[j]);
}
#endif

// Distribution values for a batch of words; the float32 normals take the vector paths above,
// the float64 ones those of normal64_simd.h.
template <class Dist, class W, class CT>
void dist_batch(const Dist& dist, const W* w, CT* v, int64_t n) {
  for (int64_t j = 0; j < n; ++j) v[j] = dist(w[j]);
}
#if defined(__AVX512F__) || defined(__AVX2__)
inline void dist_batch(const Normal32& d, const uint32_t* w, float* v, int64_t n) { normal_batch(d, w, v, n); }
inline void dist_batch(const TruncNormal32& d, const uint32_t* w, float* v, int64_t n) {
  trunc_normal_batch(d, w, v, n);
}
#endif
inline void dist_batch(const Normal64& d, const uint64_t* w, double* v, int64_t n) {
  normal64_batch(d, w, v, n);
}
inline void dist_batch(const TruncNormal64& d, const uint64_t* w, double* v, int64_t n) {
  trunc_normal64_batch(d, w, v, n);
}

}  // namespace
}  // namespace cpu
}  // namespace fastinit

// Bits -> values: the transforms of the stream contract (docs/stream.md), written once.
// A distribution is a small functor: value = dist(word). Outputs of 32 bits or fewer take one
// 32-bit word per element; float64 takes a 64-bit word (two lanes of one Philox block).
#pragma once
#include <cstdint>

#include "bits.h"
#include "fmath.h"
#include "macros.h"

namespace fastinit {

// [0, 1) with 24 random bits (exact; never rounds up to 1).
FI_HD float unit_f32(uint32_t w) { return float(int32_t(w >> 8)) * 5.9604644775390625e-08f; }
// [0, 1) with 53 random bits.
FI_HD double unit_f64(uint64_t w) { return double(int64_t(w >> 11)) * 1.1102230246251565e-16; }
// (0, 1), symmetric about 1/2: (k + 1/2) 2^-m, so 1 - u is exact and never 0.
FI_HD float open_unit_f32(uint32_t w) {
  return (float(int32_t(w >> 9)) + 0.5f) * 1.1920928955078125e-07f;
}
FI_HD double open_unit_f64(uint32_t w) { return (double(w) + 0.5) * 2.3283064365386962890625e-10; }
// The float64 forms are lane-generic (L as in fmath.h): these functors and the CPU's SIMD form
// (cpu/normal64_simd.h) use the one formula.
template <class L>
FI_HD typename L::D open_unit_f64_lanes(typename L::U w) {
  return (L::small_int(w >> 12) + 0.5) * 2.220446049250313080847263336181640625e-16;
}
FI_HD double open_unit_f64(uint64_t w) { return open_unit_f64_lanes<ScalarF64>(w); }

// Standard normal by inversion: the top bit is the sign, the other bits give q in (0, 1/2],
// and z = -+Phi^-1(q). One word per value; the tails keep the word's full resolution.
FI_HD float std_normal_f32(uint32_t w) {
  const float q = (float(int32_t(w & 0x7FFFFFFFu)) + 0.5f) * 2.3283064365386962890625e-10f;
  const float z = ndtri_table_f32(q);
  return (w >> 31) ? -z : z;
}
template <class L>
FI_HD typename L::D std_normal_q_f64(typename L::U w) {  // q of std_normal_f64, lane-generic
  return (L::small_int((w & 0x7FFFFFFFFFFFFFFFull) >> 11) + 0.5) *
         1.1102230246251565404236316680908203125e-16;
}
FI_HD double std_normal_f64(uint64_t w) {
  const double z = ndtri_lower_f64(std_normal_q_f64<ScalarF64>(w));
  return (w >> 63) ? -z : z;
}

// The truncated normal's float32 quantile: the normal table where it is defined (q >= 2^-33,
// every interval within 6.3 std of the mean), PPND7 deeper in the tails.
FI_HD float ndtri_lower(float q) {
  return q >= 1.16415321826934814453125e-10f ? ndtri_table_f32(q) : ndtri_lower_f32(q);
}
FI_HD double ndtri_lower(double q) { return ndtri_lower_f64(q); }
FI_HD float smallest_positive(float) { return 1.40129846e-45f; }
FI_HD double smallest_positive(double) { return 4.9406564584124654e-324; }

// Truncated standard normal by inversion on [Phi(alpha), Phi(beta)], tail-safe: the position
// is measured from whichever end of the real line is nearer, mass_lo = Phi(alpha) from below
// and mass_hi = 1 - Phi(beta) from above, so far tails (alpha = 5, beta = 6) keep full precision.
// Its quantile q and side (lower: the value is Phi^-1(q), else -Phi^-1(q)). CT is float, double
// or a SIMD vector of doubles (cpu/normal64_simd.h), C its scalar type; Side bool or a lane mask.
template <class CT, class C, class Side>
FI_HD CT trunc_quantile(CT u, C mass_lo, C mass_hi, C mass, Side& lower) {
  const CT t = mass_lo + u * mass;
  const CT s = mass_hi + (C(1) - u) * mass;
  lower = t <= C(0.5);
  const CT q = lower ? t : s;
  // max_f(q, smallest positive): an interval beyond C's range, clamped to [a, b] later
  return q < smallest_positive(C(0)) ? smallest_positive(C(0)) : q;
}
template <class CT>
FI_HD CT trunc_std_normal(CT u, CT mass_lo, CT mass_hi, CT mass) {
  bool lower;
  const CT z = ndtri_lower(trunc_quantile(u, mass_lo, mass_hi, mass, lower));
  return lower ? z : -z;
}

// A truncated normal on an interval so narrow that its density is flat to within the compute
// precision (its mass below 2^-31 (float) or 2^-28 (double) of the cumulative mass the quantile
// above would start from, where that sum keeps too few bits). The truncated density on
// [a, b] is proportional to exp(-(e1 v + e2 v^2)), v = (x - a)/(b - a) in [0, 1],
// e1 = alpha w, e2 = w^2/2, w = beta - alpha, both below ~2^-27; the first-order inverse
// of its CDF, v = u + e1/2 (u^2 - u) + e2/3 (u^3 - u), errs by O(e^2), under the ulp.
template <class CT>
FI_HD CT local_position(CT u, CT e1_half, CT e2_third) {
  const CT u2 = u * u;
  return u + e1_half * (u2 - u) + e2_third * (u2 * u - u);
}

// kRandom = false lets a backend skip the generator entirely.
struct Constant32 {
  static constexpr bool kRandom = false;
  float value;
  FI_HD float operator()(uint32_t) const { return value; }
};
struct Constant64 {
  static constexpr bool kRandom = false;
  double value;
  FI_HD double operator()(uint64_t) const { return value; }
};
struct Uniform32 {
  static constexpr bool kRandom = true;
  float a, range;
  FI_HD float operator()(uint32_t w) const { return a + range * unit_f32(w); }
};
struct Uniform64 {
  static constexpr bool kRandom = true;
  double a, range;
  FI_HD double operator()(uint64_t w) const { return a + range * unit_f64(w); }
};
struct Normal32 {
  static constexpr bool kRandom = true;
  float mean, std;
  FI_HD float operator()(uint32_t w) const { return mean + std * std_normal_f32(w); }
};
struct Normal64 {
  static constexpr bool kRandom = true;
  double mean, std;
  FI_HD double operator()(uint64_t w) const { return mean + std * std_normal_f64(w); }
};
struct TruncNormal32 {
  static constexpr bool kRandom = true;
  float mean, std, mass_lo, mass_hi, mass;
  FI_HD float operator()(uint32_t w) const {
    return mean + std * trunc_std_normal(open_unit_f32(w), mass_lo, mass_hi, mass);
  }
};
// For <= 32-bit outputs whose interval is too far in a tail for float (mass < 1e-30).
struct TruncNormal32Wide {
  static constexpr bool kRandom = true;
  double mean, std, mass_lo, mass_hi, mass;
  FI_HD double operator()(uint32_t w) const {
    return mean + std * trunc_std_normal(open_unit_f64(w), mass_lo, mass_hi, mass);
  }
};
struct TruncNormal64 {
  static constexpr bool kRandom = true;
  double mean, std, mass_lo, mass_hi, mass;
  FI_HD double operator()(uint64_t w) const {
    return mean + std * trunc_std_normal(open_unit_f64(w), mass_lo, mass_hi, mass);
  }
};
struct TruncLocal32 {
  static constexpr bool kRandom = true;
  float a, range, e1_half, e2_third;
  FI_HD float operator()(uint32_t w) const {
    return a + range * local_position(open_unit_f32(w), e1_half, e2_third);
  }
};
struct TruncLocal64 {
  static constexpr bool kRandom = true;
  double a, range, e1_half, e2_third;
  FI_HD double operator()(uint64_t w) const {
    return a + range * local_position(open_unit_f64(w), e1_half, e2_third);
  }
};
// The raw words themselves (random_bits_).
struct RawBits32 {
  static constexpr bool kRandom = true;
  FI_HD uint32_t operator()(uint32_t w) const { return w; }
};

}  // namespace fastinit

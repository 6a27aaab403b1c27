// fastinit's own log and inverse normal CDF. Only +, -, *, /, sqrt and bit operations, no fma and
// no libm, so g++ (any SIMD width), nvcc and the NumPy reference produce the same bits.
// Branches are selects: every lane runs the same instructions.
#pragma once
#include <cstdint>

#include "bits.h"
#include "macros.h"
#include "normal_table.h"

namespace fastinit {

// Natural log for finite x > 0 (subnormals included). Cephes-style polynomial on
// m in [sqrt(1/2), sqrt(2)); about 1 ulp.
FI_HD float log_f32(float x) {
  const bool sub = x < 1.17549435e-38f;
  x = sub ? x * 33554432.0f : x;  // 2^25 lifts subnormals into the normal range
  const uint32_t ix = f32_bits(x);
  int32_t e = int32_t((ix >> 23) & 0xFFu) - 127 - (sub ? 25 : 0);
  float m = f32_from((ix & 0x007FFFFFu) | 0x3F800000u);  // [1, 2)
  const bool big = m > 1.41421356f;
  m = big ? m * 0.5f : m;
  e = big ? e + 1 : e;
  const float f = m - 1.0f;
  const float z = f * f;
  float p = 7.0376836292e-2f;
  p = p * f + -1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f + -1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f + -1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f + -2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  const float ef = float(e);
  float y = f * z * p;
  y = y + ef * -2.12194440e-4f;
  y = y - 0.5f * z;
  return (f + y) + ef * 0.693359375f;
}

// The float64 functions below are written once for any number of lanes: L says how its number
// type D is made and read. ScalarF64 is plain double (every backend); cpu/normal64_simd.h
// supplies the same for SIMD vectors. A condition is a bool or a lane mask, and `c ? a : b`
// selects either way, so each lane runs exactly these operations in this order.
struct ScalarF64 {
  using D = double;
  using U = uint64_t;  // the words D is made from
  FI_HD static double splat(double x) { return x; }
  FI_HD static uint64_t bits(double x) { return f64_bits(x); }
  FI_HD static double from_bits(uint64_t u) { return f64_from(u); }
  FI_HD static double small_int(uint64_t u) { return double(int64_t(u)); }  // u < 2^52: exact
  FI_HD static double sqrt(double x) { return fi_sqrt(x); }
};

// Natural log for finite x > 0 in double: log(m) = 2 atanh(s), s = (m-1)/(m+1), Taylor series
// to s^21 (|s| < 0.1716), plus e*ln2 split in two parts; a few ulp. The exponent e is carried
// as a double (a small integer: exact).
template <class L>
FI_HD typename L::D log_f64_lanes(typename L::D x) {
  using D = typename L::D;
  const auto sub = x < 2.2250738585072014e-308;
  x = sub ? x * 18014398509481984.0 : x;  // 2^54
  const auto ix = L::bits(x);
  D ed = L::small_int((ix >> 52) & 0x7FFu) - 1023.0;
  ed = sub ? ed - 54.0 : ed;
  D m = L::from_bits((ix & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull);
  const auto big = m > 1.4142135623730951;
  m = big ? m * 0.5 : m;
  ed = big ? ed + 1.0 : ed;
  const D f = m - 1.0;
  const D s = f / (2.0 + f);
  const D s2 = s * s;
  D r = L::splat(2.0 / 21.0);
  r = r * s2 + 2.0 / 19.0;
  r = r * s2 + 2.0 / 17.0;
  r = r * s2 + 2.0 / 15.0;
  r = r * s2 + 2.0 / 13.0;
  r = r * s2 + 2.0 / 11.0;
  r = r * s2 + 2.0 / 9.0;
  r = r * s2 + 2.0 / 7.0;
  r = r * s2 + 2.0 / 5.0;
  r = r * s2 + 2.0 / 3.0;
  r = r * s2;
  const D log_m = (s + s) + s * r;
  return (ed * 1.90821492927058770002e-10 + log_m) + ed * 6.93147180369123816490e-01;
}
FI_HD double log_f64(double x) { return log_f64_lanes<ScalarF64>(x); }

// Standard normal quantile Phi^-1(q) for q in (0, 0.5] (slightly above 0.5 is fine), float:
// Wichura's AS241 PPND7 (7 digits; about 4e-7 relative in float arithmetic down to q = 1e-45).
// Its three rational pieces are one degree-3 ratio with selected coefficients and variable.
FI_HD float ndtri_lower_f32(float q) {
  const float c = q - 0.5f;
  const bool central = c >= -0.425f;
  const float rc = 0.180625f - c * c;
  const float r0 = fi_sqrt(-log_f32(min_f(q, 0.5f)));
  const bool far = r0 > 5.0f;
  const float x = central ? rc : (far ? r0 - 5.0f : r0 - 1.6f);
  float num = central ? 59.109374720f : (far ? 0.017337203997f : 0.17023821103f);
  float den = central ? 67.187563600f : 0.0f;
  num = num * x + (central ? 159.29113202f : (far ? 0.42868294337f : 1.3067284816f));
  den = den * x + (central ? 78.757757664f : (far ? 0.012258202635f : 0.12021132975f));
  num = num * x + (central ? 50.434271938f : (far ? 3.0812263860f : 2.7568153900f));
  den = den * x + (central ? 17.895169469f : (far ? 0.24197894225f : 0.73700164250f));
  num = num * x + (central ? 3.3871327179f : (far ? 6.6579051150f : 1.4234372777f));
  den = den * x + 1.0f;
  const float v = num / den;
  return central ? c * v : -v;
}

// The float32 normal table (tools/fit_normal_table.py), readable from host and device code.
static constexpr float kNormalTableHost[FI_NORMAL_TABLE_DEGREE + 1][32] = FI_NORMAL_TABLE_VALUES;

FI_HD float normal_table(int power_row, int segment) { return kNormalTableHost[power_row][segment]; }

#if defined(__CUDACC__)
// On the device each block keeps the table in shared memory, segment-major: a segment's nine
// coefficients (padded to 12) are three 16-byte loads, not nine 4-byte ones. Segments are 48
// bytes apart, so the few segments a warp touches (half its lanes are in segment 0) fall in
// different banks or share a word (broadcast), with no serialisation (constant memory would
// serialise divergent segments). Every kernel that evaluates the table calls
// stage_normal_table() first, with all its threads.
static __device__ const float kNormalTableGlobal[FI_NORMAL_TABLE_DEGREE + 1][32] = FI_NORMAL_TABLE_VALUES;
static __shared__ __align__(16) float kNormalTableShared[32][12];

__device__ __forceinline__ void stage_normal_table() {
  for (int i = threadIdx.x; i < 32 * 12; i += blockDim.x) {
    const int segment = i / 12, power_row = i % 12;
    kNormalTableShared[segment][power_row] =
        power_row <= FI_NORMAL_TABLE_DEGREE ? kNormalTableGlobal[power_row][segment] : 0.0f;
  }
  __syncthreads();
}

// P(x) of one segment: the same Horner steps, in the same order, as the host loop below.
__device__ __forceinline__ float normal_table_poly(int segment, float x) {
  static_assert(FI_NORMAL_TABLE_DEGREE == 8, "three float4 hold nine coefficients");
  const float4* c = reinterpret_cast<const float4*>(kNormalTableShared[segment]);
  const float4 a = c[0], b = c[1], d = c[2];
  float p = a.x;
  p = p * x + a.y;
  p = p * x + a.z;
  p = p * x + a.w;
  p = p * x + b.x;
  p = p * x + b.y;
  p = p * x + b.z;
  p = p * x + b.w;
  p = p * x + d.x;
  return p;
}
#endif

// Segment of q for the normal table: 0 for q >= 1/4, else k with q in [2^-(k+2), 2^-(k+1)),
// capped at 31 (q >= 2^-33 here).
FI_HD int normal_segment(float q) {
  const int k = 125 - int(f32_bits(q) >> 23);  // -exponent - 2
  return q >= 0.25f ? 0 : (k > 31 ? 31 : k);
}

// Phi^-1(q) for q in [2^-33, 1/2], float32, the plain normal's path: one degree-8 polynomial
// per binade of q (in its mantissa), or z = c * P(c), c = q - 1/2, on [1/4, 1/2]. No log, sqrt
// or division: a table lookup and 16 flops. Max relative error ~1.3e-7 (about 2 ulp).
FI_HD float ndtri_table_f32(float q) {
  const int k = normal_segment(q);
  const bool top = k == 0;
  const float c = q - 0.5f;
  const float m = f32_from((f32_bits(q) & 0x007FFFFFu) | 0x3F800000u);
  const float x = top ? c : m - 1.5f;
#if defined(__CUDA_ARCH__)
  const float p = normal_table_poly(k, x);
#else
  float p = normal_table(0, k);
  for (int j = 1; j <= FI_NORMAL_TABLE_DEGREE; ++j) p = p * x + normal_table(j, k);
#endif
  return top ? p * c : p;
}

// Standard normal quantile for q in (0, 0.5], double: Wichura's AS241 (PPND16), about 1e-16
// relative. Its central region, c = q - 1/2 with c >= -0.425:
template <class L>
FI_HD typename L::D ppnd16_central(typename L::D c) {
  using D = typename L::D;
  const D rc = 0.180625 - c * c;
  D num = L::splat(2.5090809287301226727e+3);
  num = num * rc + 3.3430575583588128105e+4;
  num = num * rc + 6.7265770927008700853e+4;
  num = num * rc + 4.5921953931549871457e+4;
  num = num * rc + 1.3731693765509461125e+4;
  num = num * rc + 1.9715909503065514427e+3;
  num = num * rc + 1.3314166789178437745e+2;
  num = num * rc + 3.3871328727963666080e+0;
  D den = L::splat(5.2264952788528545610e+3);
  den = den * rc + 2.8729085735721942674e+4;
  den = den * rc + 3.9307895800092710610e+4;
  den = den * rc + 2.1213794301586595867e+4;
  den = den * rc + 5.3941960214247511077e+3;
  den = den * rc + 6.8718700749205790830e+2;
  den = den * rc + 4.2313330701600911252e+1;
  den = den * rc + 1.0;
  return c * num / den;
}

template <class L, class Cond>
FI_HD typename L::D pick_f64(Cond c, double if_true, double otherwise) {
  return c ? L::splat(if_true) : L::splat(otherwise);
}

// PPND16's tail region (c < -0.425), finite for every q in (0, 0.5].
template <class L>
FI_HD typename L::D ppnd16_tail(typename L::D q) {
  using D = typename L::D;
  const D qt = q < 0.5 ? q : L::splat(0.5);  // keeps a central lane's value finite
  const D r0 = L::sqrt(-log_f64_lanes<L>(qt));
  const auto far = r0 > 5.0;
  const D r = far ? r0 - 5.0 : r0 - 1.6;
  D tn = pick_f64<L>(far, 2.01033439929228813265e-7, 7.74545014278341407640e-4);
  tn = tn * r + pick_f64<L>(far, 2.71155556874348757815e-5, 2.27238449892691845833e-2);
  tn = tn * r + pick_f64<L>(far, 1.24266094738807843860e-3, 2.41780725177450611770e-1);
  tn = tn * r + pick_f64<L>(far, 2.65321895265761230930e-2, 1.27045825245236838258e+0);
  tn = tn * r + pick_f64<L>(far, 2.96560571828504891230e-1, 3.64784832476320460504e+0);
  tn = tn * r + pick_f64<L>(far, 1.78482653991729133580e+0, 5.76949722146069140550e+0);
  tn = tn * r + pick_f64<L>(far, 5.46378491116411436990e+0, 4.63033784615654529590e+0);
  tn = tn * r + pick_f64<L>(far, 6.65790464350110377720e+0, 1.42343711074968357734e+0);
  D td = pick_f64<L>(far, 2.04426310338993978564e-15, 1.05075007164441684324e-9);
  td = td * r + pick_f64<L>(far, 1.42151175831644588870e-7, 5.47593808499534494600e-4);
  td = td * r + pick_f64<L>(far, 1.84631831751005468180e-5, 1.51986665636164571966e-2);
  td = td * r + pick_f64<L>(far, 7.86869131145613259100e-4, 1.48103976427480074590e-1);
  td = td * r + pick_f64<L>(far, 1.48753612908506148525e-2, 6.89767334985100004550e-1);
  td = td * r + pick_f64<L>(far, 1.36929880922735805310e-1, 1.67638483018380384940e+0);
  td = td * r + pick_f64<L>(far, 5.99832206555887937690e-1, 2.05319162663775882187e+0);
  td = td * r + 1.0;
  return -(tn / td);
}

// Both regions are evaluated and one is selected, so there is no data-dependent branch.
FI_HD double ndtri_lower_f64(double q) {
  const double c = q - 0.5;
  const double central = ppnd16_central<ScalarF64>(c);
  const double tail = ppnd16_tail<ScalarF64>(q);
  return (c < -0.425) ? tail : central;
}

}  // namespace fastinit

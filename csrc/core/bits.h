// Bit-level helpers and float -> bfloat16 / float16 rounding (round to nearest, ties to even),
// written with integer ops and selects so that every backend and the reference agree exactly.
#pragma once
#include <cstdint>
#include <cstring>

#include "macros.h"

namespace fastinit {

FI_HD uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
FI_HD float f32_from(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
FI_HD uint64_t f64_bits(double f) {
  uint64_t u;
  memcpy(&u, &f, 8);
  return u;
}
FI_HD double f64_from(uint64_t u) {
  double f;
  memcpy(&f, &u, 8);
  return f;
}

// bfloat16 = the upper half of a float32, rounded to nearest even. NaN stays a quiet NaN.
FI_HD uint16_t bf16_from_f32(float f) {
  const uint32_t u = f32_bits(f);
  const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  const bool nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
  return uint16_t(nan ? ((u >> 16) | 0x40u) : rounded);
}
FI_HD float f32_from_bf16(uint16_t h) { return f32_from(uint32_t(h) << 16); }

// IEEE binary16 from float32, round to nearest even, overflow to inf, subnormals exact.
FI_HD uint16_t f16_from_f32(float f) {
  const uint32_t u = f32_bits(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t a = u & 0x7FFFFFFFu;
  // Normal halves: rebias the exponent (127 -> 15) and round the 13 dropped bits to even.
  const uint32_t normal = (a + 0xC8000FFFu + ((a >> 13) & 1u)) >> 13;
  // Below 2^-14 the half is subnormal: adding 0.5f puts one half-ulp (2^-24) in the float's last
  // mantissa bit, so the FPU's own round-to-nearest-even does the rounding.
  const float abs_f = f32_from(a);
  const uint32_t subnormal = f32_bits(abs_f + 0.5f) - 0x3F000000u;
  uint32_t h = a < 0x38800000u ? subnormal : normal;
  h = a >= 0x477FF000u ? 0x7C00u : h;         // rounds past 65504: infinity
  h = a > 0x7F800000u ? 0x7E00u : h;          // NaN
  return uint16_t(sign | h);
}
FI_HD float f32_from_f16(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
  // Subnormal halves are m * 2^-24, exact in float.
  const float sub = float(int32_t(m)) * 5.9604644775390625e-08f;
  uint32_t bits = e == 0 ? f32_bits(sub) : (e == 31 ? (0x7F800000u | (m << 13)) : (((e + 112u) << 23) | (m << 13)));
  return f32_from(sign | bits);
}

FI_HD float min_f(float a, float b) { return b < a ? b : a; }
FI_HD float max_f(float a, float b) { return a < b ? b : a; }
FI_HD double min_f(double a, double b) { return b < a ? b : a; }
FI_HD double max_f(double a, double b) { return a < b ? b : a; }

}  // namespace fastinit

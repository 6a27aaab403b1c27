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

// float8 from float32 (round to nearest even), bit-for-bit the conversions torch uses (c10):
// e4m3fn has no infinity (bias 7, max 448; overflow and +-inf saturate to +-448, NaN gives 0x7F),
// e5m2 is IEEE-like
// (bias 15, max 57344; overflow gives infinity). Subnormals use the same add-a-power-of-two
// trick as float16 above: 2^14 has one e4m3fn subnormal step (2^-9) in its last bit, 2^7 one
// e5m2 step (2^-16).
FI_HD uint8_t f8e4m3fn_from_f32(float f) {
  const uint32_t u = f32_bits(f);
  const uint32_t sign = (u >> 24) & 0x80u;
  const uint32_t a = u & 0x7FFFFFFFu;
  const uint32_t normal = (a + 0xC407FFFFu + ((a >> 20) & 1u)) >> 20;  // rebias 127 -> 7
  const uint32_t subnormal = f32_bits(f32_from(a) + 16384.0f) - 0x46800000u;
  uint32_t h = a < 0x3C800000u ? subnormal : normal;  // below 2^-6
  h = a >= 0x43E80000u ? 0x7Eu : h;                  // rounds past 448: saturate
  h = a > 0x7F800000u ? 0x7Fu : h;                   // NaN
  return uint8_t(sign | h);
}
FI_HD uint8_t f8e5m2_from_f32(float f) {
  const uint32_t u = f32_bits(f);
  const uint32_t sign = (u >> 24) & 0x80u;
  const uint32_t a = u & 0x7FFFFFFFu;
  const uint32_t normal = (a + 0xC80FFFFFu + ((a >> 21) & 1u)) >> 21;  // rebias 127 -> 15
  const uint32_t subnormal = f32_bits(f32_from(a) + 128.0f) - 0x43000000u;
  uint32_t h = a < 0x38800000u ? subnormal : normal;  // below 2^-14
  h = a >= 0x47800000u ? 0x7Cu : h;                  // >= 65536: infinity
  h = a > 0x7F800000u ? 0x7Fu : h;                   // NaN
  return uint8_t(sign | h);
}
FI_HD float f32_from_f8e4m3fn(uint8_t h) {
  const uint32_t sign = uint32_t(h & 0x80u) << 24;
  const uint32_t e = (h >> 3) & 0xFu, m = h & 0x7u;
  const float sub = float(int32_t(m)) * 0.001953125f;  // m * 2^-9
  uint32_t bits = e == 0 ? f32_bits(sub) : (((e + 120u) << 23) | (m << 20));
  bits = (h & 0x7Fu) == 0x7Fu ? 0x7FC00000u : bits;
  return f32_from(sign | bits);
}
FI_HD float f32_from_f8e5m2(uint8_t h) { return f32_from_f16(uint16_t(uint16_t(h) << 8)); }

FI_HD float min_f(float a, float b) { return b < a ? b : a; }
FI_HD float max_f(float a, float b) { return a < b ? b : a; }
FI_HD double min_f(double a, double b) { return b < a ? b : a; }
FI_HD double max_f(double a, double b) { return a < b ? b : a; }

}  // namespace fastinit

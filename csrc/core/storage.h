// Element types a fill can write, how each is stored, and which word it takes.
#pragma once
#include <cstdint>

#include "bits.h"
#include "macros.h"
#include "philox.h"

namespace fastinit {

struct bf16_t {
  uint16_t bits;
};
struct f16_t {
  uint16_t bits;
};
struct f8e4m3fn_t {
  uint8_t bits;
};
struct f8e5m2_t {
  uint8_t bits;
};

// Store a computed value into element type T. Narrow types are the float32 value rounded to
// nearest even (float8: as torch casts float32); a double result for a <= 32-bit type goes through float32 first, so bf16/fp16
// are always round(fp32 result).
FI_HD void store(float* p, float v) { *p = v; }
FI_HD void store(float* p, double v) { *p = float(v); }
FI_HD void store(double* p, double v) { *p = v; }
FI_HD void store(bf16_t* p, float v) { p->bits = bf16_from_f32(v); }
FI_HD void store(bf16_t* p, double v) { p->bits = bf16_from_f32(float(v)); }
FI_HD void store(f16_t* p, float v) { p->bits = f16_from_f32(v); }
FI_HD void store(f16_t* p, double v) { p->bits = f16_from_f32(float(v)); }
FI_HD void store(f8e4m3fn_t* p, float v) { p->bits = f8e4m3fn_from_f32(v); }
FI_HD void store(f8e4m3fn_t* p, double v) { p->bits = f8e4m3fn_from_f32(float(v)); }
FI_HD void store(f8e5m2_t* p, float v) { p->bits = f8e5m2_from_f32(v); }
FI_HD void store(f8e5m2_t* p, double v) { p->bits = f8e5m2_from_f32(float(v)); }
FI_HD void store(uint32_t* p, uint32_t v) { *p = v; }

// Word of element i: 8-byte types take lanes (2k, 2k+1) of block i/2 (low word first),
// narrower ones lane i%4 of block i/4.
template <class T>
struct WordOf {
  using type = uint32_t;
  static constexpr int kPerBlock = 4;
};
template <>
struct WordOf<double> {
  using type = uint64_t;
  static constexpr int kPerBlock = 2;
};

FI_HD uint32_t word_from_block(const Block4& b, int lane, uint32_t) { return b.w[lane]; }
FI_HD uint64_t word_from_block(const Block4& b, int lane, uint64_t) {
  return uint64_t(b.w[2 * lane]) | (uint64_t(b.w[2 * lane + 1]) << 32);
}

template <class T>
FI_HD typename WordOf<T>::type word_at(uint64_t key, uint64_t stream, uint64_t index) {
  constexpr int kPer = WordOf<T>::kPerBlock;
  const Block4 b = philox_block(key, stream, index / kPer);
  return word_from_block(b, int(index % kPer), typename WordOf<T>::type{});
}

}  // namespace fastinit

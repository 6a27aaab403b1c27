// Philox4x32-10 (Salmon et al., SC'11), the only random engine in fastinit.
// Written once for host and device; checked against Random123's known-answer vectors.
#pragma once
#include <cstdint>

#include "macros.h"

namespace fastinit {

struct Block4 {
  uint32_t w[4];
};

constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;

// hi:lo = a * b. On the device as two 32-bit instructions: through a 64-bit product nvcc kept
// the rounds in 64-bit registers (64-bit multiplies and masks, twice the instructions).
FI_HD void mul_hi_lo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
#if defined(__CUDA_ARCH__)
  hi = __umulhi(a, b);
  lo = a * b;
#else
  const uint64_t p = uint64_t(a) * b;
  hi = uint32_t(p >> 32);
  lo = uint32_t(p);
#endif
}

// The key schedule of one key (its ten round keys). The GPU kernel computes it once per fill
// and takes it as a parameter, so each round's key is an operand, not two additions.
struct PhiloxKeys {
  uint32_t k0[10], k1[10];
};
FI_HD PhiloxKeys philox_keys(uint64_t key) {
  PhiloxKeys ks;
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int round = 0; round < 10; ++round) {
    ks.k0[round] = k0;
    ks.k1[round] = k1;
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
  return ks;
}

// One Philox4x32-10 block: counter (c0..c3), round keys ks.
FI_HD Block4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                           const PhiloxKeys& ks) {
  FI_UNROLL
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mul_hi_lo(kPhiloxM0, c0, hi0, lo0);
    mul_hi_lo(kPhiloxM1, c2, hi1, lo1);
    c0 = hi1 ^ c1 ^ ks.k0[round];
    c1 = lo1;
    c2 = hi0 ^ c3 ^ ks.k1[round];
    c3 = lo0;
  }
  return Block4{{c0, c1, c2, c3}};
}

// One Philox4x32-10 block: counter (c0..c3), key (k0, k1).
FI_HD Block4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                           uint32_t k1) {
  return philox4x32_10(c0, c1, c2, c3, philox_keys(uint64_t(k0) | (uint64_t(k1) << 32)));
}

// The stream contract: key = 64-bit seed (low word first); counter = (block index, stream), each
// 64 bits split low word first. Block b of stream s under seed k (or its round keys ks):
FI_HD Block4 philox_block(const PhiloxKeys& ks, uint64_t stream, uint64_t block) {
  return philox4x32_10(uint32_t(block), uint32_t(block >> 32), uint32_t(stream),
                       uint32_t(stream >> 32), ks);
}
FI_HD Block4 philox_block(uint64_t key, uint64_t stream, uint64_t block) {
  return philox_block(philox_keys(key), stream, block);
}

}  // namespace fastinit

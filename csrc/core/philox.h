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

// One Philox4x32-10 block: counter (c0..c3), key (k0, k1).
FI_HD Block4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                           uint32_t k1) {
  FI_UNROLL
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(kPhiloxM0) * c0;
    const uint64_t p1 = uint64_t(kPhiloxM1) * c2;
    const uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    const uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += kPhiloxW0;  // the bump after the last round is unused and costs nothing
    k1 += kPhiloxW1;
  }
  return Block4{{c0, c1, c2, c3}};
}

// The stream contract: key = 64-bit seed (low word first); counter = (block index, stream), each
// 64 bits split low word first. Block b of stream s under seed k:
FI_HD Block4 philox_block(uint64_t key, uint64_t stream, uint64_t block) {
  return philox4x32_10(uint32_t(block), uint32_t(block >> 32), uint32_t(stream),
                       uint32_t(stream >> 32), uint32_t(key), uint32_t(key >> 32));
}

}  // namespace fastinit

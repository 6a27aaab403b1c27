// A fill's layout, as every backend walks it: where each element lives in memory and which
// logical index (the contract's i) it has, and the row walk every backend shares. Host and device.
#pragma once
#include <cstdint>

#include "macros.h"

namespace fastinit {

constexpr int kMaxDims = 32;

// Element (j_0..j_{n-1}) lives at data + sum j_k * mstride_k and has logical index
// base + sum j_k * gstride_k. Dims are collapsed where both strides allow; the last is the row.
struct Plan {
  char* data = nullptr;
  int elem_size = 4;
  int ndim = 1;
  int64_t shape[kMaxDims] = {};
  int64_t mstride[kMaxDims] = {};
  uint64_t gstride[kMaxDims] = {};
  uint64_t base = 0;
  int64_t numel = 0;
};

// a / b for a >= 0, b > 0; the 32-bit divide where both fit (several times cheaper on a GPU).
FI_HD int64_t div_floor(int64_t a, int64_t b) {
  if (((a | b) >> 31) == 0) return int64_t(uint32_t(a) / uint32_t(b));
  return a / b;
}

// Memory offset (elements) and logical index of element 0 of row `row` (rows in C order over
// the plan's dims but the last).
struct RowOrigin {
  int64_t moff;
  uint64_t first;
};
FI_HD RowOrigin row_origin(const Plan& p, int64_t row) {
  RowOrigin o{0, p.base};
  for (int k = p.ndim - 2; k >= 0; --k) {
    const int64_t q = div_floor(row, p.shape[k]);
    const int64_t jk = row - q * p.shape[k];
    row = q;
    o.moff += jk * p.mstride[k];
    o.first += uint64_t(jk) * p.gstride[k];
  }
  return o;
}

}  // namespace fastinit

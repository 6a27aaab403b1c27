// A fill's layout, as every backend walks it: where each element lives in memory and which
// logical index (the contract's i) it has. Plain data, readable from host and device code.
#pragma once
#include <cstdint>

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

}  // namespace fastinit

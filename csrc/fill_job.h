// What a backend needs to fill one tensor: where the elements are, which logical index each
// has, and the distribution in its compute precision. Built by dispatch.cpp, read by backends.
#pragma once
#include <cstdint>

#include "core/plan.h"

namespace fastinit {

enum class DType : int { f32 = 0, f64 = 1, f16 = 2, bf16 = 3, u32 = 4, f8e4m3fn = 5, f8e5m2 = 6 };
enum class DeviceKind : int { cpu = 1, cuda = 2 };
enum class DistKind : int { uniform = 0, normal = 1, trunc_normal = 2, constant = 3, bits = 4 };

// Bytes of one element of `d`.
inline int elem_size(DType d) {
  switch (d) {
    case DType::f64: return 8;
    case DType::f32: case DType::u32: return 4;
    case DType::f16: case DType::bf16: return 2;
    default: return 1;
  }
}

// A tensor as the caller handed it: strides in elements (may be negative).
struct TensorView {
  void* data = nullptr;
  DType dtype = DType::f32;
  DeviceKind device = DeviceKind::cpu;
  int device_index = 0;
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
  bool readonly = false;
};

struct FillJob {
  Plan plan;
  DType dtype = DType::f32;
  DistKind kind = DistKind::uniform;
  bool wide = false;        // compute in double although the element type is <= 32 bits
  bool local = false;       // truncated normal on a flat, narrow interval: TruncLocal*
  uint64_t key = 0, stream = 0;
  double p[5] = {};         // distribution parameters, already rounded to the compute type
  double lo = 0, hi = 0;    // every stored value is clamped to [lo, hi] (exact in the dtype)
};

}  // namespace fastinit

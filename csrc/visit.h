// THE one switch over element type x distribution. Each backend calls visit_job with a generic
// callable taking (T* tag, Dist, CT lo, CT hi); device routing happens in dispatch.cpp.
#pragma once
#include <stdexcept>

#include "core/distributions.h"
#include "core/storage.h"
#include "fill_job.h"

namespace fastinit {

template <class T, class Fn>
void visit_dist_for(const FillJob& j, Fn&& fn) {
  const double* p = j.p;
  if constexpr (sizeof(T) == 8) {
    switch (j.kind) {
      case DistKind::uniform: return fn((T*)nullptr, Uniform64{p[0], p[1]}, j.lo, j.hi);
      case DistKind::normal: return fn((T*)nullptr, Normal64{p[0], p[1]}, j.lo, j.hi);
      case DistKind::trunc_normal:
        if (j.local) return fn((T*)nullptr, TruncLocal64{p[0], p[1], p[2], p[3]}, j.lo, j.hi);
        return fn((T*)nullptr, TruncNormal64{p[0], p[1], p[2], p[3], p[4]}, j.lo, j.hi);
      case DistKind::constant: return fn((T*)nullptr, Constant64{p[0]}, j.lo, j.hi);
      default: break;
    }
  } else {
    const float lo = float(j.lo), hi = float(j.hi);
    switch (j.kind) {
      case DistKind::uniform: return fn((T*)nullptr, Uniform32{float(p[0]), float(p[1])}, lo, hi);
      case DistKind::normal: return fn((T*)nullptr, Normal32{float(p[0]), float(p[1])}, lo, hi);
      case DistKind::trunc_normal:
        if (j.local)
          return fn((T*)nullptr, TruncLocal32{float(p[0]), float(p[1]), float(p[2]), float(p[3])},
                    lo, hi);
        if (j.wide)
          return fn((T*)nullptr, TruncNormal32Wide{p[0], p[1], p[2], p[3], p[4]}, j.lo, j.hi);
        return fn((T*)nullptr,
                  TruncNormal32{float(p[0]), float(p[1]), float(p[2]), float(p[3]), float(p[4])},
                  lo, hi);
      case DistKind::constant: return fn((T*)nullptr, Constant32{float(p[0])}, lo, hi);
      default: break;
    }
  }
  throw std::logic_error("fastinit: distribution not available for this dtype");
}

template <class Fn>
void visit_job(const FillJob& j, Fn&& fn) {
  switch (j.dtype) {
    case DType::f32: return visit_dist_for<float>(j, fn);
    case DType::f64: return visit_dist_for<double>(j, fn);
    case DType::f16: return visit_dist_for<f16_t>(j, fn);
    case DType::bf16: return visit_dist_for<bf16_t>(j, fn);
    case DType::f8e4m3fn: return visit_dist_for<f8e4m3fn_t>(j, fn);
    case DType::f8e5m2: return visit_dist_for<f8e5m2_t>(j, fn);
    case DType::u32:
      if (j.kind == DistKind::bits) return fn((uint32_t*)nullptr, RawBits32{}, 0u, 0xFFFFFFFFu);
      break;
  }
  throw std::logic_error("fastinit: unsupported dtype/distribution pair reached a backend");
}

}  // namespace fastinit

// fastinit core: portability macros. Everything under core/ compiles as plain C++ and as CUDA.
#pragma once

#if defined(__CUDACC__)
#define FI_HD __host__ __device__ __forceinline__
#define FI_UNROLL _Pragma("unroll")
#else
#define FI_HD inline __attribute__((always_inline))
#define FI_UNROLL
#endif

namespace fastinit {

// IEEE correctly rounded square root on every backend (nvcc's default -prec-sqrt=true).
FI_HD float fi_sqrt(float x) {
#if defined(__CUDA_ARCH__)
  return ::sqrtf(x);
#else
  return __builtin_sqrtf(x);
#endif
}
FI_HD double fi_sqrt(double x) {
#if defined(__CUDA_ARCH__)
  return ::sqrt(x);
#else
  return __builtin_sqrt(x);
#endif
}

}  // namespace fastinit

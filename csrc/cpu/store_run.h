// Clamp a batch of computed values into [lo, hi] and store them as element type T, contiguous.
// float16 uses the hardware conversion where the build has F16C (vcvtps2ph, round to nearest
// even, overflow to inf, subnormals exact: the same bits as core's f16_from_f32 for every
// non-NaN input, and fills never produce NaN); the software conversion cost 0.6 cycles per
// element (benchmarks/per_core.py).
#pragma once
#if defined(__F16C__)  // x86 only: other targets convert in software (core/bits.h)
#include <immintrin.h>
#endif

#include <cstdint>

#include "../core/storage.h"

namespace fastinit {
namespace cpu {
namespace {  // internal linkage: compiled once per instruction set

template <class T, class CT>
inline void store_run(T* o, const CT* v, int64_t n, CT lo, CT hi) {
  for (int64_t j = 0; j < n; ++j) store(o + j, min_f(max_f(v[j], lo), hi));
}

#if defined(__F16C__)
inline void store_run(f16_t* o, const float* v, int64_t n, float lo, float hi) {
  constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  int64_t j = 0;
#if defined(__AVX512F__)
  const __m512 lo16 = _mm512_set1_ps(lo), hi16 = _mm512_set1_ps(hi);
  for (; j + 16 <= n; j += 16) {
    // max_f(v, lo) = v < lo ? lo : v is maxps(lo, v), min_f(x, hi) = hi < x ? hi : x is
    // minps(hi, x): on a tie (+0 vs -0) both keep v, as the scalar code does
    const __m512 x = _mm512_min_ps(hi16, _mm512_max_ps(lo16, _mm512_loadu_ps(v + j)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + j), _mm512_cvtps_ph(x, kRound));
  }
#endif
  const __m256 lo8 = _mm256_set1_ps(lo), hi8 = _mm256_set1_ps(hi);
  for (; j + 8 <= n; j += 8) {
    const __m256 x = _mm256_min_ps(hi8, _mm256_max_ps(lo8, _mm256_loadu_ps(v + j)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o + j), _mm256_cvtps_ph(x, kRound));
  }
  for (; j < n; ++j) store(o + j, min_f(max_f(v[j], lo), hi));
}
#endif

}  // namespace
}  // namespace cpu
}  // namespace fastinit

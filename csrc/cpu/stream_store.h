// Copy a batch from an L1 scratch buffer to its destination with non-temporal (streaming)
// stores: a large fill then writes memory once instead of reading each line first (RFO).
// Unaligned head and tail bytes use plain stores. Callers issue one sfence per thread at the end.
#pragma once
#if defined(__SSE2__)  // x86 only: other targets copy with plain stores
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace fastinit {
namespace cpu {
// Internal linkage: this header is compiled once per instruction set (cpu/fill.cpp), and
// the copies must not be merged by the linker.
namespace {

inline void stream_copy(void* dst, const void* src, size_t bytes) {
  auto* d = static_cast<char*>(dst);
  const auto* s = static_cast<const char*>(src);
#if defined(__SSE2__)
  const size_t head = std::min(bytes, size_t((64 - (reinterpret_cast<uintptr_t>(d) & 63)) & 63));
  std::memcpy(d, s, head);
  d += head, s += head, bytes -= head;
  for (; bytes >= 64; d += 64, s += 64, bytes -= 64) {
#if defined(__AVX512F__)
    _mm512_stream_si512(reinterpret_cast<__m512i*>(d), _mm512_loadu_si512(s));
#elif defined(__AVX2__)
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s)));
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d + 32), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 32)));
#else
    for (int k = 0; k < 64; k += 16)
      _mm_stream_si128(reinterpret_cast<__m128i*>(d + k), _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + k)));
#endif
  }
#endif
  std::memcpy(d, s, bytes);
}

inline void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

}  // namespace
}  // namespace cpu
}  // namespace fastinit

// Philox4x32-10 alone on a GPU: which way of forming the rounds' 32x32 -> 64-bit products, and
// how many independent blocks per thread, generate words fastest. The same words in every
// variant (checked); a plain 16-byte store kernel gives the write bandwidth they compete with.
//
//   nvcc -O3 -std=c++17 -arch=sm_90 benchmarks/philox_mul.cu -o /tmp/philox_mul && /tmp/philox_mul
//
// Variants: hi/lo = __umulhi + mul.lo (two instructions, as csrc/core/philox.h on the device),
// one mul.wide.u32 (one instruction, a register pair), and 1 or 2 blocks per loop iteration.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(call)                                                                   \
  do {                                                                                \
    cudaError_t e = (call);                                                           \
    if (e != cudaSuccess) {                                                           \
      std::printf("CUDA error %s at %s:%d\n", cudaGetErrorString(e), __FILE__, __LINE__); \
      std::exit(1);                                                                   \
    }                                                                                 \
  } while (0)

struct Keys {
  uint32_t k0[10], k1[10];
};

template <int kMul>
__device__ __forceinline__ void mul_hi_lo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  if constexpr (kMul == 0) {
    hi = __umulhi(a, b);
    lo = a * b;
  } else {
    uint64_t p;
    asm("mul.wide.u32 %0, %1, %2;" : "=l"(p) : "r"(a), "r"(b));
    hi = uint32_t(p >> 32);
    lo = uint32_t(p);
  }
}

template <int kMul>
__device__ __forceinline__ uint4 philox(const Keys& k, uint64_t block) {
  uint32_t c0 = uint32_t(block), c1 = uint32_t(block >> 32), c2 = 7, c3 = 0;
#pragma unroll
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, lo0, hi1, lo1;
    mul_hi_lo<kMul>(0xD2511F53u, c0, hi0, lo0);
    mul_hi_lo<kMul>(0xCD9E8D57u, c2, hi1, lo1);
    c0 = hi1 ^ c1 ^ k.k0[r];
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k.k1[r];
    c3 = lo0;
  }
  return make_uint4(c0, c1, c2, c3);
}

__device__ __forceinline__ void st16(uint4* p, uint4 v) {
  asm volatile("st.global.v4.u32 [%0], {%1, %2, %3, %4};" ::"l"(__cvta_generic_to_global(p)),
               "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w)
               : "memory");
}

// kPer independent blocks per loop iteration (i, i + n/kPer, ...), to see whether the
// rounds' dependency chain or the issue rate bounds a thread.
template <int kMul, int kPer>
__global__ void __launch_bounds__(256) words(uint4* out, uint64_t nblocks,
                                             const __grid_constant__ Keys k) {
  const uint64_t stride = uint64_t(gridDim.x) * blockDim.x, part = nblocks / kPer;
  for (uint64_t i = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < part; i += stride) {
    uint4 v[kPer];
#pragma unroll
    for (int b = 0; b < kPer; ++b) v[b] = philox<kMul>(k, i + b * part);
#pragma unroll
    for (int b = 0; b < kPer; ++b) st16(out + i + b * part, v[b]);
  }
}

__global__ void __launch_bounds__(256) stores(uint4* out, uint64_t n) {
  const uint64_t stride = uint64_t(gridDim.x) * blockDim.x;
  for (uint64_t i = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    st16(out + i, make_uint4(1, 2, 3, uint32_t(i)));
}

template <class Launch>
double median_ms(Launch launch) {
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  launch();
  std::vector<float> t;
  for (int r = 0; r < 15; ++r) {
    CHECK(cudaEventRecord(a));
    launch();
    CHECK(cudaEventRecord(b));
    CHECK(cudaEventSynchronize(b));
    float ms;
    CHECK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms);
  }
  CHECK(cudaGetLastError());
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int main() {
  const uint64_t nblocks = uint64_t(1) << 26;  // 2^28 words, 1 GiB
  uint4 *out, *ref;
  CHECK(cudaMalloc(&out, nblocks * 16));
  CHECK(cudaMalloc(&ref, nblocks * 16));
  Keys k;
  uint32_t k0 = 0x12345678u, k1 = 0x9abcdef0u;
  for (int r = 0; r < 10; ++r, k0 += 0x9E3779B9u, k1 += 0xBB67AE85u) k.k0[r] = k0, k.k1[r] = k1;
  int sms = 0, per_sm = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, words<0, 1>, 256, 0));
  const unsigned grid = unsigned(sms * per_sm);
  const double gb = nblocks * 16 / 1e9;
  const double store_ms = median_ms([&] { stores<<<grid, 256>>>(out, nblocks); });
  std::printf("16-byte stores only            %8.1f GB/s\n", gb / store_ms * 1e3);
  words<0, 1><<<grid, 256>>>(ref, nblocks, k);
  auto run = [&](const char* name, auto kernel) {
    const double ms = median_ms([&] { kernel<<<grid, 256>>>(out, nblocks, k); });
    std::vector<uint4> a(1 << 16), b(1 << 16);
    CHECK(cudaMemcpy(a.data(), out + nblocks - (1 << 16), 16 << 16, cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(b.data(), ref + nblocks - (1 << 16), 16 << 16, cudaMemcpyDeviceToHost));
    bool same = true;
    for (size_t i = 0; i < a.size(); ++i)
      same = same && a[i].x == b[i].x && a[i].y == b[i].y && a[i].z == b[i].z && a[i].w == b[i].w;
    std::printf("%-30s %8.1f GB/s  %6.1f Gwords/s  %s\n", name, gb / ms * 1e3, 4 * nblocks / ms / 1e6,
                same ? "same words" : "WORDS DIFFER");
  };
  run("umulhi + mul.lo, 1 block", words<0, 1>);
  run("umulhi + mul.lo, 2 blocks", words<0, 2>);
  run("mul.wide.u32, 1 block", words<1, 1>);
  run("mul.wide.u32, 2 blocks", words<1, 2>);
  return 0;
}

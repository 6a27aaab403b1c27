// CUDA backend: one grid-stride kernel template over the shared core. Values depend only on
// logical indices, so they equal the CPU's bit for bit (no fma contraction: -fmad=false).
#include <cuda_runtime.h>

#include <string>
#include <type_traits>

#include "../core/storage.h"
#include "../dispatch.h"
#include "../errors.h"
#include "../visit.h"

namespace fastinit {
namespace cuda {
namespace {

void check(cudaError_t err, const char* call) {
  if (err != cudaSuccess)
    throw DeviceError(std::string("fastinit: CUDA call ") + call + " failed: " + cudaGetErrorName(err) +
                      " (" + cudaGetErrorString(err) + ")");
}
#define FI_CUDA_CHECK(call) check((call), #call)

// Restores the caller's current device on exit.
struct DeviceGuard {
  int previous = 0;
  explicit DeviceGuard(int device) {
    FI_CUDA_CHECK(cudaGetDevice(&previous));
    if (device != previous) FI_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceGuard() { cudaSetDevice(previous); }
};

template <class T, class Dist, class CT>
__device__ __forceinline__ void store_clamped(T* out, const Dist& dist, typename WordOf<T>::type w,
                                              CT lo, CT hi) {
  if constexpr (std::is_same_v<T, uint32_t>) {
    store(out, dist(w));
  } else {
    store(out, min_f(max_f(dist(w), lo), hi));
  }
}

// One thread per Philox block of a row: the row's logical indices are consecutive, so each
// block yields up to kPer consecutive elements (4 for <= 32-bit types, 2 for float64) and the
// generator runs once per block, not once per element. Rows are padded to a whole number of
// units; units past the row's end do nothing.
template <class T, class Dist, class CT>
__global__ void fill_kernel(Plan p, Dist dist, CT lo, CT hi, uint64_t key, uint64_t stream,
                            int64_t units_per_row, int64_t units) {
  constexpr int kPer = WordOf<T>::kPerBlock;
  const int last = p.ndim - 1;
  const int64_t row_len = p.shape[last];
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t u = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; u < units; u += step) {
    int64_t rem = u / units_per_row, moff = 0;
    const int64_t j = u % units_per_row;
    uint64_t g0 = p.base;
    for (int k = last - 1; k >= 0; --k) {
      const int64_t jk = rem % p.shape[k];
      rem /= p.shape[k];
      moff += jk * p.mstride[k];
      g0 += uint64_t(jk) * p.gstride[k];
    }
    const uint64_t block = g0 / kPer + uint64_t(j);
    const uint64_t first = block * kPer;
    const int64_t begin = first > g0 ? int64_t(first - g0) : 0;  // element offsets in the row
    const int64_t end_raw = int64_t(first + kPer - g0);
    const int64_t end = end_raw < row_len ? end_raw : row_len;
    if (begin >= end) continue;
    Block4 b{};
    if constexpr (Dist::kRandom) b = philox_block(key, stream, block);
    T* row = reinterpret_cast<T*>(p.data) + moff;
    for (int64_t e = begin; e < end; ++e) {
      const int lane = int((g0 + uint64_t(e)) - first);
      using W = typename WordOf<T>::type;
      const W w = Dist::kRandom ? word_from_block(b, lane, W{}) : W(0);
      store_clamped<T>(row + e * p.mstride[last], dist, w, lo, hi);
    }
  }
}

}  // namespace

bool available() {
  int n = 0;
  // A static cudart reports cudaErrorNoDevice / InsufficientDriver where there is no GPU.
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return false;
  }
  return n > 0;
}

void fill(const FillJob& job, int device_index, void* stream) {
  DeviceGuard guard(device_index);
  int sms = 0;
  FI_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device_index));
  const int threads = 256;
  auto s = static_cast<cudaStream_t>(stream);
  const Plan& p = job.plan;
  const int64_t row_len = p.shape[p.ndim - 1];
  const int64_t rows = p.numel / row_len;
  visit_job(job, [&](auto* tag, const auto& dist, auto lo, auto hi) {
    using T = std::remove_pointer_t<decltype(tag)>;
    constexpr int kPer = WordOf<T>::kPerBlock;
    const int64_t units_per_row = (row_len + kPer - 1) / kPer + 1;  // +1: unaligned start
    const int64_t units = rows * units_per_row;
    const int64_t wanted = (units + threads - 1) / threads;
    const int blocks = int(wanted < int64_t(sms) * 32 ? wanted : int64_t(sms) * 32);
    fill_kernel<T><<<blocks, threads, 0, s>>>(p, dist, lo, hi, job.key, job.stream, units_per_row, units);
  });
  FI_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastinit

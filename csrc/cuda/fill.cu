// CUDA backend: one grid-stride kernel template over the shared core. Each element computes
// its own logical index, so values equal the CPU's bit for bit (no fma contraction: -fmad=false).
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
__global__ void fill_kernel(Plan p, Dist dist, CT lo, CT hi, uint64_t key, uint64_t stream) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < p.numel; i += step) {
    int64_t rem = i, moff = 0;
    uint64_t g = p.base;
    for (int k = p.ndim - 1; k >= 0; --k) {
      const int64_t jk = rem % p.shape[k];
      rem /= p.shape[k];
      moff += jk * p.mstride[k];
      g += uint64_t(jk) * p.gstride[k];
    }
    T* out = reinterpret_cast<T*>(p.data) + moff;
    using W = typename WordOf<T>::type;
    const W w = Dist::kRandom ? word_at<T>(key, stream, g) : W(0);
    if constexpr (std::is_same_v<T, uint32_t>) {
      store(out, dist(w));
    } else {
      store(out, min_f(max_f(dist(w), lo), hi));
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
  const int64_t wanted = (job.plan.numel + threads - 1) / threads;
  const int blocks = int(wanted < int64_t(sms) * 32 ? wanted : int64_t(sms) * 32);
  auto s = static_cast<cudaStream_t>(stream);
  visit_job(job, [&](auto* tag, const auto& dist, auto lo, auto hi) {
    using T = std::remove_pointer_t<decltype(tag)>;
    fill_kernel<T><<<blocks, threads, 0, s>>>(job.plan, dist, lo, hi, job.key, job.stream);
  });
  FI_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastinit

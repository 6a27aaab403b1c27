// CUDA backend: one grid-stride kernel template over the shared core. Which thread writes which
// element is core/grid_map.h's fill_lane, tested on the host (testing/grid_emulate.cpp); values
// depend only on logical indices, so they equal the CPU's bit for bit (no fma contraction:
// -fmad=false).
#include <cuda_runtime.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "../core/grid_map.h"
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

// fill_lane's stores on the device: one st.global.v4 per aligned group. Written as the
// instruction itself: through a uint4 pointer, NVVM split some kernels' stores into four.
struct GlobalStores {
  template <class T>
  __device__ __forceinline__ void vector(T* p, const Vec16& v) const {
    asm volatile("st.global.v4.u32 [%0], {%1, %2, %3, %4};" ::"l"(__cvta_generic_to_global(p)),
                 "r"(v.w[0]), "r"(v.w[1]), "r"(v.w[2]), "r"(v.w[3])
                 : "memory");
  }
  template <class T>
  __device__ __forceinline__ void scalar(T* p, T x) const {
    *p = x;
  }
};

// The parameters stay in the constant bank (__grid_constant__: no per-thread copy), so the
// round keys are instruction operands.
template <class T, bool kOneRow, class Dist, class CT>
__global__ void __launch_bounds__(kThreadsPerBlock)
    fill_kernel(const __grid_constant__ Plan p, const __grid_constant__ GridGeometry g,
                const __grid_constant__ Dist dist, CT lo, CT hi,
                const __grid_constant__ PhiloxKeys keys, uint64_t stream) {
  stage_normal_table();
  const int64_t thread = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / kWarpLanes);
  GlobalStores sink;
  fill_lane<T, kOneRow>(p, g, dist, lo, hi, keys, stream, thread / kWarpLanes, warps,
                        int(threadIdx.x % kWarpLanes), sink);
}

// Cached per device: asked once, read on every launch (from any thread).
int cached(std::atomic<int> (&cache)[64], int device, int (*ask)(int)) {
  std::atomic<int>& slot = cache[device & 63];
  int n = slot.load(std::memory_order_relaxed);
  if (n == 0) {
    n = ask(device);
    slot.store(n, std::memory_order_relaxed);
  }
  return n;
}

int ask_sm_count(int device) {
  int n = 0;
  FI_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
  return n > 0 ? n : 1;
}

template <class T, bool kOneRow, class Dist, class CT>
int ask_blocks_per_sm(int) {
  int n = 0;
  FI_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
      &n, fill_kernel<T, kOneRow, Dist, CT>, kThreadsPerBlock, 0));
  return n > 0 ? n : 1;
}

// As many blocks as the device holds at once (SMs x resident blocks of this kernel), fewer
// for small fills; no allocation, nothing but the launch on the caller's stream.
template <class T, bool kOneRow, class Dist, class CT>
void launch(const FillJob& job, const GridGeometry& g, const Dist& dist, CT lo, CT hi, int device,
            cudaStream_t s) {
  static std::atomic<int> sms[64], per_sm[64];
  const int64_t resident = int64_t(cached(sms, device, ask_sm_count)) *
                           cached(per_sm, device, ask_blocks_per_sm<T, kOneRow, Dist, CT>);
  const int64_t blocks = grid_blocks(g, resident);
  fill_kernel<T, kOneRow><<<unsigned(blocks), kThreadsPerBlock, 0, s>>>(
      job.plan, g, dist, lo, hi, philox_keys(job.key), job.stream);
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
  auto s = static_cast<cudaStream_t>(stream);
  visit_job(job, [&](auto* tag, const auto& dist, auto lo, auto hi) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (!grid_check_bounds<std::decay_t<decltype(dist)>>(lo, hi))
      throw std::logic_error("fastinit: a normal fill with finite bounds reached the CUDA kernel");
    const GridGeometry g = grid_geometry(job.plan, VecOf<T>::kElems);
    if (g.one_row)
      launch<T, true>(job, g, dist, lo, hi, device_index, s);
    else
      launch<T, false>(job, g, dist, lo, hi, device_index, s);
  });
  FI_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastinit

// The one entry point from the bindings: validate a fill request, plan it, route it to a device.
#pragma once
#include <cstdint>
#include <vector>

#include "fill_job.h"

namespace fastinit {

struct FillRequest {
  const char* fn = "fill";           // public function name, for error messages
  DistKind kind = DistKind::uniform;
  double params[4] = {};
  uint64_t key = 0, stream = 0;
  std::vector<int64_t> global_shape;  // empty: the tensor is the whole logical tensor
  std::vector<int64_t> global_offset; // empty: zeros
  uint64_t index_offset = 0;          // added to every logical index (random_bits_)
  void* cuda_stream = nullptr;        // cudaStream_t to launch on (CUDA targets)
  bool check_only = false;            // validate and plan, write nothing
};

// Fills `view` in place. Throws ValueError / DTypeError / DeviceError, before touching memory.
void fill(const TensorView& view, const FillRequest& req);

// Backends (cpu/, cuda/): each fills a validated, planned job.
namespace cpu {
void fill(const FillJob& job);
const char* isa_name();
void set_num_threads(int n);
int get_num_threads();
}  // namespace cpu
namespace cuda {
bool available();
void fill(const FillJob& job, int device_index, void* stream);
}  // namespace cuda

}  // namespace fastinit

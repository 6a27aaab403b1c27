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
  int torch_threads = 0;              // torch's thread count where torch is loaded (a CPU cap)
};

// Fills `view` in place. Throws ValueError / DTypeError / DeviceError, before touching memory.
void fill(const TensorView& view, const FillRequest& req);

// fill() in two steps, so the caller can settle the key in between (drawn from a generator
// only once the request is known to be valid), and the host proofs can plan without writing:
// make_job validates and plans (throwing as fill() does; false when there is nothing to
// write), run_fill writes job (job.key and job.stream may have been changed since).
bool make_job(const TensorView& view, const FillRequest& req, FillJob& job);
void run_fill(const TensorView& view, const FillRequest& req, const FillJob& job);

// The CUDA kernel's division of work (core/grid_map.h) run on the host, over a CPU target, for
// a launch on `sms` SMs holding `blocks_per_sm` blocks each: the same checks, plan and values as
// fill(), and counts of what the threads did. Throws std::logic_error if an element would be
// written twice or missed, or a 16-byte store would be misaligned (tests; no GPU needed).
struct GridEmulation {
  int sms = 1, blocks_per_sm = 1;
  int fault = 0;  // tests of the checks: 1 runs one lane twice, 2 leaves the last warp out
  int64_t blocks = 0, tiles = 0, tile_groups = 0;  // the launch
  int64_t vector_stores = 0, scalar_stores = 0;    // what its threads wrote
};
void fill_grid_emulated(const TensorView& view, const FillRequest& req, GridEmulation& em);

// True when two elements of the layout share a byte (strides and itemsize in one unit, bytes
// or elements); exact up to 2^22 elements, conservative (true) past that where in doubt.
bool memory_overlaps(int ndim, const int64_t* shape, const int64_t* strides, int64_t itemsize);

// Backends (cpu/, cuda/): each fills a validated, planned job.
namespace cpu {
void fill(const FillJob& job, int torch_threads);
const char* isa_name();
void set_num_threads(int64_t n);  // ValueError outside [1, max_threads()]
int max_threads();
int get_num_threads(int torch_threads);  // what a fill large enough to split would use now
bool may_use_threads(int64_t numel);     // false: a fill of numel elements runs on one thread
struct Split;
Split split_of(const FillJob& job, int torch_threads);  // the threads and tasks fill() uses
}  // namespace cpu
namespace cuda {
bool available();
void fill(const FillJob& job, int device_index, void* stream);
}  // namespace cuda
namespace testing {
void grid_emulate(const FillJob& job, GridEmulation& em);
}  // namespace testing

}  // namespace fastinit

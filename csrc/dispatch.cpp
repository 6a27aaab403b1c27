#include "dispatch.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <string>

#include "errors.h"
#include "params.h"

namespace fastinit {

// Sorted by |stride|, each dim must step past everything the smaller ones span (plus one
// element): then no two elements share a byte. Where that quick test fails, a zero stride over
// two or more elements is an overlap; otherwise (interleaved layouts as_strided can make, e.g.
// strides (2, 3) over (3, 2)) every element's offset is listed and compared, up to 2^22
// elements; a larger layout the quick test cannot clear counts as overlapping.
bool memory_overlaps(int ndim, const int64_t* shape, const int64_t* strides, int64_t itemsize) {
  std::vector<std::pair<uint64_t, int64_t>> dims;  // (|stride|, size)
  int64_t numel = 1;
  for (int k = 0; k < ndim; ++k) {
    if (shape[k] == 0) return false;
    numel *= shape[k];
    if (shape[k] > 1) dims.emplace_back(uint64_t(std::llabs(strides[k])), shape[k]);
  }
  std::sort(dims.begin(), dims.end());
  uint64_t span = uint64_t(itemsize);  // bytes the dims so far reach, from the lowest
  bool clear = true;
  for (auto [stride, size] : dims) {
    if (stride < span) clear = false;
    span = std::max(span, stride * uint64_t(size - 1) + span);
  }
  if (clear) return false;
  for (auto [stride, size] : dims)
    if (stride == 0) return true;
  if (numel > (int64_t(1) << 22)) return true;
  std::vector<int64_t> offsets{0};
  for (auto [stride, size] : dims) {
    const size_t n = offsets.size();
    for (int64_t i = 1; i < size; ++i)
      for (size_t j = 0; j < n; ++j) offsets.push_back(offsets[j] + int64_t(stride) * i);
  }
  std::sort(offsets.begin(), offsets.end());
  for (size_t i = 1; i < offsets.size(); ++i)
    if (offsets[i] - offsets[i - 1] < itemsize) return true;
  return false;
}

namespace {

void check_no_overlap(const Plan& p, const char* fn) {
  const bool overlaps = p.ndim == 1 ? p.shape[0] > 1 && p.mstride[0] == 0  // dense tensors
                                    : memory_overlaps(p.ndim, p.shape, p.mstride, 1);
  if (overlaps)
    throw ValueError(tagged(fn, "the target's memory overlaps itself (e.g. an expand()ed or "
                                "broadcast view); fill a contiguous tensor instead"));
}

// Logical (global, row-major) strides and the base index of the block this tensor is.
void place(Plan& p, const TensorView& v, const FillRequest& r, const char* fn) {
  const int n = v.ndim;
  // No global_shape: the tensor is the whole; no global_offset: zeros (no copies made).
  const bool whole = r.global_shape.empty(), at_zero = r.global_offset.empty();
  if (!whole && int(r.global_shape.size()) != n)
    throw ValueError(tagged(fn, "global_shape has " + std::to_string(r.global_shape.size()) +
                                    " dims but the tensor has " + std::to_string(n)));
  if (!at_zero && int(r.global_offset.size()) != n)
    throw ValueError(tagged(fn, "global_offset has " + std::to_string(r.global_offset.size()) +
                                    " dims but the tensor has " + std::to_string(n)));
  const int64_t* gshape = whole ? v.shape : r.global_shape.data();
  static const int64_t zeros[kMaxDims] = {};
  const int64_t* goff = at_zero ? zeros : r.global_offset.data();
  for (int k = 0; k < n; ++k) {
    if (goff[k] < 0 || gshape[k] < 0)
      throw ValueError(tagged(fn, std::string(goff[k] < 0 ? "global_offset" : "global_shape") +
                                      " entries must be >= 0 (dim " + std::to_string(k) + ": " +
                                      std::to_string(goff[k] < 0 ? goff[k] : gshape[k]) + ")"));
    if ((__int128)goff[k] + v.shape[k] > gshape[k])
      throw ValueError(tagged(fn, "the tensor does not fit in global_shape at global_offset (dim " +
                                      std::to_string(k) + ": offset " + std::to_string(goff[k]) +
                                      " + size " + std::to_string(v.shape[k]) + " > " +
                                      std::to_string(gshape[k]) + ")"));
  }
  unsigned __int128 g = 1;
  uint64_t base = r.index_offset;
  for (int k = n - 1; k >= 0; --k) {
    p.gstride[k] = uint64_t(g);
    base += uint64_t(goff[k]) * uint64_t(g);
    g *= uint64_t(gshape[k]);
    if (g > (unsigned __int128)(UINT64_MAX))
      throw ValueError(tagged(fn, "global_shape has more than 2^64 elements"));
  }
  // Logical indices run to index_offset + numel(global) - 1 and must not pass 2^64.
  if ((unsigned __int128)(r.index_offset) + g > ((unsigned __int128)(1) << 64))
    throw ValueError(tagged(fn, "offset + number of elements exceeds 2^64 (the stream's length)"));
  p.base = base;
}

Plan make_plan(const TensorView& v, const FillRequest& r) {
  Plan full;
  full.data = static_cast<char*>(v.data);
  full.elem_size = elem_size(v.dtype);
  full.ndim = v.ndim;
  full.numel = 1;
  for (int k = 0; k < v.ndim; ++k) {
    full.shape[k] = v.shape[k];
    full.mstride[k] = v.strides[k];
    full.numel *= v.shape[k];
  }
  place(full, v, r, r.fn);
  if (full.numel == 0) return full;  // nothing to write, nothing to check
  // Drop size-1 dims, then merge neighbours whose memory and logical strides both chain. In
  // place: dim k is read before anything at index <= k is written.
  Plan& p = full;
  const int ndim = full.ndim;
  p.ndim = 0;
  for (int k = 0; k < ndim; ++k) {
    const int64_t size = full.shape[k], mstride = full.mstride[k];
    const uint64_t gstride = full.gstride[k];
    if (size == 1) continue;
    const int last = p.ndim - 1;
    if (last >= 0 && p.mstride[last] == mstride * size && p.gstride[last] == gstride * uint64_t(size)) {
      p.shape[last] *= size;
      p.mstride[last] = mstride;
      p.gstride[last] = gstride;
      continue;
    }
    p.shape[p.ndim] = size;
    p.mstride[p.ndim] = mstride;
    p.gstride[p.ndim] = gstride;
    ++p.ndim;
  }
  if (p.ndim == 0) {  // a single element
    p.ndim = 1;
    p.shape[0] = 1;
    p.mstride[0] = 1;
    p.gstride[0] = 1;
  }
  check_no_overlap(p, r.fn);
  if (p.gstride[p.ndim - 1] != 1 && p.ndim < kMaxDims) {
    // Backends walk rows of consecutive logical indices: give them rows of one element.
    p.shape[p.ndim] = 1;
    p.mstride[p.ndim] = 1;
    p.gstride[p.ndim] = 1;
    ++p.ndim;
  }
  return p;
}

void check_params(const FillRequest& r) {
  const int count = r.kind == DistKind::trunc_normal ? 4 : r.kind == DistKind::constant ? 1
                    : r.kind == DistKind::bits       ? 0 : 2;
  // constant_ stores an explicit infinity, as fill_ does (params.cpp checks the dtype has one)
  for (int i = 0; i < count; ++i)
    if (!std::isfinite(r.params[i]) && !(r.kind == DistKind::constant && std::isinf(r.params[i])))
      throw ValueError(tagged(r.fn, "parameters must be finite, got " + number(r.params[i])));
  const double* p = r.params;
  if (r.kind == DistKind::uniform && p[0] > p[1])
    throw ValueError(tagged(r.fn, "a must be <= b, got a=" + number(p[0]) + ", b=" + number(p[1])));
  if ((r.kind == DistKind::normal || r.kind == DistKind::trunc_normal) && !(p[1] >= 0))
    throw ValueError(tagged(r.fn, "std must be >= 0, got " + number(p[1])));
  if (r.kind == DistKind::trunc_normal && p[2] > p[3])
    throw ValueError(tagged(r.fn, "a must be <= b, got a=" + number(p[2]) + ", b=" + number(p[3])));
}

}  // namespace

bool make_job(const TensorView& v, const FillRequest& r, FillJob& job) {
  if (v.readonly) throw ValueError(tagged(r.fn, "the target is read-only"));
  if (v.ndim > kMaxDims) throw ValueError(tagged(r.fn, "at most 32 dims are supported"));
  if ((r.kind == DistKind::bits) != (v.dtype == DType::u32))
    throw DTypeError(tagged(r.fn, r.kind == DistKind::bits ? "the target must be a uint32 array"
                                                          : "uint32 targets are only for random_bits_"));
  check_params(r);
  if (r.kind == DistKind::constant) check_constant(v.dtype, r.params[0], r.fn);
  if (v.device != DeviceKind::cpu && v.device != DeviceKind::cuda)
    throw DeviceError(tagged(r.fn, "unsupported device"));

  job.plan = make_plan(v, r);
  if (job.plan.numel == 0) return false;
  job.dtype = v.dtype;
  job.kind = r.kind;
  job.key = r.key;
  job.stream = r.stream;
  FillRequest std0 = r;
  if (r.kind == DistKind::trunc_normal && r.params[1] == 0) {
    // std == 0: the distribution is a point mass at mean, clamped into [a, b].
    job.kind = DistKind::constant;
    std0.params[0] = std::min(std::max(r.params[0], r.params[2]), r.params[3]);
  }
  prepare_distribution(job, std0.params, r.fn);
  if (r.kind == DistKind::trunc_normal && job.kind == DistKind::constant) {
    job.lo = round_into(job.dtype, r.params[2], RoundDir::up);
    job.hi = round_into(job.dtype, r.params[3], RoundDir::down);
    if (!(job.lo <= job.hi))  // as with std > 0: clamping would leave [a, b]
      throw ValueError(tagged(r.fn, "the interval [a, b] holds no value representable in this dtype"));
  }
  if (v.device == DeviceKind::cuda && !cuda::available())
    throw DeviceError(tagged(r.fn, "CUDA tensor given, but no usable CUDA device (" +
                                       std::string("fastinit.cuda_available() is False)")));
  return true;
}

void run_fill(const TensorView& v, const FillRequest& r, const FillJob& job) {
  if (v.device == DeviceKind::cuda)
    cuda::fill(job, v.device_index, r.cuda_stream);
  else
    cpu::fill(job, r.torch_threads);
}

void fill(const TensorView& v, const FillRequest& r) {
  FillJob job;
  if (make_job(v, r, job)) run_fill(v, r, job);
}

void fill_grid_emulated(const TensorView& v, const FillRequest& r, GridEmulation& em) {
  if (v.device != DeviceKind::cpu)
    throw DeviceError(tagged(r.fn, "the grid emulation runs on host memory only"));
  if (em.sms < 1 || em.blocks_per_sm < 1)
    throw ValueError(tagged(r.fn, "sms and blocks_per_sm must be >= 1"));
  FillJob job;
  if (make_job(v, r, job)) testing::grid_emulate(job, em);
}

}  // namespace fastinit

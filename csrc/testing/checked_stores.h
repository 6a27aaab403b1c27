// A host sink for the CUDA mappings' proofs (grid_emulate.cpp, tile_emulate.cpp): it counts the
// writes to each element a plan spans and refuses a store outside it, a second write to an
// element, and a misaligned 16-byte store; check_complete then finds any element not written.
#pragma once
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "../core/grid_map.h"

namespace fastinit {
namespace testing {

// Element offsets (from data) a plan's elements span: [lo, hi].
inline void plan_span(const Plan& p, int64_t& lo, int64_t& hi) {
  lo = hi = 0;
  for (int k = 0; k < p.ndim; ++k) {
    const int64_t reach = (p.shape[k] - 1) * p.mstride[k];
    (reach < 0 ? lo : hi) += reach;
  }
}

class CheckedStores {
 public:
  // `who` begins each error message (the proof that failed).
  CheckedStores(const Plan& p, const char* who) : p_(p), who_(who) {
    plan_span(p, lo_, hi_);
    writes_.assign(size_t(hi_ - lo_ + 1), 0);
  }

  template <class T>
  void vector(T* at, const Vec16& v) {
    if (reinterpret_cast<uintptr_t>(at) % 16 != 0)
      throw std::logic_error(who_ + ": a 16-byte store to a misaligned address");
    for (int e = 0; e < VecOf<T>::kElems; ++e) mark(at + e);
    std::memcpy(at, &v, 16);
    ++vector_stores;
  }
  template <class T>
  void scalar(T* at, T x) {
    mark(at);
    std::memcpy(at, &x, sizeof(T));
    ++scalar_stores;
  }

  // After the launch: every element of the plan written exactly once, nothing else written.
  void check_complete() const {
    int64_t written = 0;
    for (uint8_t w : writes_) written += w;
    if (written != p_.numel)
      throw std::logic_error(who_ + ": " + std::to_string(written) + " stores for " +
                             std::to_string(p_.numel) + " elements");
    for (int64_t i = 0; i < p_.numel; ++i) {
      int64_t rem = i, off = 0;
      for (int k = p_.ndim - 1; k >= 0; --k) {
        off += (rem % p_.shape[k]) * p_.mstride[k];
        rem /= p_.shape[k];
      }
      if (writes_[size_t(off - lo_)] != 1)
        throw std::logic_error(who_ + ": element " + std::to_string(i) + " was not written");
    }
  }

  int64_t span_lo() const { return lo_; }
  int64_t span_size() const { return hi_ - lo_ + 1; }

  int64_t vector_stores = 0, scalar_stores = 0;

 private:
  template <class T>
  void mark(T* at) {
    const int64_t bytes = reinterpret_cast<char*>(at) - p_.data;
    const int64_t off = bytes / int64_t(sizeof(T));
    if (bytes % int64_t(sizeof(T)) != 0 || off < lo_ || off > hi_)
      throw std::logic_error(who_ + ": a store outside the target's elements");
    if (++writes_[size_t(off - lo_)] > 1)
      throw std::logic_error(who_ + ": element at offset " + std::to_string(off) +
                             " written twice");
  }

  const Plan& p_;
  std::string who_;
  int64_t lo_ = 0, hi_ = 0;
  std::vector<uint8_t> writes_;
};

}  // namespace testing
}  // namespace fastinit

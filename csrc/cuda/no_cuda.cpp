// Built when no CUDA compiler was found: CUDA targets get a clear error, never a crash.
#include "../dispatch.h"
#include "../errors.h"

namespace fastinit {
namespace cuda {

bool available() { return false; }

void fill(const FillJob&, int, void*) {
  throw DeviceError("fastinit: not built with CUDA (no CUDA compiler was found at build time)");
}

}  // namespace cuda
}  // namespace fastinit

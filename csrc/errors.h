// Typed errors; bindings map them to Python's ValueError / TypeError / RuntimeError.
// Messages start with the public function's name, e.g. "fastinit.normal_: std must be >= 0".
#pragma once
#include <stdexcept>
#include <string>

namespace fastinit {

struct ValueError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct DTypeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct DeviceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline std::string tagged(const char* fn, const std::string& what) {
  return std::string("fastinit.") + fn + ": " + what;
}

}  // namespace fastinit

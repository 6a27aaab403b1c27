// Typed errors; bindings map them to Python's ValueError / TypeError / RuntimeError.
// Messages start with the public function's name, e.g. "fastinit.normal_: std must be >= 0".
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>
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

// A number in a message as Python's repr() writes it: the fewest digits that read back as the
// same double, in exponent form below 1e-4 and from 1e16 (1e+39, 0.1, 1000000.0, -2.5e-07).
inline std::string number(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  char buf[40];
  for (int digits = 1; digits <= 17; ++digits) {  // "[-]d.ddde[+-]xx"
    std::snprintf(buf, sizeof buf, "%.*e", digits - 1, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  const std::string s = buf;
  const size_t e = s.find('e');
  const int exp10 = std::atoi(s.c_str() + e + 1);
  const bool minus = s[0] == '-';
  std::string mant;  // the significant digits, without the point
  for (size_t i = minus ? 1 : 0; i < e; ++i)
    if (s[i] != '.') mant += s[i];
  std::string out = minus ? "-" : "";
  if (exp10 < -4 || exp10 >= 16) {
    out += mant.substr(0, 1);
    if (mant.size() > 1) out += "." + mant.substr(1);
    char ex[8];
    std::snprintf(ex, sizeof ex, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    return out + ex;
  }
  if (exp10 < 0) return out + "0." + std::string(size_t(-exp10 - 1), '0') + mant;
  if (mant.size() <= size_t(exp10) + 1)
    return out + mant + std::string(size_t(exp10) + 1 - mant.size(), '0') + ".0";
  return out + mant.substr(0, size_t(exp10) + 1) + "." + mant.substr(size_t(exp10) + 1);
}

inline std::string tagged(const char* fn, const std::string& what) {
  return std::string("fastinit.") + fn + ": " + what;
}

}  // namespace fastinit

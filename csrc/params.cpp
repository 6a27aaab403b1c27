#include "params.h"

#include <cmath>
#include <limits>

#include "core/bits.h"
#include "errors.h"

namespace fastinit {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// 16-bit floats as sign-magnitude bit patterns: one step toward +inf or -inf.
uint16_t step16(uint16_t h, bool up) {
  const bool neg = h & 0x8000u;
  if ((h & 0x7FFFu) == 0) return up ? 0x0001u : 0x8001u;
  return uint16_t((neg == up) ? h - 1 : h + 1);
}

template <class ToDouble, class FromFloat>
double round16(double x, RoundDir dir, ToDouble to_d, FromFloat from_f) {
  uint16_t h = from_f(float(x));
  if (dir == RoundDir::up) {
    while (to_d(h) < x) h = step16(h, true);
  } else {
    while (to_d(h) > x || (dir == RoundDir::below && to_d(h) >= x)) h = step16(h, false);
  }
  return to_d(h);
}

double std_normal_cdf(double x) { return 0.5 * std::erfc(-x * 0.7071067811865476); }

bool is_narrow(DType d) { return d != DType::f64; }
double to_compute(DType d, double x) { return is_narrow(d) ? double(float(x)) : x; }

}  // namespace

double round_into(DType dtype, double x, RoundDir dir) {
  switch (dtype) {
    case DType::f64:
      return dir == RoundDir::below ? std::nextafter(x, -kInf) : x;
    case DType::f32: {
      float f = float(x);
      if (dir == RoundDir::up) {
        while (double(f) < x) f = std::nextafter(f, float(kInf));
      } else {
        while (double(f) > x || (dir == RoundDir::below && double(f) >= x))
          f = std::nextafter(f, -float(kInf));
      }
      return f;
    }
    case DType::bf16:
      return round16(x, dir, [](uint16_t h) { return double(f32_from_bf16(h)); }, bf16_from_f32);
    case DType::f16:
      return round16(x, dir, [](uint16_t h) { return double(f32_from_f16(h)); }, f16_from_f32);
    default:
      return x;
  }
}

void prepare_distribution(FillJob& job, const double* user, const char* fn) {
  const DType d = job.dtype;
  job.lo = -kInf;
  job.hi = kInf;
  switch (job.kind) {
    case DistKind::uniform: {
      const double a = user[0], b = user[1];
      job.p[0] = to_compute(d, a);
      job.p[1] = to_compute(d, b - a);
      job.lo = round_into(d, a, RoundDir::up);
      job.hi = a == b ? job.lo : round_into(d, b, RoundDir::below);
      if (job.lo > job.hi)
        throw ValueError(tagged(fn, "the interval [a, b) holds no value representable in this dtype"));
      break;
    }
    case DistKind::normal:
      job.p[0] = to_compute(d, user[0]);
      job.p[1] = to_compute(d, user[1]);
      break;
    case DistKind::trunc_normal: {
      const double mean = user[0], std = user[1], a = user[2], b = user[3];
      const double alpha = (a - mean) / std, beta = (b - mean) / std;
      const double mass_lo = std_normal_cdf(alpha), mass_hi = std_normal_cdf(-beta);
      double mass;
      if (beta <= 0) {
        mass = std_normal_cdf(beta) - mass_lo;
      } else if (alpha >= 0) {
        mass = std_normal_cdf(-alpha) - mass_hi;
      } else {
        mass = 1.0 - mass_lo - mass_hi;
      }
      // float keeps the tail-safe form exact down to masses of ~1e-30; below, compute in double.
      job.wide = is_narrow(d) && !(mass >= 1e-30);
      const DType ct = job.wide ? DType::f64 : d;
      const double p[5] = {mean, std, mass_lo, mass_hi, mass};
      for (int i = 0; i < 5; ++i) job.p[i] = to_compute(ct, p[i]);
      job.lo = round_into(d, a, RoundDir::up);
      job.hi = round_into(d, b, RoundDir::down);
      if (job.lo > job.hi)
        throw ValueError(tagged(fn, "the interval [a, b] holds no value representable in this dtype"));
      break;
    }
    case DistKind::constant:
      job.p[0] = to_compute(d, user[0]);
      break;
    case DistKind::bits:
      break;
  }
}

}  // namespace fastinit

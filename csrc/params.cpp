#include "params.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "core/bits.h"
#include "errors.h"

namespace fastinit {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Narrow floats as sign-magnitude bit patterns (sign = the top bit): one step toward +-inf.
uint32_t step_small(uint32_t h, uint32_t sign, bool up) {
  const bool neg = h & sign;
  if ((h & (sign - 1)) == 0) return up ? 1u : sign | 1u;
  return (neg == up) ? h - 1 : h + 1;
}

// double -> float with IEEE round-to-nearest also past float's range (a plain conversion of
// such values is undefined behaviour): from FLT_MAX + ulp/2 on, +-inf.
float to_float(double x) {
  if (std::fabs(x) >= 3.4028235677973366e38) return float(std::copysign(kInf, x));
  return float(x);
}

// Round x into a narrow float format; NaN (e.g. past float8 e4m3fn's 448) stops the walk and is
// returned, which the caller reports as "no representable value".
template <class ToDouble, class FromFloat>
double round_small(double x, RoundDir dir, uint32_t sign, ToDouble to_d, FromFloat from_f) {
  uint32_t h = from_f(to_float(x));
  if (dir == RoundDir::up) {
    while (to_d(h) < x) h = step_small(h, sign, true);
  } else {
    while (to_d(h) > x || (dir == RoundDir::below && to_d(h) >= x)) h = step_small(h, sign, false);
  }
  return to_d(h);
}

double std_normal_cdf(double x) { return 0.5 * std::erfc(-x * 0.7071067811865476); }

bool is_narrow(DType d) { return d != DType::f64; }
// Rounds to the float32 compute type; out-of-range values become +-inf explicitly (a plain
// double -> float conversion of them is undefined behaviour, and g++ folded it away).
double to_compute(DType d, double x) {
  if (!is_narrow(d)) return x;
  return double(to_float(x));
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::f16: return "float16";
    case DType::bf16: return "bfloat16";
    case DType::f8e4m3fn: return "float8_e4m3fn";
    case DType::f8e5m2: return "float8_e5m2";
    default: return "uint32";
  }
}

// x rounds to a finite value of `d` (float8_e4m3fn, which has no infinity: without saturating).
bool finite_in(DType d, double x) {
  if (d == DType::f64) return true;  // the caller passes finite doubles
  const float f = to_float(x);
  if (std::isinf(f)) return false;  // rounds past FLT_MAX
  switch (d) {
    case DType::bf16: return std::isfinite(f32_from_bf16(bf16_from_f32(f)));
    case DType::f16: return std::isfinite(f32_from_f16(f16_from_f32(f)));
    case DType::f8e4m3fn: return std::fabs(f) < 464.0f;  // from 464 up it saturates to 448
    case DType::f8e5m2: return std::isfinite(f32_from_f8e5m2(f8e5m2_from_f32(f)));
    default: return true;
  }
}

double max_finite(DType d) {
  switch (d) {
    case DType::f64: return std::numeric_limits<double>::max();
    case DType::f16: return 65504.0;
    case DType::bf16: return 3.3895313892515355e38;
    case DType::f8e4m3fn: return 448.0;
    case DType::f8e5m2: return 57344.0;
    default: return std::numeric_limits<float>::max();
  }
}

// A mean or std the dtype cannot hold makes values inf, or NaN (inf - inf), whose bits differ
// between CPU and GPU: refused, naming the parameter and the dtype.
void check_in_range(DType d, const char* fn, const char* name, double x) {
  if (!finite_in(d, x))
    throw ValueError(tagged(fn, std::string(name) + "=" + number(x) + " is out of " +
                                    dtype_name(d) + "'s range (the fill would hold inf or NaN)"));
}

}  // namespace

double round_into(DType dtype, double x, RoundDir dir) {
  switch (dtype) {
    case DType::f64:
      return dir == RoundDir::below ? std::nextafter(x, -kInf) : x;
    case DType::f32: {
      float f = to_float(x);
      if (dir == RoundDir::up) {
        while (double(f) < x) f = std::nextafter(f, float(kInf));
      } else {
        while (double(f) > x || (dir == RoundDir::below && double(f) >= x))
          f = std::nextafter(f, -float(kInf));
      }
      return f;
    }
    case DType::bf16:
      return round_small(x, dir, 0x8000u, [](uint32_t h) { return double(f32_from_bf16(uint16_t(h))); },
                         bf16_from_f32);
    case DType::f16:
      return round_small(x, dir, 0x8000u, [](uint32_t h) { return double(f32_from_f16(uint16_t(h))); },
                         f16_from_f32);
    case DType::f8e4m3fn:
      return round_small(x, dir, 0x80u, [](uint32_t h) { return double(f32_from_f8e4m3fn(uint8_t(h))); },
                         f8e4m3fn_from_f32);
    case DType::f8e5m2:
      return round_small(x, dir, 0x80u, [](uint32_t h) { return double(f32_from_f8e5m2(uint8_t(h))); },
                         f8e5m2_from_f32);
    default:
      return x;
  }
}

void check_constant(DType d, double value, const char* fn) {
  // As fill_ (c10's overflow check): a finite value past the dtype's largest finite one
  // would be stored as inf (float8_e4m3fn: saturated to 448), so it is refused; an infinity
  // is stored where the dtype has one.
  const bool has_inf = d != DType::f8e4m3fn;
  if (std::isinf(value) ? has_inf : std::fabs(value) <= max_finite(d)) return;
  char text[160];
  std::snprintf(text, sizeof text, "val=%g cannot be converted to %s without overflow (its "
                "largest finite value is %g%s)", value, dtype_name(d), max_finite(d),
                has_inf ? "" : "; it has no infinity");
  throw ValueError(tagged(fn, text));
}

void prepare_distribution(FillJob& job, const double* user, const char* fn) {
  const DType d = job.dtype;
  job.lo = -kInf;
  job.hi = kInf;
  switch (job.kind) {
    case DistKind::uniform: {
      const double a = user[0], b = user[1];
      // An interval reaching past the dtype's finite values would pile them up at its largest
      // one (float16 on [0, 1e6)): refused, as torch.nn.init refuses it.
      check_in_range(d, fn, "a", a);
      check_in_range(d, fn, "b", b);
      job.p[0] = to_compute(d, a);
      job.p[1] = to_compute(d, b - a);
      if (!std::isfinite(job.p[1]))
        throw ValueError(tagged(fn, "b - a overflows the dtype's compute type"));
      job.lo = round_into(d, a, RoundDir::up);
      job.hi = a == b ? round_into(d, a, RoundDir::down) : round_into(d, b, RoundDir::below);
      if (!(job.lo <= job.hi))  // a == b: only an a the dtype holds exactly lies in [a, a]
        throw ValueError(tagged(fn, a == b ? "the interval [a, a] holds no value representable "
                                             "in this dtype (a == b must be one of its values)"
                                           : "the interval [a, b) holds no value representable "
                                             "in this dtype"));
      if (a == b) {  // every value is lo, sign of zero included (a = -0.0 gives -0.0)
        job.kind = DistKind::constant;
        job.p[0] = job.lo;
      }
      break;
    }
    case DistKind::normal: {
      check_in_range(d, fn, "mean", user[0]);
      check_in_range(d, fn, "std", user[1]);
      // The largest |z| the engine makes: Phi^-1(2^-33) = 6.338 in float32, Phi^-1(2^-54) =
      // 8.292 in float64. A mean and std that can reach past the dtype would store inf.
      const double zmax = is_narrow(d) ? 6.4 : 8.3;
      const double reach = std::fabs(user[0]) + zmax * user[1];
      if (!std::isfinite(reach) || !finite_in(d, reach))
        throw ValueError(tagged(fn, "mean and std reach |mean| + " + number(zmax) +
                                        " std = " + number(reach) + ", out of " +
                                        dtype_name(d) + "'s range (the fill would hold inf)"));
      job.p[0] = to_compute(d, user[0]);
      job.p[1] = to_compute(d, user[1]);
      break;
    }
    case DistKind::trunc_normal: {
      const double mean = user[0], std = user[1], a = user[2], b = user[3];
      // Values are clamped into [a, b] before the dtype sees them: only the compute type
      // (float32 for the narrow dtypes) must hold mean and std.
      check_in_range(is_narrow(d) ? DType::f32 : d, fn, "mean", mean);
      check_in_range(is_narrow(d) ? DType::f32 : d, fn, "std", std);
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
      // The quantile starts from `base` (the cumulative mass below a, above b, or 1/2 when
      // the interval holds the mean) and moves by u * mass: r = mass / base is the share of
      // the compute type's bits left to tell positions apart. float keeps enough for r >=
      // 2^-3 (2^21 positions) and masses >= 1e-30; below, the same formula in double; and
      // where even double runs short the density is flat: the local form (distributions.h).
      const double base = beta <= 0 ? mass_lo : (alpha >= 0 ? mass_hi : 0.5);
      const double r = mass / base;
      job.local = r < (is_narrow(d) ? 0x1p-31 : 0x1p-28);
      job.wide = is_narrow(d) && !job.local && !(mass >= 1e-30 && r >= 0x1p-3);
      const DType ct = job.wide ? DType::f64 : d;
      if (job.local) {
        const double w = (b - a) / std;
        const double p[4] = {a, b - a, alpha * w / 2, w * w / 6};
        for (int i = 0; i < 4; ++i) job.p[i] = to_compute(ct, p[i]);
      } else {
        const double p[5] = {mean, std, mass_lo, mass_hi, mass};
        for (int i = 0; i < 5; ++i) job.p[i] = to_compute(ct, p[i]);
      }
      job.lo = round_into(d, a, RoundDir::up);
      job.hi = round_into(d, b, RoundDir::down);
      if (!(job.lo <= job.hi))
        throw ValueError(tagged(fn, "the interval [a, b] holds no value representable in this dtype"));
      // Mass past the dtype's largest finite value would pile up there when clamped (float16,
      // std 1e5 on [-1e6, 1e6]: most values at +-65504): refused unless negligible.
      const double big = max_finite(d);
      double cut = 0;
      if (a < -big) cut += std_normal_cdf((-big - mean) / std) - mass_lo;
      if (b > big) cut += std_normal_cdf((mean - big) / std) - mass_hi;
      if (cut > 0x1p-24 * mass)
        throw ValueError(tagged(fn, "[a, b] holds values past " + std::string(dtype_name(d)) +
                                        "'s largest (" + number(big) + ") with " +
                                        number(cut / mass) + " of the mass: they "
                                        "would pile up at the bound"));
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

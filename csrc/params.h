// Host-side preparation of a distribution: user parameters (double) -> the compute-type
// parameters and the dtype-exact bounds a backend clamps to. Same on every backend.
#pragma once
#include "fill_job.h"

namespace fastinit {

enum class RoundDir { up, down, below };  // >= x, <= x, < x

// The representable value of `dtype` nearest x in the given direction (as a double).
double round_into(DType dtype, double x, RoundDir dir);

// constant_'s value: refused (ValueError) where `dtype` would store it as inf, or saturate it.
void check_constant(DType dtype, double value, const char* fn);

// Fills job.p / lo / hi / wide from the user's parameters:
// uniform (a, b), normal (mean, std), trunc_normal (mean, std, a, b), constant (value).
void prepare_distribution(FillJob& job, const double* user, const char* fn);

}  // namespace fastinit

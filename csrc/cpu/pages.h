// Memory-side preparation of a CPU fill (see pages.cpp for the measurements behind it).
#pragma once
#include "../fill_job.h"

namespace fastinit {
namespace cpu {

// Before a fill: asks for huge pages on a large dense buffer (FASTINIT_HUGEPAGES=1), and
// returns whether the fill should use streaming (non-temporal) stores: larger than its cache
// share, and its pages already resident.
bool prepare_pages(const Plan& plan);

}  // namespace cpu
}  // namespace fastinit

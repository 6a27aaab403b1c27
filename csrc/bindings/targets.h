// Python objects -> TensorView, zero-copy: NumPy (and any buffer exporter) through the buffer
// protocol, torch / CuPy / JAX tensors through a DLPack capsule. Conversion only, no policy.
#pragma once
#include <pybind11/pybind11.h>

#include "../fill_job.h"

namespace fastinit {

// Holds whatever keeps the memory alive (a Py_buffer or the capsule) while the fill runs.
struct BoundTarget {
  TensorView view;
  pybind11::object owner;
  std::unique_ptr<pybind11::buffer_info> buffer;
};

// `dtype_override` >= 0 reinterprets a 16-bit buffer as that DType (bfloat16 from ml_dtypes).
BoundTarget bind_target(pybind11::handle obj, int dtype_override, const char* fn);

}  // namespace fastinit

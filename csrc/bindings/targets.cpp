#include "targets.h"

#include <string>

#include "../errors.h"
#include "dlpack.h"

namespace py = pybind11;

namespace fastinit {
namespace {

DType dtype_from_format(const py::buffer_info& info, const char* fn) {
  const std::string& f = info.format;
  const char c = f.empty() ? '?' : f.back();  // skip byte-order prefixes such as '<' or '='
  if (c == 'f' && info.itemsize == 4) return DType::f32;
  if (c == 'd' && info.itemsize == 8) return DType::f64;
  if (c == 'e' && info.itemsize == 2) return DType::f16;
  if ((c == 'I' || c == 'L') && info.itemsize == 4) return DType::u32;
  throw DTypeError(tagged(fn, "unsupported dtype (buffer format '" + f +
                                  "'); expected float32, float64, float16 or bfloat16"));
}

DType dtype_from_dlpack(DLDataType t, const char* fn) {
  if (t.lanes == 1) {
    if (t.code == kDLFloat && t.bits == 32) return DType::f32;
    if (t.code == kDLFloat && t.bits == 64) return DType::f64;
    if (t.code == kDLFloat && t.bits == 16) return DType::f16;
    if (t.code == kDLBfloat && t.bits == 16) return DType::bf16;
    if (t.code == kDLUInt && t.bits == 32) return DType::u32;
  }
  const char* kind = t.code == kDLInt ? "int" : t.code == kDLUInt ? "uint" : t.code == kDLFloat ? "float" : "other";
  throw DTypeError(tagged(fn, std::string("unsupported dtype (") + kind + std::to_string(t.bits) +
                                  "); expected float32, float64, float16 or bfloat16"));
}

BoundTarget from_capsule(py::capsule cap, int dtype_override, const char* fn) {
  if (std::string(cap.name() ? cap.name() : "") != "dltensor")
    throw ValueError(tagged(fn, "expected an unconsumed DLPack capsule"));
  auto* mt = static_cast<DLManagedTensor*>(cap.get_pointer());
  const DLTensor& t = mt->dl_tensor;
  BoundTarget b;
  b.owner = cap;  // unconsumed: the producer's capsule destructor releases it after the fill
  TensorView& v = b.view;
  // An override reinterprets same-width unsigned data (float8 / bfloat16 exported as uint8/16).
  v.dtype = dtype_override >= 0 ? DType(dtype_override) : dtype_from_dlpack(t.dtype, fn);
  if (t.device.device_type == kDLCPU || t.device.device_type == kDLCUDAHost) {
    v.device = DeviceKind::cpu;
  } else if (t.device.device_type == kDLCUDA || t.device.device_type == kDLCUDAManaged) {
    v.device = DeviceKind::cuda;
  } else {
    throw DeviceError(tagged(fn, "unsupported device (DLPack device type " +
                                     std::to_string(t.device.device_type) + "); cpu and cuda are supported"));
  }
  v.device_index = t.device.device_id;
  if (t.ndim > kMaxDims) throw ValueError(tagged(fn, "at most 32 dims are supported"));
  v.ndim = t.ndim;
  int64_t compact = 1;
  for (int k = t.ndim - 1; k >= 0; --k) {
    v.shape[k] = t.shape[k];
    v.strides[k] = t.strides ? t.strides[k] : compact;
    compact *= t.shape[k];
  }
  v.data = static_cast<char*>(t.data) + t.byte_offset;
  return b;
}

}  // namespace

BoundTarget bind_target(py::handle obj, int dtype_override, const char* fn) {
  if (py::isinstance<py::capsule>(obj)) return from_capsule(py::reinterpret_borrow<py::capsule>(obj), dtype_override, fn);
  if (!PyObject_CheckBuffer(obj.ptr()))
    throw DTypeError(tagged(fn, "expected a NumPy array, a torch tensor or a DLPack capsule, got " +
                                    std::string(py::str(py::type::handle_of(obj).attr("__name__")))));
  BoundTarget b;
  b.owner = py::reinterpret_borrow<py::object>(obj);
  b.buffer = std::make_unique<py::buffer_info>(py::reinterpret_borrow<py::buffer>(obj).request(false));
  const py::buffer_info& info = *b.buffer;
  TensorView& v = b.view;
  v.dtype = dtype_override >= 0 ? DType(dtype_override) : dtype_from_format(info, fn);
  v.readonly = info.readonly;
  if (info.ndim > kMaxDims) throw ValueError(tagged(fn, "at most 32 dims are supported"));
  v.ndim = int(info.ndim);
  for (int k = 0; k < v.ndim; ++k) {
    if (info.strides[k] % info.itemsize != 0)
      throw ValueError(tagged(fn, "strides must be multiples of the element size"));
    v.shape[k] = info.shape[k];
    v.strides[k] = info.strides[k] / info.itemsize;
  }
  v.data = info.ptr;
  return b;
}

}  // namespace fastinit

#include "targets.h"

#include <string>

#include "../errors.h"
#include "dlpack.h"

namespace py = pybind11;

namespace fastinit {
namespace {

constexpr bool kLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

DType dtype_from_format(const py::buffer_info& info, const char* fn) {
  const std::string& f = info.format;
  const char order = f.empty() ? '@' : f.front();  // '@', '=', '<', '>' or '!' (or none)
  if (((order == '>' || order == '!') && kLittleEndian) || (order == '<' && !kLittleEndian))
    throw DTypeError(
        tagged(fn, "byte order of buffer format '" + f + "' is not supported (native order only)"));
  const char c = f.empty() ? '?' : f.back();  // the type code after any byte-order prefix
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
    if (t.code == kDLFloat8_e4m3fn && t.bits == 8) return DType::f8e4m3fn;
    if (t.code == kDLFloat8_e5m2 && t.bits == 8) return DType::f8e5m2;
  }
  static const char* const names[] = {
      "int", "uint", "float", "handle", "bfloat", "complex", "bool", "float8_e3m4",
      "float8_e4m3", "float8_e4m3b11fnuz", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2",
      "float8_e5m2fnuz", "float8_e8m0fnu", "float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn"};
  std::string name = t.code < sizeof(names) / sizeof(names[0])
                         ? std::string(names[t.code]) : "DLPack type code " + std::to_string(t.code);
  if (t.code <= kDLComplex) name += std::to_string(t.bits);
  if (t.lanes != 1) name += " x" + std::to_string(t.lanes) + " lanes";
  throw DTypeError(tagged(fn, "unsupported dtype (" + name + "); expected float32, float64, "
                                  "float16, bfloat16, float8_e4m3fn or float8_e5m2"));
}

// The tensor a capsule describes; a versioned one must be writable memory of the producer's
// own (not a copy, where a fill would be lost).
const DLTensor& capsule_tensor(py::capsule cap, const char* fn) {
  const std::string name = cap.name() ? cap.name() : "";
  if (name == "dltensor") return static_cast<DLManagedTensor*>(cap.get_pointer())->dl_tensor;
  if (name != "dltensor_versioned") throw ValueError(tagged(fn, "expected an unconsumed DLPack capsule"));
  const auto* mt = static_cast<DLManagedTensorVersioned*>(cap.get_pointer());
  if (mt->version.major != 1)
    throw ValueError(tagged(fn, "DLPack version " + std::to_string(mt->version.major) + "." +
                                    std::to_string(mt->version.minor) + " is not supported (1.x is)"));
  if (mt->flags & DLPACK_FLAG_BITMASK_READ_ONLY) throw ValueError(tagged(fn, "the target is read-only"));
  if (mt->flags & DLPACK_FLAG_BITMASK_IS_COPIED)
    throw ValueError(tagged(fn, "the DLPack producer exported a copy; a fill would not reach the target"));
  return mt->dl_tensor;
}

BoundTarget from_capsule(py::capsule cap, int dtype_override, const char* fn) {
  const DLTensor& t = capsule_tensor(cap, fn);
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

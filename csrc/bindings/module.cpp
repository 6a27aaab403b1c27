// pybind11 module fastinit._core: argument conversion and exception registration only.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdlib>

#include "../core/philox.h"
#include "../cpu/isa_request.h"
#include "../cpu/pool.h"
#include "../cpu/split.h"
#include "../cpu/threads.h"
#include "../dispatch.h"
#include "../errors.h"
#include "../testing/tile_emulate.h"
#include "targets.h"

namespace py = pybind11;
using namespace fastinit;

namespace {

// Fills smaller than this (a few microseconds of work) keep the GIL: releasing and taking it
// back costs more than other Python threads would gain.
constexpr int64_t kKeepGil = 1 << 14;

// The public function's name; the str (held by the caller) owns the UTF-8 bytes.
const char* name_of(py::handle fn) {
  const char* name = PyUnicode_AsUTF8(fn.ptr());
  if (name == nullptr) throw py::error_already_set();
  return name;
}

// global_shape / global_offset: an empty list, the common case, costs no conversion.
std::vector<int64_t> dims_of(py::handle seq) {
  if (PyList_Check(seq.ptr()) && PyList_GET_SIZE(seq.ptr()) == 0) return {};
  return seq.cast<std::vector<int64_t>>();
}

// Arguments arrive as handles and are converted here: pybind11's own conversion of a str, a
// list of floats and two lists was about 1 us of a 2 us fill call.
FillRequest request(py::handle fn, int kind, py::handle params, uint64_t key, uint64_t stream,
                    py::handle global_shape, py::handle global_offset, uint64_t index_offset) {
  FillRequest req;
  req.fn = name_of(fn);
  req.kind = DistKind(kind);
  const auto values = py::reinterpret_borrow<py::sequence>(params);
  const size_t count = std::min<size_t>(values.size(), 4);
  for (size_t i = 0; i < count; ++i) req.params[i] = values[i].cast<double>();
  req.key = key;
  req.stream = stream;
  req.global_shape = dims_of(global_shape);
  req.global_offset = dims_of(global_offset);
  req.index_offset = index_offset;
  return req;
}

// torch.get_num_threads() where torch is loaded, else 0: the default thread count follows it.
// Anything else under the name (None, which blocks the import; a stand-in module) counts as
// no torch.
int torch_threads() {
  PyObject* torch = PyDict_GetItemString(PyImport_GetModuleDict(), "torch");  // borrowed
  if (torch == nullptr || torch == Py_None) return 0;
  PyObject* count = PyObject_CallMethod(torch, "get_num_threads", nullptr);
  const long n = count != nullptr && PyLong_Check(count) ? PyLong_AsLong(count) : 0;
  Py_XDECREF(count);
  if (PyErr_Occurred()) PyErr_Clear();
  return n > 0 && n < (1L << 30) ? int(n) : 0;
}

// Only a CPU fill large enough to be split asks torch (a Python call).
int torch_threads_for(const TensorView& v, const FillJob& job) {
  if (v.device != DeviceKind::cpu) return 0;
  return cpu::may_use_threads(job.plan.numel) ? torch_threads() : 0;
}

// key_source, when not None, is called once the request has passed every check and returns
// (key, stream): a generator is drawn from only for a fill that will happen, in one call.
void fill_py(py::handle target, py::handle fn, int kind, py::handle params, uint64_t key,
             uint64_t stream, py::handle global_shape, py::handle global_offset,
             uint64_t index_offset, int dtype_override, uintptr_t cuda_stream,
             py::handle key_source) {
  BoundTarget bound = bind_target(target, dtype_override, name_of(fn));
  FillRequest req = request(fn, kind, params, key, stream, global_shape, global_offset,
                            index_offset);
  req.cuda_stream = reinterpret_cast<void*>(cuda_stream);
  FillJob job;
  if (!make_job(bound.view, req, job)) return;
  if (!key_source.is_none()) {
    const auto drawn = key_source().cast<std::pair<uint64_t, uint64_t>>();
    job.key = drawn.first;
    job.stream = drawn.second;
  }
  req.torch_threads = torch_threads_for(bound.view, job);
  if (job.plan.numel < kKeepGil) return run_fill(bound.view, req, job);
  py::gil_scoped_release nogil;
  run_fill(bound.view, req, job);
}

// Tests and benchmarks: (threads, elements per task) of the CPU fill these arguments ask for.
py::tuple split_py(py::handle target, py::handle fn, int kind, py::handle params) {
  BoundTarget bound = bind_target(target, -1, name_of(fn));
  const py::list none;
  const FillRequest req = request(fn, kind, params, 0, 0, none, none, 0);
  FillJob job;
  if (!make_job(bound.view, req, job)) return py::make_tuple(0, 0);
  const cpu::Split s = cpu::split_of(job, torch_threads_for(bound.view, job));
  return py::make_tuple(s.threads, s.task_elements);
}

// Tests: the CUDA kernel's thread mapping run on the host over a CPU target (dispatch.h).
py::dict grid_emulate_py(py::handle target, py::handle fn, int kind, py::handle params,
                         uint64_t key, uint64_t stream, py::handle global_shape,
                         py::handle global_offset, uint64_t index_offset, int dtype_override,
                         int sms, int blocks_per_sm, int fault) {
  BoundTarget bound = bind_target(target, dtype_override, name_of(fn));
  const FillRequest req = request(fn, kind, params, key, stream, global_shape, global_offset,
                                  index_offset);
  GridEmulation em;
  em.sms = sms;
  em.blocks_per_sm = blocks_per_sm;
  em.fault = fault;
  {
    py::gil_scoped_release nogil;
    fill_grid_emulated(bound.view, req, em);
  }
  py::dict out;
  out["blocks"] = em.blocks;
  out["tiles"] = em.tiles;
  out["tile_groups"] = em.tile_groups;
  out["vector_stores"] = em.vector_stores;
  out["scalar_stores"] = em.scalar_stores;
  return out;
}

// Tests: the tiled CUDA path's mapping run on the host (testing/tile_emulate.h).
py::dict tile_emulate_py(py::handle target, py::handle fn, int kind, py::handle params,
                         uint64_t key, uint64_t stream, py::handle global_shape,
                         py::handle global_offset, uint64_t index_offset, int dtype_override,
                         int64_t tile_m, int64_t tile_l, int ctas, int threads, int fault) {
  BoundTarget bound = bind_target(target, dtype_override, name_of(fn));
  const FillRequest req = request(fn, kind, params, key, stream, global_shape, global_offset,
                                  index_offset);
  testing::TileEmulation em;
  em.tile_m = tile_m;
  em.tile_l = tile_l;
  em.ctas = ctas;
  em.threads = threads;
  em.fault = fault;
  {
    py::gil_scoped_release nogil;
    testing::fill_tile_emulated(bound.view, req, em);
  }
  py::dict out;
  out["usable"] = em.usable;
  for (auto [name, value] : {std::pair<const char*, int64_t>{"mdim", em.mdim}, {"ldim", em.ldim},
                             {"m_extent", em.m_extent}, {"row_extent", em.row_extent},
                             {"tiles", em.tiles}, {"partial_tiles", em.partial_tiles},
                             {"tile_rows", em.tile_rows}, {"philox_blocks", em.philox_blocks},
                             {"words_used", em.words_used}, {"warp_stores", em.warp_stores},
                             {"partial_warp_stores", em.partial_warp_stores},
                             {"span_lo", em.span_lo}})
    out[name] = value;
  out["block"] = py::array_t<uint64_t>(py::ssize_t(em.block.size()), em.block.data());
  out["word"] = py::array_t<int8_t>(py::ssize_t(em.word.size()), em.word.data());
  return out;
}

py::array_t<uint32_t> philox_py(py::array_t<uint32_t, py::array::c_style | py::array::forcecast> ctr,
                                py::array_t<uint32_t, py::array::c_style | py::array::forcecast> keys) {
  if (ctr.ndim() != 2 || ctr.shape(1) != 4 || keys.ndim() != 2 || keys.shape(1) != 2 ||
      keys.shape(0) != ctr.shape(0))
    throw ValueError("fastinit.philox4x32_10: expected counters of shape (n, 4) and keys of shape (n, 2)");
  const auto n = ctr.shape(0);
  py::array_t<uint32_t> out({n, py::ssize_t(4)});
  const uint32_t* c = ctr.data();
  const uint32_t* k = keys.data();
  uint32_t* o = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    for (py::ssize_t i = 0; i < n; ++i) {
      const Block4 b = philox4x32_10(c[4 * i], c[4 * i + 1], c[4 * i + 2], c[4 * i + 3], k[2 * i], k[2 * i + 1]);
      for (int l = 0; l < 4; ++l) o[4 * i + l] = b.w[l];
    }
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastinit compiled core (use the fastinit package, not this module)";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const DTypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const DeviceError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
  m.def("fill", &fill_py, py::arg("target"), py::arg("fn"), py::arg("kind"), py::arg("params"),
        py::arg("key"), py::arg("stream"), py::arg("global_shape"), py::arg("global_offset"),
        py::arg("index_offset") = 0, py::arg("dtype_override") = -1, py::arg("cuda_stream") = 0,
        py::arg("key_source") = py::none());
  m.def("grid_emulate", &grid_emulate_py, py::arg("target"), py::arg("fn"), py::arg("kind"),
        py::arg("params"), py::arg("key"), py::arg("stream"), py::arg("global_shape"),
        py::arg("global_offset"), py::arg("index_offset") = 0, py::arg("dtype_override") = -1,
        py::arg("sms") = 132, py::arg("blocks_per_sm") = 4, py::arg("fault") = 0);
  m.def("tile_emulate", &tile_emulate_py, py::arg("target"), py::arg("fn"), py::arg("kind"),
        py::arg("params"), py::arg("key"), py::arg("stream"), py::arg("global_shape"),
        py::arg("global_offset"), py::arg("index_offset") = 0, py::arg("dtype_override") = -1,
        py::arg("tile_m") = 32, py::arg("tile_l") = 32, py::arg("ctas") = 4,
        py::arg("threads") = 256, py::arg("fault") = 0);
  m.def("philox4x32_10", &philox_py, py::arg("counters"), py::arg("keys"));
  m.def("cpu_isa", &cpu::isa_name);
  m.def("isa_request_note", &cpu::isa_request_note, py::arg("value"), py::arg("running"));
  // FASTINIT_ISA is checked at import: an unknown value fails the import with its one line; a
  // build the processor lacks is a RuntimeWarning naming the one that runs.
  const std::string note = cpu::isa_request_note(std::getenv("FASTINIT_ISA"), cpu::isa_name());
  if (!note.empty() && PyErr_WarnEx(PyExc_RuntimeWarning, note.c_str(), 1) != 0)
    throw py::error_already_set();
  m.def("set_num_threads", &cpu::set_num_threads);
  m.def("get_num_threads", [] { return cpu::get_num_threads(torch_threads()); });
  m.def("max_threads", &cpu::max_threads);
  m.def("clear_num_threads", &cpu::clear_num_threads);
  m.def("set_thread_limit", &cpu::set_thread_limit, py::arg("n"));
  m.def("thread_limit", &cpu::thread_limit);
  m.def("set_grain_scale", &cpu::set_grain_scale, py::arg("scale"));
  m.def("grain_scale", &cpu::grain_scale);
  m.def("pool_workers", &cpu::pool_workers);
  m.def("split", &split_py, py::arg("target"), py::arg("fn"), py::arg("kind"), py::arg("params"));
  m.def("set_worker_delay_us", &cpu::set_worker_delay_us, py::arg("us"),
        py::arg("holding_task") = false);
  m.def("pool_backing_off", &cpu::pool_backing_off);
  m.def(
      "memory_overlaps",
      [](const std::vector<int64_t>& shape, const std::vector<int64_t>& strides, int64_t itemsize) {
        if (shape.size() != strides.size() || itemsize < 1)
          throw ValueError("fastinit.memory_overlaps: shape and strides differ in length");
        return memory_overlaps(int(shape.size()), shape.data(), strides.data(), itemsize);
      },
      py::arg("shape"), py::arg("strides"), py::arg("itemsize"));
  m.def("cuda_available", &cuda::available);
#ifdef FI_WITH_CUDA
  m.attr("built_with_cuda") = true;
#else
  m.attr("built_with_cuda") = false;
#endif
  m.attr("KIND_UNIFORM") = int(DistKind::uniform);
  m.attr("KIND_NORMAL") = int(DistKind::normal);
  m.attr("KIND_TRUNC_NORMAL") = int(DistKind::trunc_normal);
  m.attr("KIND_CONSTANT") = int(DistKind::constant);
  m.attr("KIND_BITS") = int(DistKind::bits);
  m.attr("DTYPE_BF16") = int(DType::bf16);
  m.attr("DTYPE_F8E4M3FN") = int(DType::f8e4m3fn);
  m.attr("DTYPE_F8E5M2") = int(DType::f8e5m2);
}

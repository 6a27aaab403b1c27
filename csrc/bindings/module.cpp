// pybind11 module fastinit._core: argument conversion and exception registration only.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdlib>

#include "../core/philox.h"
#include "../cpu/isa_request.h"
#include "../dispatch.h"
#include "../errors.h"
#include "../testing/tile_emulate.h"
#include "targets.h"

namespace py = pybind11;
using namespace fastinit;

namespace {

FillRequest request(const std::string& fn, int kind, const std::vector<double>& params,
                    uint64_t key, uint64_t stream, std::vector<int64_t> global_shape,
                    std::vector<int64_t> global_offset, uint64_t index_offset) {
  FillRequest req;
  req.fn = fn.c_str();
  req.kind = DistKind(kind);
  for (size_t i = 0; i < params.size() && i < 4; ++i) req.params[i] = params[i];
  req.key = key;
  req.stream = stream;
  req.global_shape = std::move(global_shape);
  req.global_offset = std::move(global_offset);
  req.index_offset = index_offset;
  return req;
}

void fill_py(py::handle target, const std::string& fn, int kind, std::vector<double> params,
             uint64_t key, uint64_t stream, std::vector<int64_t> global_shape,
             std::vector<int64_t> global_offset, uint64_t index_offset, int dtype_override,
             uintptr_t cuda_stream, bool check_only) {
  BoundTarget bound = bind_target(target, dtype_override, fn.c_str());
  FillRequest req = request(fn, kind, params, key, stream, std::move(global_shape),
                            std::move(global_offset), index_offset);
  req.cuda_stream = reinterpret_cast<void*>(cuda_stream);
  req.check_only = check_only;
  py::gil_scoped_release nogil;
  fill(bound.view, req);
}

// Tests: the CUDA kernel's thread mapping run on the host over a CPU target (dispatch.h).
py::dict grid_emulate_py(py::handle target, const std::string& fn, int kind,
                         std::vector<double> params, uint64_t key, uint64_t stream,
                         std::vector<int64_t> global_shape, std::vector<int64_t> global_offset,
                         uint64_t index_offset, int dtype_override, int sms, int blocks_per_sm,
                         int fault) {
  BoundTarget bound = bind_target(target, dtype_override, fn.c_str());
  const FillRequest req = request(fn, kind, params, key, stream, std::move(global_shape),
                                  std::move(global_offset), index_offset);
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
py::dict tile_emulate_py(py::handle target, const std::string& fn, int kind,
                         std::vector<double> params, uint64_t key, uint64_t stream,
                         std::vector<int64_t> global_shape, std::vector<int64_t> global_offset,
                         uint64_t index_offset, int dtype_override, int64_t tile_m, int64_t tile_l,
                         int ctas, int threads, int fault) {
  BoundTarget bound = bind_target(target, dtype_override, fn.c_str());
  const FillRequest req = request(fn, kind, params, key, stream, std::move(global_shape),
                                  std::move(global_offset), index_offset);
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
        py::arg("check_only") = false);
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
  m.def("get_num_threads", &cpu::get_num_threads);
  m.def("max_threads", &cpu::max_threads);
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

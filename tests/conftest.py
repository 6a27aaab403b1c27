"""Shared helpers for the fastinit tests (plain functions and constants; no autouse fixtures).

Import them in a test module with ``from conftest import ...`` (pytest puts tests/ on sys.path).

* ``KINDS``, ``RANDOM_KINDS``, ``DEFAULT_PARAMS``: distribution names as ``_reference`` spells
  them, and a parameter tuple for each (the positional arguments after the tensor).
* ``NUMPY_DTYPES``, ``TORCH_DTYPES``, ``TARGETS``: the float dtypes each library can hold, and
  every ``(lib, dtype)`` pair as ``pytest.param`` with an id such as ``"torch-bfloat16"``.
* ``requires_torch``: a skip marker for tests that need torch; inside a test, prefer
  ``pytest.importorskip("torch")`` (``empty_target(..., lib="torch")`` does that for you).
* ``empty_target(lib, dtype, shape)``: a NaN-filled NumPy array or torch tensor (NaN is never a
  fill result, so elements a fill forgot to write show up).
* ``fill(kind, target, params, seed=..., **placement)``: calls the matching ``fastinit`` fill.
* ``as_bits(x)``: a NumPy unsigned-integer copy of the raw bits of an array or tensor (torch
  bfloat16 included), for bit-exact comparison.
* ``reference_bits(...)``: ``_reference.fill_like`` as raw bits.
* ``assert_bits_equal(got, expected, what)``: bit equality with a readable failure message.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import pytest

import fastinit
from fastinit import _core
from fastinit._engine import _reference
from fastinit._engine._targets import prepare

try:  # torch is optional: tests that need it are skipped without it
    import torch as _torch  # noqa: F401
    HAS_TORCH = True
except ImportError:
    HAS_TORCH = False


def _torchvision_without_its_cpp_ops() -> None:
    """Let torchvision's Python part import when its C++ ops cannot load.

    PyPI's torchvision 0.28 (the release paired with torch 2.13, which timm needs) is built
    against CUDA torch: on the CPU torch its ``_C`` library fails to load, and torchvision's
    import then stops at registering fake kernels for two ops that were never defined, which
    also breaks transformers (it imports torchvision when it is installed). Defining those two
    op schemas (no kernels: calling them still fails) lets the import finish; timm's models
    and transformers use none of torchvision's C++ ops.
    """
    import importlib.util  # noqa: PLC0415
    import sys  # noqa: PLC0415

    if not HAS_TORCH or importlib.util.find_spec("torchvision") is None:
        return
    try:
        import torchvision  # noqa: F401, PLC0415
        return
    except RuntimeError as e:
        if "torchvision::nms does not exist" not in str(e):
            raise
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]
    lib = _torch.library.Library("torchvision", "DEF")  # kept alive below: it holds the ops
    for op in ("nms", "qnms"):
        lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _TORCHVISION_LIBS.append(lib)
    import torchvision  # noqa: F401, PLC0415
    print("conftest: torchvision imported without its C++ ops (a CUDA build on CPU torch)")


_TORCHVISION_LIBS: list = []
_torchvision_without_its_cpp_ops()
requires_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")

KINDS = ("uniform", "normal", "trunc_normal", "constant")
RANDOM_KINDS = ("uniform", "normal", "trunc_normal")
DEFAULT_PARAMS = {
    "uniform": (0.0, 1.0),
    "normal": (0.0, 1.0),
    "trunc_normal": (0.0, 1.0, -2.0, 2.0),
    "constant": (0.25,),
}
NUMPY_DTYPES = ("float16", "float32", "float64")
TORCH_DTYPES = ("float16", "bfloat16", "float32", "float64")
TARGETS = [pytest.param("numpy", d, id=f"numpy-{d}") for d in NUMPY_DTYPES] + [
    pytest.param("torch", d, id=f"torch-{d}", marks=requires_torch) for d in TORCH_DTYPES
]

FILL_FUNCTIONS = {
    "uniform": fastinit.uniform_,
    "normal": fastinit.normal_,
    "trunc_normal": fastinit.trunc_normal_,
    "constant": fastinit.constant_,
}

KIND_CODES = {"uniform": _core.KIND_UNIFORM, "normal": _core.KIND_NORMAL,
              "trunc_normal": _core.KIND_TRUNC_NORMAL, "constant": _core.KIND_CONSTANT}


def host_proof_args(kind: str, view: Any, global_shape: Optional[Sequence[int]] = None,
                    global_offset: Optional[Sequence[int]] = None) -> tuple:
    """What the host proofs of the CUDA mappings (``_core.grid_emulate``, ``tile_emulate``)
    take for a fill of ``kind`` over ``view``, as the fills pass it: (the prepared target, the
    function's name, the kind's code, global shape, global offset)."""
    fn = kind + "_"
    shape = [] if global_shape is None else list(global_shape)
    offset = [] if global_shape is None else list(global_offset or [0] * len(shape))
    return prepare(view, fn), fn, KIND_CODES[kind], shape, offset


def empty_target(lib: str, dtype: str, shape: Sequence[int]) -> Any:
    """A NaN-filled target: ``lib`` is "numpy" or "torch", ``dtype`` a name like "bfloat16"."""
    if lib == "torch":
        torch = pytest.importorskip("torch")
        return torch.full(tuple(shape), float("nan"), dtype=getattr(torch, dtype))
    if lib != "numpy":
        raise ValueError(f"unknown lib {lib!r}")
    return np.full(tuple(shape), np.nan, dtype=dtype)


def fill(kind: str, target: Any, params: Sequence[float], *, seed: int = 0,
         global_shape: Optional[Sequence[int]] = None,
         global_offset: Optional[Sequence[int]] = None) -> Any:
    """``fastinit.<kind>_(target, *params, seed=seed, ...)``; constant_ takes only the value."""
    fn = FILL_FUNCTIONS[kind]
    if kind == "constant":
        if global_shape is not None or global_offset is not None:
            raise ValueError("constant_ has no global_shape / global_offset")
        return fn(target, *params)
    return fn(target, *params, seed=seed, global_shape=global_shape, global_offset=global_offset)


def as_bits(x: Any) -> np.ndarray:
    """The raw bits of a NumPy array or torch tensor as a C-contiguous NumPy uintN copy.

    Works for every dtype (torch bfloat16 / float8 too) and for non-contiguous inputs; arrays
    that already hold unsigned integers (``_reference`` returns bfloat16 as uint16) are copied
    unchanged. Signed zeros and NaN payloads stay distinct, unlike ``==`` on floats.
    """
    if isinstance(x, np.ndarray):
        a = np.ascontiguousarray(x)
        return a.view(f"u{a.dtype.itemsize}").copy()
    torch = pytest.importorskip("torch")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"as_bits: expected an ndarray or a torch.Tensor, got {type(x).__name__}")
    t = x.detach().cpu().contiguous()
    size = t.element_size()
    same_width = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[size]
    return t.view(same_width).numpy().view(f"u{size}").copy()


def reference_bits(kind: str, dtype: str, params: Sequence[float], seed: int,
                   shape: Sequence[int], global_shape: Optional[Sequence[int]] = None,
                   global_offset: Optional[Sequence[int]] = None, stream: int = 0) -> np.ndarray:
    """The executable spec's values (``_reference.fill_like``) as raw bits, shaped ``shape``."""
    key = seed % (1 << 64)
    values = _reference.fill_like(kind, dtype, params, key, stream, list(shape), global_shape,
                                  global_offset)
    return as_bits(values)


def assert_bits_equal(got: Any, expected: Any, what: str = "") -> None:
    """Assert two arrays/tensors are bit-identical; on failure show the first differences."""
    g, e = as_bits(got), as_bits(expected)
    assert g.shape == e.shape, f"{what}: shape {g.shape} != expected {e.shape}"
    assert g.dtype.itemsize == e.dtype.itemsize, f"{what}: element width differs"
    bad = np.flatnonzero(g.ravel() != e.ravel())
    if bad.size:
        width = 2 * g.dtype.itemsize
        first = ", ".join(
            f"[{_position(i, g.shape)}] "
            f"got {int(g.ravel()[i]):0{width}x} expected {int(e.ravel()[i]):0{width}x}"
            for i in bad[:5]
        )
        raise AssertionError(f"{what}: {bad.size} of {g.size} elements differ; first: {first}")


def _position(flat: int, shape: tuple) -> str:
    return ", ".join(str(int(k)) for k in np.unravel_index(flat, shape)) if shape else "0"

"""Turn a user's tensor into something the compiled core can fill in place, zero-copy.

NumPy arrays go through the buffer protocol; torch tensors (and other DLPack producers) through
a DLPack capsule of a detached alias, so leaf tensors with requires_grad are filled in place as
torch.nn.init does under no_grad. Meta tensors are a no-op, as in torch.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, NamedTuple, Optional, Tuple

import numpy as np

from .. import _core

_FLOAT_NAMES = ("float32", "float64", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2")
# dtypes without a buffer-protocol / DLPack code everywhere: filled through a same-width
# unsigned view, with the real format passed alongside.
_VIEWED = {
    "bfloat16": ("uint16", _core.DTYPE_BF16),
    "float8_e4m3fn": ("uint8", _core.DTYPE_F8E4M3FN),
    "float8_e5m2": ("uint8", _core.DTYPE_F8E5M2),
}


class Target(NamedTuple):
    obj: Any  # numpy array or DLPack capsule
    dtype_override: int
    cuda_stream: int
    is_torch: bool


# A Target's fields as a plain tuple: what the fills use (building a NamedTuple cost 0.2 us
# of a 3 us fill).
Fields = Tuple[Any, int, int, bool]


def is_torch_tensor(t: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(t, torch.Tensor)


_increment_version: Any = None


def _version_bumper(torch: Any) -> Any:
    """torch.autograd.graph.increment_version, or the call it makes where that takes a tuple
    (torch >= 2.5; half the cost); nothing on a torch without either."""
    public = getattr(torch.autograd.graph, "increment_version", None)
    direct = getattr(torch._C, "_increment_version", None)
    if direct is not None:
        try:
            direct((torch.empty(0),))
            return lambda t: direct((t,))
        except TypeError:  # an older torch: one tensor, not a tuple
            pass
    return public or (lambda t: None)


def bump_version(t: Any) -> None:
    """Bump torch tensor t's version counter, as an in-place torch op would."""
    global _increment_version
    if _increment_version is None:
        _increment_version = _version_bumper(sys.modules["torch"])
    _increment_version(t)


# dtype -> its name, one table per library (NumPy's dtype.name is computed in Python on
# every access: 2 of the 8 us a small fill spent in Python).
_NAMES_TORCH: Dict[Any, str] = {}
_NAMES_NUMPY: Dict[Any, str] = {}


def dtype_name(t: Any) -> str:
    """'float32', 'bfloat16', 'float8_e4m3fn', ... for torch tensors and NumPy arrays."""
    dtype = t.dtype
    if is_torch_tensor(t):
        name = _NAMES_TORCH.get(dtype)
        if name is None:
            name = _NAMES_TORCH[dtype] = str(dtype).replace("torch.", "")
        return name
    name = _NAMES_NUMPY.get(dtype)
    if name is None:
        name = _NAMES_NUMPY[dtype] = dtype.name
    return name


def is_float_target(t: Any) -> bool:
    return (is_torch_tensor(t) or isinstance(t, np.ndarray)) and dtype_name(t) in _FLOAT_NAMES


def torch_floating_dtype(dtype: Any, fn: str) -> Any:
    """``dtype`` (a torch dtype or its name, e.g. "bfloat16") as a floating torch.dtype, or
    None; anything else is a ValueError naming ``fn``."""
    if dtype is None:
        return None
    torch = sys.modules["torch"]
    if isinstance(dtype, str):
        named = getattr(torch, dtype, None)
        if not isinstance(named, torch.dtype):
            raise ValueError(f"{fn}: unknown dtype {dtype!r}")
        dtype = named
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"{fn}: dtype must be a floating torch dtype, got {dtype!r}")
    return dtype


def _dtype_error(fn: str, dtype: Any) -> TypeError:
    return TypeError(
        f"fastinit.{fn}: dtype {dtype} is not supported; expected float32, float64, "
        "float16, bfloat16, float8_e4m3fn or float8_e5m2"
    )


def prepare(t: Any, fn: str, *, bits: bool = False) -> Optional[Target]:
    """Check the target and wrap it; None means there is nothing to do (meta tensors)."""
    fields = prepare_fields(t, fn, bits)
    return None if fields is None else Target(*fields)


def prepare_fields(t: Any, fn: str, bits: bool = False) -> Optional[Fields]:
    """:func:`prepare`, the fields as a plain tuple."""
    if type(t) is np.ndarray:
        return _prepare_numpy(t, fn, bits)
    if is_torch_tensor(t):
        return _prepare_torch(t, fn, bits)
    if isinstance(t, np.ndarray):
        return _prepare_numpy(t, fn, bits)
    if hasattr(t, "__dlpack__"):
        # DLPack 1.x where the producer has it: it flags read-only memory, and copy=False
        # forbids a copy (a fill of a copy would be lost); else a legacy capsule.
        for kwargs in ({"max_version": (1, 0), "copy": False}, {"max_version": (1, 0)}, {}):
            try:
                return (t.__dlpack__(**kwargs), -1, 0, False)
            except TypeError:  # an older producer: fewer keywords
                if not kwargs:
                    raise
            except BufferError as e:  # the producer cannot export it (read-only, other device)
                raise ValueError(f"fastinit.{fn}: the target cannot be exported for writing "
                                 f"through DLPack ({e})") from None
    raise TypeError(
        f"fastinit.{fn}: expected a torch.Tensor or numpy.ndarray, got {type(t).__name__}"
    )


# NumPy dtypes (native byte order) the engine takes as they are.
_DIRECT_NUMPY = {np.dtype(name): True for name in ("float32", "float64", "float16")}


def _prepare_numpy(a: np.ndarray, fn: str, bits: bool) -> Fields:
    if not bits and a.dtype in _DIRECT_NUMPY:  # the common case: every check below passes
        flags = a.flags
        if flags.writeable and flags.c_contiguous:
            return (a, -1, 0, False)
    if not a.dtype.isnative:  # the engine writes native-order bits
        raise TypeError(f"fastinit.{fn}: byte order {a.dtype.str!r} is not supported; fill a "
                        f"native-order array (e.g. a.astype(a.dtype.newbyteorder('=')))")
    if bits:
        if a.dtype != np.uint32:
            raise TypeError(f"fastinit.{fn}: out must be a uint32 array, got {a.dtype}")
        return (a, -1, 0, False)
    name = dtype_name(a)
    if name not in _FLOAT_NAMES:
        raise _dtype_error(fn, name)
    check_writable(a, fn)
    if name in _VIEWED:  # ml_dtypes types: same bits, seen through uintN
        view, code = _VIEWED[name]
        return (a.view(view), int(code), 0, False)
    return (a, -1, 0, False)


def check_writable(t: Any, fn: str, torch_ops_only: bool = False) -> None:
    """Targets no fill may write, whichever path writes them (engine, torch or NumPy ops):
    read-only arrays; torch tensors of other layouts, tensors inside a torch.func transform
    (their DLPack export failed with "Cannot access data pointer", or crashed), and (as torch
    rules) inference tensors outside inference mode, which our writes through detach()/DLPack
    would not refuse. ``torch_ops_only``: the caller writes through torch ops alone and draws
    nothing (eye_, dirac_), which torch.func transforms handle."""
    if isinstance(t, np.ndarray):
        flags = t.flags
        if not flags.writeable:
            raise ValueError(f"fastinit.{fn}: the target is read-only")
        if not flags.c_contiguous:  # a C-contiguous array never overlaps itself
            _refuse_overlap(fn, t.shape, t.strides, t.itemsize)
        return
    if not is_torch_tensor(t) or t.is_meta:
        return
    torch = sys.modules["torch"]
    if not torch_ops_only and _in_functorch_transform(torch, t):
        raise RuntimeError(f"fastinit.{fn}: tensors inside torch.func transforms (vmap, grad, "
                           f"jacrev, functionalize, ...) are not supported: a fill writes the "
                           f"tensor's memory in place, and such a tensor is a wrapper without "
                           f"memory of its own; fill the tensor before the transform")
    if t.is_nested or t.layout != torch.strided:
        layout = "nested" if t.is_nested else t.layout
        raise TypeError(f"fastinit.{fn}: layout {layout} is not supported (strided tensors only)")
    if t.is_inference() and not torch.is_inference_mode_enabled():
        raise RuntimeError(f"fastinit.{fn}: in-place update to an inference tensor outside "
                           f"torch.inference_mode() is not allowed (torch refuses it too); fill "
                           f"it inside inference_mode, or fill a clone")
    if not t.is_contiguous():
        _refuse_overlap(fn, t.shape, t.stride(), 1)


def _functorch_wrapper_test(torch: Any) -> Any:
    """torch's test for a tensor wrapped by a torch.func transform (never true on a torch
    without one)."""
    functorch = getattr(torch._C, "_functorch", None)
    return getattr(functorch, "is_functorch_wrapped_tensor", None) or (lambda t: False)


def _in_functorch_transform(torch: Any, t: Any) -> bool:
    return bool(_functorch_wrapper_test(torch)(t))


def _refuse_overlap(fn: str, shape: Any, strides: Any, itemsize: int) -> None:
    """Elements sharing memory (expand(), broadcast, as_strided): every writer refuses them,
    the structured inits too (eye_ or orthogonal_ through such a view gave no identity and no
    orthogonal matrix)."""
    if _core.memory_overlaps(list(shape), list(strides), itemsize):
        raise ValueError(f"fastinit.{fn}: the target's memory overlaps itself (e.g. an "
                         f"expand()ed or broadcast view); fill a contiguous tensor instead")


# (torch, to_dlpack, torch.strided, {dtype: True} for the dtypes DLPack carries as they are
# (float8 goes through a uint8 view), torch.func's wrapper test), looked up once.
_TORCH_REFS: Optional[tuple] = None


def _torch_refs(torch: Any) -> tuple:
    global _TORCH_REFS
    direct = {getattr(torch, name): True for name in ("float32", "float64", "float16", "bfloat16")}
    _TORCH_REFS = (torch, torch.utils.dlpack.to_dlpack, torch.strided, direct,
                   _functorch_wrapper_test(torch))
    return _TORCH_REFS


def _prepare_torch(t: Any, fn: str, bits: bool) -> Optional[Fields]:
    torch = sys.modules["torch"]
    refs = _TORCH_REFS if _TORCH_REFS is not None and _TORCH_REFS[0] is torch else _torch_refs(torch)
    # The common case, in one pass of cheap tests (``t.device`` alone costs 0.5 us): a dense
    # float tensor on the CPU that every check below would pass. The capsule is of t itself:
    # DLPack's refusal of tensors that require grad guards readers, and this is a write that
    # torch.nn.init makes under no_grad.
    if (t.is_cpu and not bits and t.dtype in refs[3] and not t.is_nested
            and t.layout is refs[2] and t.is_contiguous() and not t.is_neg()
            and (not t.is_inference() or torch.is_inference_mode_enabled())
            and not refs[4](t)):
        return (refs[1](t), -1, 0, True)
    if t.is_meta:
        return None
    check_writable(t, fn)
    if bits:
        if t.dtype != getattr(torch, "uint32", None):
            raise TypeError(f"fastinit.{fn}: out must be a uint32 tensor, got {t.dtype}")
    elif dtype_name(t) not in _FLOAT_NAMES:
        raise _dtype_error(fn, t.dtype)
    if t.device.type not in ("cpu", "cuda"):
        raise RuntimeError(
            f"fastinit.{fn}: device '{t.device.type}' is not supported (cpu and cuda are)"
        )
    if t.is_neg():  # its memory holds the negated values: a fill there would come out negated
        raise ValueError(f"fastinit.{fn}: the target is a negated view (neg bit set); fill the "
                         f"tensor it views, or t.resolve_neg()")
    alias = t.detach()
    override = -1
    if dtype_name(t).startswith("float8"):
        view, override = _VIEWED[dtype_name(t)]
        alias = alias.view(getattr(torch, view))
    stream = 0
    if t.device.type == "cuda":
        if not _core.cuda_available():
            reason = "no usable CUDA device" if _core.built_with_cuda else "not built with CUDA"
            raise RuntimeError(f"fastinit.{fn}: CUDA tensor given, but fastinit has {reason}")
        stream = torch.cuda.current_stream(t.device).cuda_stream
        # We launch on torch's current stream ourselves, so the export needs no
        # synchronization (stream=-1 in the DLPack protocol).
        try:
            capsule = alias.__dlpack__(stream=-1)
        except (TypeError, ValueError, RuntimeError):
            capsule = alias.__dlpack__()
        return (capsule, override, stream, True)
    return (alias.__dlpack__(), override, 0, True)


def mark_modified(t: Any) -> None:
    """Bump a torch tensor's version counter, as an in-place torch op would."""
    if is_torch_tensor(t):
        bump_version(t)

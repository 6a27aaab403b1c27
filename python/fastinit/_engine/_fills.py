"""The fills: uniform_, normal_, trunc_normal_, constant_, zeros_, ones_, random_bits_.

Every value is a pure function of (key, stream, logical index) (docs/stream.md): the same on
any thread count, SIMD width, slice, shard and device, and in every dtype the float32 result
rounded to nearest even (float64 has its own 53-bit path). Targets are NumPy arrays or torch
tensors, filled in place with no copy; each function returns its target.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Optional, Sequence, TypeVar

import numpy as np

from .. import _core
from ._seeds import check_seed, key_and_stream
from ._targets import (bump_version, is_float_target, is_torch_tensor, mark_modified, prepare,
                       prepare_fields)
from ._torch_ops import traceable

T = TypeVar("T")
Shape = Optional[Sequence[int]]


_WHOLE: list = []  # global_shape / global_offset of a whole tensor (never modified)


def _placement(fn: str, t: Any, global_shape: Shape, global_offset: Shape) -> tuple:
    if global_shape is None:
        if global_offset is not None:
            raise ValueError(f"fastinit.{fn}: global_offset needs global_shape")
        return _WHOLE, _WHOLE
    shape = [_dim(fn, "global_shape", d) for d in _dims(fn, "global_shape", global_shape)]
    offset = [0] * len(shape) if global_offset is None else [
        _dim(fn, "global_offset", d) for d in _dims(fn, "global_offset", global_offset)
    ]
    return shape, offset


def _dims(fn: str, name: str, dims: Any) -> Any:
    if isinstance(dims, (str, bytes)) or not hasattr(dims, "__iter__"):
        raise TypeError(f"fastinit.{fn}: {name} must be a sequence of ints (one per dim), got "
                        f"{type(dims).__name__}")
    return dims


def _dim(fn: str, name: str, d: Any) -> int:
    if isinstance(d, bool) or not hasattr(d, "__index__"):
        raise TypeError(f"fastinit.{fn}: {name} must hold ints, got {type(d).__name__}")
    value = d.__index__()
    if value < 0:
        raise ValueError(f"fastinit.{fn}: {name} entries must be >= 0, got {value}")
    if value >= 1 << 63:
        raise ValueError(f"fastinit.{fn}: {name} entries must be below 2**63, got {value}")
    return value


def is_complex_number(x: Any) -> bool:
    """A complex scalar of any library (Python, NumPy, a complex torch tensor or NumPy array):
    ``float()`` of the NumPy and torch ones drops the imaginary part with only a warning."""
    if isinstance(x, numbers.Complex) and not isinstance(x, numbers.Real):
        return True
    dtype = getattr(x, "dtype", None)
    return bool(getattr(dtype, "is_complex", False) or getattr(dtype, "kind", None) == "c")


def _real(fn: str, name: str, x: Any) -> float:
    """``x`` as a float (infinities and NaN included); complex values, strings and other
    non-numbers are a TypeError."""
    if type(x) is float or type(x) is int:  # the common case, without the ABC checks below
        return float(x)
    if isinstance(x, (str, bytes)) or is_complex_number(x):
        raise TypeError(f"fastinit.{fn}: {name} must be a real number, got {x!r}")
    try:
        return float(x)
    except (TypeError, ValueError):
        raise TypeError(f"fastinit.{fn}: {name} must be a real number, got {x!r}") from None


def _number(fn: str, name: str, x: Any) -> float:
    if type(x) is float and x - x == 0.0:  # a finite float: the common case, at once
        return x
    value = _real(fn, name, x)
    if not math.isfinite(value):
        raise ValueError(f"fastinit.{fn}: {name} must be finite, got {value}")
    return value


def _fill(fn: str, t: T, kind: int, params: list, generator: Any, seed: Optional[int],
          global_shape: Shape, global_offset: Shape, random: bool = True,
          torch_keys: Optional[bool] = None) -> T:
    """One engine fill. ``torch_keys``: whether an unseeded key comes from torch's default
    generator (default: when ``t`` is a torch tensor; orthogonal_'s NumPy sample of a torch
    tensor draws as the tensor would)."""
    target = prepare_fields(t, fn)
    shape = offset = _WHOLE
    if global_shape is not None or global_offset is not None:
        shape, offset = _placement(fn, t, global_shape, global_offset)
    # A seed= key draws nothing, so it is resolved (and checked) first, also where nothing is
    # filled (meta tensors); any other key comes from a generator, drawn only once the fill is
    # known to be valid, so bad input never advances it.
    seeded = key_and_stream(fn, seed, generator, False) if random and seed is not None else None
    if target is None:
        return t
    obj, dtype_override, cuda_stream, is_torch = target
    key, stream = seeded or (0, 0)
    draw = None  # the core calls it once the fill has passed its checks
    if random and seeded is None:
        from_torch = is_torch if torch_keys is None else torch_keys

        def draw() -> tuple:
            return key_and_stream(fn, seed, generator, from_torch, t)
    # positional: keyword arguments cost a pybind11 call about 1 us
    _core.fill(obj, fn, kind, params, key, stream, shape, offset, 0, dtype_override,
               cuda_stream, draw)
    if is_torch:
        bump_version(t)
    return t


@traceable
def uniform_(tensor: T, a: float = 0.0, b: float = 1.0, generator: Any = None, *,
             seed: Optional[int] = None, global_shape: Shape = None,
             global_offset: Shape = None, _fn: str = "uniform_") -> T:
    """Fill ``tensor`` with U[a, b): ``a + (b - a) * u``, u with 24 random bits (53 in float64).

    Values lie in [a, b) in the tensor's own dtype: b is never returned, also in bfloat16.
    ``seed=`` makes values depend only on (seed, index); ``generator=`` draws the key from a
    torch.Generator; ``global_shape=``/``global_offset=`` fill this tensor as the block at
    ``global_offset`` of a larger logical tensor, with exactly the values the full fill gives it.
    """
    fn = _fn  # the function the user called (xavier_uniform_ fills through here)
    lo, hi = _number(fn, "a", a), _number(fn, "b", b)
    if lo > hi:
        raise ValueError(f"fastinit.{fn}: a must be <= b, got a={lo}, b={hi}")
    if not math.isfinite(hi - lo):
        raise ValueError(f"fastinit.{fn}: b - a overflows, got a={lo}, b={hi}")
    return _fill(fn, tensor, _core.KIND_UNIFORM, [lo, hi], generator, seed, global_shape,
                 global_offset)


@traceable
def normal_(tensor: T, mean: float = 0.0, std: float = 1.0, generator: Any = None, *,
            seed: Optional[int] = None, global_shape: Shape = None,
            global_offset: Shape = None, _fn: str = "normal_") -> T:
    """Fill ``tensor`` with N(mean, std**2): ``mean + std * Phi^-1(q)``, one word per value.

    Inversion, not Box-Muller: each element needs exactly its own word, tails reach 6.3 std in
    float32 and 8.1 std in float64. Seeds, generators and sharding as in :func:`uniform_`.
    """
    fn = _fn  # the function the user called (xavier_uniform_ fills through here)
    m, s = _number(fn, "mean", mean), _number(fn, "std", std)
    if s < 0:
        raise ValueError(f"fastinit.{fn}: std must be >= 0, got {s}")
    return _fill(fn, tensor, _core.KIND_NORMAL, [m, s], generator, seed, global_shape,
                 global_offset)


@traceable
def trunc_normal_(tensor: T, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator: Any = None, *, seed: Optional[int] = None,
                  global_shape: Shape = None, global_offset: Shape = None,
                  _fn: str = "trunc_normal_") -> T:
    """Fill ``tensor`` with N(mean, std**2) truncated to [a, b] (absolute bounds, as torch).

    Exact inversion on [Phi(alpha), Phi(beta)], alpha = (a - mean)/std, beta = (b - mean)/std,
    measured from the nearer tail so far intervals (a = 5 std, b = 6 std) stay exact; no value
    leaves [a, b] in any dtype, and bfloat16 / float16 are the float32 values rounded, with no
    pile-up at the bounds. No correction of the std for the truncation (torch semantics).
    """
    fn = _fn  # the function the user called (xavier_uniform_ fills through here)
    m, s = _number(fn, "mean", mean), _number(fn, "std", std)
    lo, hi = _number(fn, "a", a), _number(fn, "b", b)
    if s < 0:
        raise ValueError(f"fastinit.{fn}: std must be >= 0, got {s}")
    if lo > hi:
        raise ValueError(f"fastinit.{fn}: a must be <= b, got a={lo}, b={hi}")
    return _fill(fn, tensor, _core.KIND_TRUNC_NORMAL, [m, s, lo, hi], generator, seed,
                 global_shape, global_offset)


@traceable
def constant_(tensor: T, val: float, *, _fn: str = "constant_") -> T:
    """Fill ``tensor`` with ``val`` (rounded to float32, then to a narrower float dtype).

    As torch's ``fill_``: a finite ``val`` past the dtype's largest finite value is a
    ValueError ("cannot be converted to float16 without overflow"), an infinity is stored where
    the dtype has one (float8_e4m3fn has none); NaN is refused (its bits would be the
    hardware's). Float targets use the compiled kernel; other dtypes use the array library's
    own fill.
    """
    fn = _fn
    if not is_float_target(tensor) and (is_torch_tensor(tensor) or isinstance(tensor, np.ndarray)):
        if is_torch_tensor(tensor):
            tensor.detach().fill_(val)
        else:
            if not tensor.flags.writeable:
                raise ValueError(f"fastinit.{fn}: the target is read-only")
            tensor[...] = val
        return tensor
    value = _real(fn, "val", val)
    if math.isnan(value):
        raise ValueError(f"fastinit.{fn}: val must not be NaN")
    return _fill(fn, tensor, _core.KIND_CONSTANT, [value], None, None, None, None, random=False)


@traceable
def zeros_(tensor: T) -> T:
    """Fill ``tensor`` with 0."""
    return constant_(tensor, 0.0, _fn="zeros_")


@traceable
def ones_(tensor: T) -> T:
    """Fill ``tensor`` with 1."""
    return constant_(tensor, 1.0, _fn="ones_")


@traceable
def random_bits_(out: T, *, seed: int, offset: int = 0, stream: int = 0) -> T:
    """Fill a uint32 array with the raw Philox words at positions offset .. offset + n - 1.

    Word i of stream s under key seed is lane i % 4 of block i // 4, counter
    (block low, block high, s low, s high); positions follow ``out``'s logical order.
    """
    fn = "random_bits_"
    key = check_seed(seed, fn)
    off = check_seed(offset, fn, "offset")
    st = check_seed(stream, fn, "stream")
    target = prepare(out, fn, bits=True)
    if target is None:
        return out
    _core.fill(target.obj, fn, _core.KIND_BITS, [], key, st, [], [], off, -1,
               target.cuda_stream)
    mark_modified(out)
    return out


def philox4x32_10(counters: Any, keys: Any) -> np.ndarray:
    """Philox4x32-10 on each row: counters (n, 4) and keys (n, 2) uint32 -> (n, 4) uint32."""
    c = np.asarray(counters)
    k = np.asarray(keys)
    for name, arr in (("counters", c), ("keys", k)):
        if arr.dtype.kind not in "ui" or (arr.size and (arr.min() < 0 or arr.max() >= 1 << 32)):
            raise ValueError(f"fastinit.philox4x32_10: {name} must hold uint32 values")
    return _core.philox4x32_10(c.astype(np.uint32), k.astype(np.uint32))

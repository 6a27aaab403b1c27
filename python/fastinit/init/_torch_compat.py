"""nn_init's primitive fills (uniform_, normal_, trunc_normal_, constant_) with torch's checks.

They are fastinit's engine fills behind torch's argument checks, reproduced here so that
fastinit.nn_init raises what torch.nn.init raises. torch.nn.init's fills end in
``Tensor.uniform_`` / ``Tensor.normal_`` / ``Tensor.fill_``, whose C++ checks decide the
exception type and text. The functions here run the same checks, in the same order, on torch
tensors and NumPy arrays alike (torch's C++ dtype names are used for both), before the fill
reaches the engine:

* ``uniform_``: "from/to is out of bounds for float", "uniform_ expects to return a [from, to)
  range, but found from=1 > to=0", "uniform_ expects to-from <= std::numeric_limits<Float>::
  max(), ..." (RuntimeError); a non-number: "uniform_(): argument 'from' (position 1) must be
  float, not str" (TypeError). Numbers print as C++ streams print doubles (``%g``).
* ``normal_``: "normal expects std >= 0.0, but found std -1" (RuntimeError).
* ``fill_``: "value cannot be converted to type c10::Half without overflow" (RuntimeError),
  following c10's ``overflows``: infinities pass where the dtype has them, NaN passes.

Torch tensors of dtypes the engine does not fill (integer, bool, complex, ...) are handed to
torch's own kernels through ``torch._C.TensorBase`` (:func:`torch_kernel`), which patch mode
never replaces, so they keep torch's values and its exact errors
('"check_uniform_bounds" not implemented for \\'Long\\'') without recursing.
"""

from __future__ import annotations

import math
import numbers
import sys
import warnings
from typing import Any, Optional, Sequence, TypeVar

import numpy as np

from .._engine import _fills
from .._engine._targets import _FLOAT_NAMES, dtype_name, is_torch_tensor
from .._engine._torch_ops import traceable

T = TypeVar("T")
Shape = Optional[Sequence[int]]

# dtype -> (name in "out of bounds for ...", ScalarType name, max, has infinity)
_LIMITS = {
    "float32": ("float", "Float", 3.4028234663852886e38, True),
    "float64": ("double", "Double", sys.float_info.max, True),
    "float16": ("c10::Half", "Half", 65504.0, True),
    "bfloat16": ("c10::BFloat16", "BFloat16", 3.3895313892515355e38, True),
    "float8_e4m3fn": ("c10::Float8_e4m3fn", "Float8_e4m3fn", 448.0, False),
    "float8_e5m2": ("c10::Float8_e5m2", "Float8_e5m2", 57344.0, True),
}


def fmt(x: float) -> str:
    """A double as ``std::ostream << double`` prints it (6 significant digits, %g)."""
    return format(x, "g")


def is_meta(t: Any) -> bool:
    return is_torch_tensor(t) and t.device.type == "meta"


def torch_kernel(t: Any, seed: Optional[int] = None, global_shape: Shape = None,
                 global_offset: Shape = None) -> bool:
    """True for a torch tensor whose dtype the engine does not fill, called without fastinit's
    own arguments: torch's kernel then does the work (module docstring). With ``seed=`` etc.
    the engine's dtype error is raised instead."""
    return (is_torch_tensor(t) and dtype_name(t) not in _FLOAT_NAMES and seed is None
            and global_shape is None and global_offset is None)


def scalar(method: str, name: str, position: int, x: Any) -> float:
    """``x`` as torch's argument parser reads a ``double`` argument of ``Tensor.<method>``."""
    torch = sys.modules.get("torch")
    if isinstance(x, numbers.Real) and not isinstance(x, complex):
        return float(x)
    if torch is not None and isinstance(x, torch.Tensor) and x.dim() == 0 \
            and not x.is_complex():
        return float(x.item())
    raise TypeError(f"{method}(): argument '{name}' (position {position}) must be float, "
                    f"not {type(x).__name__}")


def check_uniform_bounds(t: Any, lo: float, hi: float) -> None:
    """torch's ``check_uniform_bounds`` for ``uniform_(lo, hi)`` on ``t``'s dtype."""
    limits = _LIMITS.get(dtype_name(t))
    if limits is None:  # not an engine dtype: the engine raises its own dtype error
        return
    cpp, scalar_type, big, _ = limits
    if not -big <= lo <= big:
        raise RuntimeError(f"from is out of bounds for {cpp}")
    if not -big <= hi <= big:
        raise RuntimeError(f"to is out of bounds for {cpp}")
    if not lo <= hi:
        raise RuntimeError(
            f"uniform_ expects to return a [from, to) range, but found from={fmt(lo)} > "
            f"to={fmt(hi)}"
        )
    if not hi - lo <= big:
        raise RuntimeError(
            f"uniform_ expects to-from <= std::numeric_limits<{scalar_type}>::max(), but found "
            f"to={fmt(hi)} and from={fmt(lo)} which result in to-from to exceed the limit"
        )


def check_normal_std(std: float) -> None:
    """torch's ``normal_`` check (NaN fails it too)."""
    if not std >= 0.0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {fmt(std)}")


def check_fill_value(t: Any, val: float) -> None:
    """c10's overflow check of ``fill_(val)`` for ``t``'s dtype."""
    limits = _LIMITS.get(dtype_name(t))
    if limits is None or math.isnan(val) or (math.isinf(val) and limits[3]):
        return
    if not -limits[2] <= val <= limits[2]:
        raise RuntimeError(f"value cannot be converted to type {limits[0]} without overflow")


def torch_uniform_(t: Any, a: Any, b: Any, generator: Any) -> Any:
    """torch's own ``uniform_`` kernel (never the patchable ``Tensor.uniform_``), no autograd."""
    torch = sys.modules["torch"]
    with torch.no_grad():
        return torch._C.TensorBase.uniform_(t, a, b, generator=generator)


def torch_normal_(t: Any, mean: Any, std: Any, generator: Any) -> Any:
    """torch's own ``normal_`` kernel (never the patchable ``Tensor.normal_``), no autograd."""
    torch = sys.modules["torch"]
    with torch.no_grad():
        return torch._C.TensorBase.normal_(t, mean, std, generator=generator)


# --- the primitive fills with torch's checks (fastinit.nn_init re-exports these) -------------

_TRUNC_WARNING = ("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                  "The distribution of values may be incorrect.")
#: Infinite truncation bounds become mean -+ this many std: the mass beyond is below 1e-340,
#: zero in double, so the values are exactly those of the one-sided interval.
_FAR = 40.0


def _has_dtype(t: Any) -> bool:
    return is_torch_tensor(t) or hasattr(t, "dtype")


_NOT_OVERRIDDEN = object()


def torch_function(public: Any, tensor: Any, **kwargs: Any) -> Any:
    """``__torch_function__`` dispatch, as torch.nn.init's uniform_ / normal_ / constant_ /
    kaiming_uniform_ do it: for a torch tensor subclass that overrides it (or under a
    TorchFunctionMode), the override's result, with ``func`` = fastinit's own ``public``;
    otherwise ``_NOT_OVERRIDDEN``. fastinit's extra arguments are passed only when given."""
    if not is_torch_tensor(tensor):
        return _NOT_OVERRIDDEN
    overrides = sys.modules["torch"].overrides
    if not overrides.has_torch_function_variadic(tensor):
        return _NOT_OVERRIDDEN
    kwargs = {k: v for k, v in kwargs.items()
              if v is not None or k not in ("seed", "global_shape", "global_offset")}
    return overrides.handle_torch_function(public, (tensor,), tensor=tensor, **kwargs)


@traceable
def uniform_(tensor: T, a: float = 0.0, b: float = 1.0, generator: Any = None, *,
             seed: Optional[int] = None, global_shape: Shape = None,
             global_offset: Shape = None) -> T:
    r"""Fill ``tensor`` with values from U[a, b) (``torch.nn.init.uniform_``).

    ``a + (b - a) * u``, u with 24 random bits (53 in float64); b is never returned, in any
    dtype. Errors as torch's ``Tensor.uniform_`` (a > b, bounds outside the dtype's range:
    RuntimeError). ``seed=``, ``global_shape=``, ``global_offset=`` as :func:`fastinit.uniform_`.
    """
    out = torch_function(uniform_, tensor, a=a, b=b, generator=generator, seed=seed,
                         global_shape=global_shape, global_offset=global_offset)
    if out is not _NOT_OVERRIDDEN:
        return out
    return uniform_impl(tensor, a, b, generator, seed, global_shape, global_offset)


def uniform_impl(tensor: T, a: float, b: float, generator: Any, seed: Optional[int],
                 global_shape: Shape, global_offset: Shape, fn: str = "uniform_") -> T:
    """:func:`uniform_` without ``__torch_function__`` dispatch (torch's ``_no_grad_uniform_``,
    which xavier and the helpers call)."""
    if torch_kernel(tensor, seed, global_shape, global_offset):
        return torch_uniform_(tensor, a, b, generator)
    lo, hi = scalar("uniform_", "from", 1, a), scalar("uniform_", "to", 2, b)
    if _has_dtype(tensor):
        check_uniform_bounds(tensor, lo, hi)
    return _fills.uniform_(tensor, lo, hi, generator, seed=seed, global_shape=global_shape,
                           global_offset=global_offset, _fn=fn)


@traceable
def normal_(tensor: T, mean: float = 0.0, std: float = 1.0, generator: Any = None, *,
            seed: Optional[int] = None, global_shape: Shape = None,
            global_offset: Shape = None) -> T:
    r"""Fill ``tensor`` with values from N(mean, std²) (``torch.nn.init.normal_``).

    ``mean + std * Phi^-1(q)``, one random word per value (tails to 6.3 std in float32, 8.1 in
    float64). std < 0 or NaN: torch's RuntimeError. Unlike torch, a non-finite mean or std is a
    ValueError rather than a tensor of inf/NaN.
    """
    out = torch_function(normal_, tensor, mean=mean, std=std, generator=generator, seed=seed,
                         global_shape=global_shape, global_offset=global_offset)
    if out is not _NOT_OVERRIDDEN:
        return out
    return normal_impl(tensor, mean, std, generator, seed, global_shape, global_offset)


def normal_impl(tensor: T, mean: float, std: float, generator: Any, seed: Optional[int],
                global_shape: Shape, global_offset: Shape, fn: str = "normal_") -> T:
    """:func:`normal_` without ``__torch_function__`` dispatch (torch's ``_no_grad_normal_``)."""
    if torch_kernel(tensor, seed, global_shape, global_offset):
        return torch_normal_(tensor, mean, std, generator)
    m, s = scalar("normal_", "mean", 1, mean), scalar("normal_", "std", 2, std)
    check_normal_std(s)
    return _fills.normal_(tensor, m, s, generator, seed=seed, global_shape=global_shape,
                          global_offset=global_offset, _fn=fn)


def _norm_cdf(x: float) -> float:
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def trunc_normal(tensor: T, mean: float, std: float, a: float, b: float, generator: Any,
                 seed: Optional[int], global_shape: Shape, global_offset: Shape,
                 stacklevel: int) -> T:
    """:func:`trunc_normal_`, warning ``stacklevel`` frames up (the user's call)."""
    if is_meta(tensor):
        return tensor
    if (mean < a - 2 * std) or (mean > b + 2 * std):
        warnings.warn(_TRUNC_WARNING, stacklevel=stacklevel + 1)
    # torch 2.13 draws normals and rejects when the interval holds > 30% of the mass, else
    # draws uniforms on [a, b]: the first primitive decides which of torch's errors applies.
    normal_branch = _norm_cdf((b - mean) / std) - _norm_cdf((a - mean) / std) > 0.3
    if torch_kernel(tensor, seed, global_shape, global_offset):
        torch = sys.modules["torch"]
        scratch = torch.empty(1, dtype=tensor.dtype, device=tensor.device)
        if normal_branch:  # raises torch's own error for integer dtypes
            torch_normal_(scratch, mean, std, generator)
        else:
            torch_uniform_(scratch, a, b, generator)
        raise NotImplementedError(f"fastinit.trunc_normal_: dtype {tensor.dtype} is not "
                                  "supported (torch.nn.init.trunc_normal_ cannot fill it either)")
    m, s = scalar("normal_", "mean", 1, mean), scalar("normal_", "std", 2, std)
    lo, hi = scalar("uniform_", "from", 1, a), scalar("uniform_", "to", 2, b)
    if normal_branch:
        check_normal_std(s)
    elif _has_dtype(tensor):
        check_uniform_bounds(tensor, lo, hi)
    s = abs(s)  # torch's rejection sampler treats std < 0 as |std|
    big = sys.float_info.max
    if lo == -math.inf:
        lo = min(hi, max(m - _FAR * s, -big))
    if hi == math.inf:
        hi = max(lo, min(m + _FAR * s, big))
    return _fills.trunc_normal_(tensor, m, s, lo, hi, generator, seed=seed,
                                global_shape=global_shape, global_offset=global_offset)


@traceable
def trunc_normal_(tensor: T, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator: Any = None, *, seed: Optional[int] = None,
                  global_shape: Shape = None, global_offset: Shape = None) -> T:
    r"""Fill ``tensor`` with N(mean, std²) truncated to the **absolute** bounds [a, b].

    Exact inversion of the CDF on [Phi(alpha), Phi(beta)], alpha = (a - mean)/std,
    beta = (b - mean)/std, evaluated in the nearer tail: no value leaves [a, b] in any dtype,
    far intervals (a = 5 std) are exact, no rejection loop. No std correction (torch
    semantics: with the defaults the std of the values is 0.8796 std). Infinite a or b give a
    one-sided truncation. Warns as torch when mean is more than 2 std outside [a, b];
    std == 0 raises ZeroDivisionError and a > b RuntimeError, as torch 2.13.
    """
    return trunc_normal(tensor, mean, std, a, b, generator, seed, global_shape, global_offset,
                        stacklevel=3)  # the user's line, above the traceable wrapper


@traceable
def constant_(tensor: T, val: float) -> T:
    """Fill ``tensor`` with ``val`` (``torch.nn.init.constant_``).

    Finite real values go through fastinit's kernel and are stored as torch stores them:
    rounded to float32, then to the tensor's dtype (float64: as is), NumPy arrays included.
    A value that overflows the dtype raises torch's RuntimeError ("value cannot be converted
    to type c10::Half without overflow"); inf / NaN, complex, tensors and non-float torch
    dtypes use ``Tensor.fill_`` (torch's own results and errors), but a complex value whose
    imaginary part torch would drop with only a warning (NumPy's complex64, a complex tensor)
    into a real tensor is a TypeError.
    """
    out = torch_function(constant_, tensor, val=val)
    if out is not _NOT_OVERRIDDEN:
        return out
    return constant_impl(tensor, val)


def constant_impl(tensor: T, val: float) -> T:
    """:func:`constant_` without ``__torch_function__`` dispatch (torch's ``_no_grad_fill_``)."""
    real = isinstance(val, numbers.Real)
    if real and _has_dtype(tensor) and dtype_name(tensor) in _FLOAT_NAMES:
        v = float(val)
        check_fill_value(tensor, v)
        if math.isfinite(v):
            if dtype_name(tensor) != "float64":
                # torch converts the double to float first (c10::Half, BFloat16 and Float8
                # are built from float), so a double just past a rounding tie of the narrow
                # type rounds as torch's does, whatever the engine does with a double.
                v = float(np.float32(v))
            return _fills.constant_(tensor, v)
        if not is_torch_tensor(tensor):
            if not tensor.flags.writeable:
                raise ValueError("fastinit.constant_: the target is read-only")
            tensor[...] = v
            return tensor
    if is_torch_tensor(tensor):
        # torch refuses a Python complex with an imaginary part for a real tensor ("cannot be
        # converted ... without overflow"), but keeps the real part of NumPy's complex64 (also
        # for a complex tensor) and of a complex tensor with only a warning
        if _fills.is_complex_number(val) and not isinstance(val, complex):
            if not tensor.is_complex():
                raise TypeError(f"fastinit.constant_: val must be a real number for a "
                                f"{tensor.dtype} tensor, got {val!r}")
            if not is_torch_tensor(val):
                val = complex(val)
        with sys.modules["torch"].no_grad():
            tensor.detach().fill_(val)
        return tensor
    return _fills.constant_(tensor, val)

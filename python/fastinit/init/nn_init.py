r"""``torch.nn.init`` on fastinit: every public name, with torch's signature and defaults.

Each function keeps ``torch.nn.init``'s parameters (names, order, defaults), semantics,
exception types and messages, and warnings (torch 2.13; tests/init/test_nn_init_parity.py checks
them against the installed torch), and fills through fastinit's Philox engine instead of
torch's generators. The random ones add keyword-only ``seed=`` (values depend only on
(seed, index)) and, where a shard can be filled alone, ``global_shape=`` / ``global_offset=``
(docs/stream.md); xavier and kaiming then take their fans from ``global_shape``.
orthogonal_ and sparse_ take ``seed=`` only: a QR and a per-column mask need the whole matrix.
uniform_ / normal_ / trunc_normal_ / constant_ are the engine fills
(:mod:`fastinit._engine._fills`) behind torch's argument checks
(:mod:`fastinit.init._torch_compat`); ones_ / zeros_ are the engine's.
``generator=`` takes a ``torch.Generator`` (one 64-bit key is drawn from it, so it advances
as torch's own functions advance theirs) or a ``numpy.random.Generator``; with neither, torch
tensors draw the key from torch's default generator (``torch.manual_seed(n)`` makes them
reproducible). Targets are torch tensors or NumPy arrays; everything runs without autograd.
As in torch, uniform_, normal_, constant_ and kaiming_uniform_ (only these) first offer the
call to a tensor subclass's ``__torch_function__`` (or an active TorchFunctionMode).

Formulas (``fan_in = shape[1] * rf``, ``fan_out = shape[0] * rf``, ``rf = prod(shape[2:])``):

======================  ===========================================================
uniform_(a, b)          U[a, b)
normal_(mean, std)      N(mean, std²)
trunc_normal_           N(mean, std²) cut to the absolute bounds [a, b], no std correction
xavier_uniform_         U[-l, l),  l = gain * sqrt(6 / (fan_in + fan_out))
xavier_normal_          N(0, s²),  s = gain * sqrt(2 / (fan_in + fan_out)), untruncated
kaiming_uniform_        U[-l, l),  l = sqrt(3) * gain / sqrt(fan), gain = calculate_gain(nl, a)
kaiming_normal_         N(0, s²),  s = gain / sqrt(fan), untruncated
orthogonal_             gain * Q, Q from the QR of a Gaussian matrix (Haar), QᵀQ = I
sparse_                 N(0, std²) with ceil(sparsity * rows) zeros per column
eye_, dirac_            identity matrix, convolution identity
======================  ===========================================================

Where fastinit differs from torch (on purpose):

* the values: same distributions, other numbers (another engine);
* every function can be called inside torch.compile (fullgraph=True too) with eager's bits
  (:mod:`fastinit._engine._torch_ops`; docs/api.md, "torch.compile and torch.func");
* orthogonal_ works for bfloat16 / float16 / float8 (torch raises); fp8 fills work everywhere;
  its Gaussian sample is bit-exact, and its QR is NumPy's (LAPACK) for every target, so NumPy
  arrays and torch tensors on any device get the same bits in one process; another LAPACK
  build may change them in the last bits (~1e-7 in float32), as torch's;
* a non-finite gain of orthogonal_, or one past the dtype's largest finite value, a slope
  a = +-inf of kaiming_*, and dirac_'s groups < 0 are ValueErrors (torch stores inf / NaN /
  zeros); kaiming_*'s mode that is no str and dirac_'s groups = 0 keep torch's exception
  types with a clearer text; complex parameters torch would keep the real part of are
  TypeErrors;
* eye_ / dirac_ fill every dtype torch's fill_ fills (unsigned ones included), or raise
  before writing anything;
* sparse_'s zero pattern honours ``generator=`` / ``seed=`` (torch's uses ``torch.randperm``
  on the global generator);
* trunc_normal_ is exact (inversion) in every dtype, with no rejection loop;
* a non-finite mean or std for normal_ / trunc_normal_ is a ValueError (torch fills inf/NaN),
  and a truncation interval that holds no value of the dtype is a ValueError;
* torch tensors of dtypes the engine does not fill (integer, bool, complex) use torch's own
  kernels (``torch._C.TensorBase``, which patch mode never replaces): torch's results, torch's
  errors.

fastinit never calls ``torch.nn.init.*`` or ``Tensor.uniform_`` / ``Tensor.normal_``: under
:func:`fastinit.patch` those names are fastinit's own, and the call would recurse.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Optional, Sequence, TypeVar

# re-exported: torch's private helpers (mup, timm import them) and the engine's ones_ / zeros_
from ._fans import _calculate_correct_fan, _calculate_fan_in_and_fan_out  # noqa: F401
from ._fans import calculate_gain, correct_fan_for, fans_for, shape_of
from .._engine._fills import ones_, zeros_  # noqa: F401
from ._orthogonal import orthogonal_
from ._structured import dirac_, eye_, sparse_
from .._engine._torch_ops import traceable
from ._torch_compat import (  # noqa: F401
    _NOT_OVERRIDDEN,
    constant_,
    constant_impl,
    normal_,
    normal_impl,
    torch_function,
    trunc_normal,
    trunc_normal_,
    uniform_,
    uniform_impl,
)

T = TypeVar("T")
Shape = Optional[Sequence[int]]

__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "sparse_",
    # deprecated aliases, as torch keeps them
    "uniform",
    "normal",
    "constant",
    "eye",
    "dirac",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "orthogonal",
    "sparse",
]


# --- the private helpers other libraries import (mup, timm, ...) ----------------------------

@traceable
def _no_grad_uniform_(tensor: T, a: float, b: float, generator: Any = None, *,
                      seed: Optional[int] = None, global_shape: Shape = None,
                      global_offset: Shape = None) -> T:
    """:func:`uniform_` (torch's helper of the same name: ``tensor.uniform_`` under no_grad)."""
    return uniform_impl(tensor, a, b, generator, seed, global_shape, global_offset)


@traceable
def _no_grad_normal_(tensor: T, mean: float, std: float, generator: Any = None, *,
                     seed: Optional[int] = None, global_shape: Shape = None,
                     global_offset: Shape = None) -> T:
    """:func:`normal_` (torch's helper of the same name: ``tensor.normal_`` under no_grad)."""
    return normal_impl(tensor, mean, std, generator, seed, global_shape, global_offset)


@traceable
def _no_grad_trunc_normal_(tensor: T, mean: float, std: float, a: float, b: float,
                           generator: Any = None, *, seed: Optional[int] = None,
                           global_shape: Shape = None, global_offset: Shape = None) -> T:
    """:func:`trunc_normal_` with every parameter required (torch's helper)."""
    return trunc_normal(tensor, mean, std, a, b, generator, seed, global_shape, global_offset,
                        stacklevel=3)  # the user's line, above the traceable wrapper


@traceable
def _no_grad_fill_(tensor: T, val: float) -> T:
    """:func:`constant_` (torch's helper: ``tensor.fill_(val)`` under no_grad)."""
    return constant_impl(tensor, val)


@traceable
def _no_grad_zero_(tensor: T) -> T:
    """:func:`zeros_` (torch's helper: ``tensor.zero_()`` under no_grad)."""
    return zeros_(tensor)


# --- xavier / kaiming -----------------------------------------------------------------------

@traceable
def xavier_uniform_(tensor: T, gain: float = 1.0, generator: Any = None, *,
                    seed: Optional[int] = None, global_shape: Shape = None,
                    global_offset: Shape = None) -> T:
    r"""Glorot & Bengio (2010) uniform: U[-l, l) with

        std = gain * sqrt(2 / (fan_in + fan_out)),   l = sqrt(3) * std

    Fans of the tensor, or of ``global_shape`` for a shard. Fewer than 2 dims: ValueError; a
    (0, 0) tensor: ZeroDivisionError (as torch).
    """
    fan_in, fan_out = fans_for("xavier_uniform_", tensor, global_shape)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_impl(tensor, -a, a, generator, seed, global_shape, global_offset,
                        "xavier_uniform_")


@traceable
def xavier_normal_(tensor: T, gain: float = 1.0, generator: Any = None, *,
                   seed: Optional[int] = None, global_shape: Shape = None,
                   global_offset: Shape = None) -> T:
    r"""Glorot & Bengio (2010) normal: N(0, std²), untruncated, with

        std = gain * sqrt(2 / (fan_in + fan_out))

    Fans of the tensor, or of ``global_shape`` for a shard.
    """
    fan_in, fan_out = fans_for("xavier_normal_", tensor, global_shape)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_impl(tensor, 0.0, std, generator, seed, global_shape, global_offset,
                       "xavier_normal_")


def _kaiming_std(fn: str, tensor: Any, a: float, mode: str, nonlinearity: str,
                 global_shape: Shape) -> Optional[float]:
    """gain / sqrt(fan), or None (after torch's warning) for a zero-element tensor. A
    leaky_relu slope ``a`` of +-inf is a ValueError (torch fills zeros; NaN keeps torch's
    RuntimeError, as its bound or std is NaN)."""
    if 0 in shape_of(fn, tensor):
        # the user's line: above _kaiming_std, kaiming_*_ and its traceable wrapper
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=4)
        return None
    fan = correct_fan_for(fn, tensor, mode, global_shape)
    gain = calculate_gain(nonlinearity, a)
    if nonlinearity == "leaky_relu" and a is not None and math.isinf(a):
        raise ValueError(f"fastinit.{fn}: a (leaky_relu's negative slope) must be finite, "
                         f"got {a} (the bound would be 0)")
    return gain / math.sqrt(fan)


@traceable
def kaiming_uniform_(tensor: T, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator: Any = None, *,
                     seed: Optional[int] = None, global_shape: Shape = None,
                     global_offset: Shape = None) -> T:
    r"""He et al. (2015) uniform: U[-bound, bound) with

        std = gain / sqrt(fan),   bound = sqrt(3) * std,   gain = calculate_gain(nonlinearity, a)

    ``fan`` is fan_in or fan_out (``mode``, case-insensitive), of ``global_shape`` for a shard.
    ``a`` is leaky_relu's negative slope. The defaults give U[-sqrt(6/fan_in), sqrt(6/fan_in));
    ``nn.Linear`` uses a = sqrt(5): U[-1/sqrt(fan_in), 1/sqrt(fan_in)). A zero-element tensor
    warns "Initializing zero-element tensors is a no-op" and is returned unchanged.
    """
    out = torch_function(kaiming_uniform_, tensor, a=a, mode=mode, nonlinearity=nonlinearity,
                         generator=generator, seed=seed, global_shape=global_shape,
                         global_offset=global_offset)  # as torch: only this one of the four
    if out is not _NOT_OVERRIDDEN:
        return out
    std = _kaiming_std("kaiming_uniform_", tensor, a, mode, nonlinearity, global_shape)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_impl(tensor, -bound, bound, generator, seed, global_shape, global_offset,
                        "kaiming_uniform_")


@traceable
def kaiming_normal_(tensor: T, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator: Any = None, *,
                    seed: Optional[int] = None, global_shape: Shape = None,
                    global_offset: Shape = None) -> T:
    r"""He et al. (2015) normal: N(0, std²), untruncated, with

        std = gain / sqrt(fan),   gain = calculate_gain(nonlinearity, a)

    ``fan``, ``a``, ``mode`` and the zero-element warning as :func:`kaiming_uniform_`.
    """
    std = _kaiming_std("kaiming_normal_", tensor, a, mode, nonlinearity, global_shape)
    if std is None:
        return tensor
    return normal_impl(tensor, 0, std, generator, seed, global_shape, global_offset,
                       "kaiming_normal_")


# --- deprecated aliases (torch keeps them; each warns, then calls the new name) -------------

def _make_deprecate(meth: Callable[..., Any]) -> Callable[..., Any]:
    new_name = meth.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(
            f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.",
            FutureWarning,
            stacklevel=2,
        )
        return meth(*args, **kwargs)

    deprecated_init.__doc__ = (f"{old_name}(...)\n\n.. warning::\n    This method is now "
                               f"deprecated in favor of :func:`{new_name}`.\n\n"
                               f"See :func:`~fastinit.nn_init.{new_name}` for details.")
    deprecated_init.__name__ = old_name
    deprecated_init.__qualname__ = old_name
    return deprecated_init


uniform = _make_deprecate(uniform_)
normal = _make_deprecate(normal_)
constant = _make_deprecate(constant_)
eye = _make_deprecate(eye_)
dirac = _make_deprecate(dirac_)
xavier_uniform = _make_deprecate(xavier_uniform_)
xavier_normal = _make_deprecate(xavier_normal_)
kaiming_uniform = _make_deprecate(kaiming_uniform_)
kaiming_normal = _make_deprecate(kaiming_normal_)
orthogonal = _make_deprecate(orthogonal_)
sparse = _make_deprecate(sparse_)

"""TF1's initializers (uniform_unit_scaling, contrib variance_scaling, delta-orthogonal).

Re-exported by :mod:`fastinit.keras_init`; layouts and fans as described there (torch's
``(out, in, *kernel)`` by default). TF1 itself uses ``(*kernel, in, out)``; each function says
how its fan maps onto torch's layout.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Optional, TypeVar

import numpy as np

from .. import _core
from ._fans import fan_shape
from .._engine._fills import _fill, _number, zeros_
from .._engine._seeds import check_seed
from .._engine._targets import _dtype_error, is_float_target, is_torch_tensor
from ._orthogonal import as_target, orthogonal_matrix
from ._variance import Axes, Shape, _axes, compute_fans
from .._engine._torch_ops import traceable

T = TypeVar("T")

_TF1_MODES = ("FAN_IN", "FAN_OUT", "FAN_AVG")


@traceable
def uniform_unit_scaling_(tensor: T, factor: float = 1.0, *, out_axis: Optional[Axes] = None,
                          generator: Any = None, seed: Optional[int] = None,
                          global_shape: Shape = None, global_offset: Shape = None) -> T:
    """TF1's ``uniform_unit_scaling_initializer``: U[-l, l), l = sqrt(3 / fan_in) * factor.

    std sqrt(1 / fan_in) * factor. TF1 takes fan_in = product of every dimension but the
    last (its output axis), at least 1. On torch's layout that is every dimension but
    ``out_axis`` (default 0): ``in * prod(kernel)`` for a weight, 1 for a bias (out,) or a
    scalar; pass ``out_axis=-1`` for a TF-layout tensor. TF1's suggested factors: 1.0 for
    linear, ~1.43 for relu, ~1.15 for tanh.
    """
    fn = "uniform_unit_scaling_"
    f = _number(fn, "factor", factor)
    if f < 0:
        raise ValueError(f"fastinit.{fn}: factor must be >= 0, got {factor}")
    shape = fan_shape(fn, tensor, global_shape)
    outs = _axes(fn, "out_axis", 0 if out_axis is None else out_axis, len(shape)) if shape else ()
    if len(set(outs)) != len(outs):
        raise ValueError(f"fastinit.{fn}: out_axis={out_axis!r} names an axis twice")
    fan_in = max(1, math.prod(d for i, d in enumerate(shape) if i not in outs))
    limit = math.sqrt(3.0 / fan_in) * f
    return _fill(fn, tensor, _core.KIND_UNIFORM, [-limit, limit], generator, seed,
                 global_shape, global_offset)


@traceable
def variance_scaling_tf1_(tensor: T, factor: float = 2.0, mode: str = "FAN_IN",
                          uniform: bool = False, *, in_axis: Optional[Axes] = None,
                          out_axis: Optional[Axes] = None, generator: Any = None,
                          seed: Optional[int] = None, global_shape: Shape = None,
                          global_offset: Shape = None) -> T:
    """TF1 contrib's ``variance_scaling_initializer`` (its ``xavier_initializer`` is factor=1,
    mode='FAN_AVG').

    ``n`` = fan_in, fan_out or (fan_in + fan_out) / 2 for mode 'FAN_IN' / 'FAN_OUT' /
    'FAN_AVG' (upper case, as TF1; anything else is TF1's TypeError). ``uniform`` is a bool
    (TF1's contract; a str such as 'yes' is a TypeError). ``uniform=True``: U[-l, l),
    l = sqrt(3 factor / n), std sqrt(factor / n). Else N(0, s^2) cut at +-2 s with
    s = sqrt(1.3 factor / n), as TF1 (no division by .8796...: the std is
    1.3**0.5 * .87962566 = 1.00296 times sqrt(factor / n)).
    Fans as :func:`~fastinit.keras_init.compute_fans` (torch layout by default); a 1-D
    tensor has fan_in = fan_out = its length and a scalar 1, as TF1.
    """
    fn = "variance_scaling_tf1_"
    f = _number(fn, "factor", factor)
    if f < 0:
        raise ValueError(f"fastinit.{fn}: factor must be >= 0, got {factor}")
    if not isinstance(mode, str) or mode not in _TF1_MODES:
        hint = " (TF1's modes are upper case)" if isinstance(mode, str) and \
            mode.upper() in _TF1_MODES else ""
        raise TypeError(f"fastinit.{fn}: Unknown mode {mode} [FAN_IN, FAN_OUT, FAN_AVG]{hint}")
    if not isinstance(uniform, (bool, np.bool_)):
        raise TypeError(f"fastinit.{fn}: uniform must be a bool, got {uniform!r}")
    shape = fan_shape(fn, tensor, global_shape)
    fan_in: float
    fan_out: float
    if len(shape) <= 1 and in_axis is None and out_axis is None:
        fan_in = fan_out = shape[0] if shape else 1
    else:
        fan_in, fan_out = compute_fans(shape, in_axis, out_axis, fn=fn)
    n = max(1.0, {"FAN_IN": fan_in, "FAN_OUT": fan_out, "FAN_AVG": (fan_in + fan_out) / 2}[mode])
    if uniform:
        limit = math.sqrt(3.0 * f / n)
        kind, params = _core.KIND_UNIFORM, [-limit, limit]
    else:
        s = math.sqrt(1.3 * f / n)
        kind, params = _core.KIND_TRUNC_NORMAL, [0.0, s, -2.0 * s, 2.0 * s]
    return _fill(fn, tensor, kind, params, generator, seed, global_shape, global_offset)


@traceable
def delta_orthogonal_(tensor: T, gain: float = 1.0, generator: Any = None, *,
                      seed: Optional[int] = None) -> T:
    """Delta-orthogonal conv kernel (Xiao et al. 2018; JAX ``delta_orthogonal``, TF1
    ``ConvolutionDeltaOrthogonal``), torch layout ``(out, in, *kernel)``, 3-D to 5-D.

    Zero everywhere except the spatial centre ``(k - 1) // 2`` of each kernel dim, which
    holds ``gain * Q``, Q an (out x in) matrix with orthonormal columns (QᵀQ = I), the
    values :func:`fastinit.nn_init.orthogonal_` gives an (out, in) tensor of the same dtype
    (needs out >= in). A conv with it is an orthogonal map of the centre pixel: it preserves
    norms at initialization. A non-finite gain, or one that puts values past the dtype's
    largest finite value: ValueError.
    """
    fn = "delta_orthogonal_"
    shape = fan_shape(fn, tensor, None)
    if len(shape) not in (3, 4, 5):
        raise ValueError(f"fastinit.{fn}: Delta orthogonal initializer requires a 3D, 4D or "
                         f"5D shape (out, in, *kernel), got {len(shape)} dimensions")
    n_out, n_in = shape[0], shape[1]
    if n_out < n_in:
        raise ValueError(f"fastinit.{fn}: `fan_in` must be less or equal than `fan_out` "
                         f"(got in={n_in}, out={n_out} in the layout (out, in, *kernel))")
    g = _number(fn, "gain", gain)
    if not is_float_target(tensor):
        raise _dtype_error(fn, getattr(tensor, "dtype", type(tensor).__name__))
    if seed is not None:
        check_seed(seed, fn)  # the errors name this function, before anything is written
    if math.prod(shape) == 0 or (is_torch_tensor(tensor) and tensor.device.type == "meta"):
        return tensor
    w = as_target(orthogonal_matrix(fn, tensor, n_out, n_in, g, generator, seed), tensor)
    centre = (slice(None), slice(None)) + tuple((k - 1) // 2 for k in shape[2:])
    zeros_(tensor)
    if is_torch_tensor(tensor):
        with sys.modules["torch"].no_grad():
            tensor.detach()[centre] = w
        return tensor
    tensor[centre] = w  # type: ignore[index]
    return tensor

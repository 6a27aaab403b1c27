"""The Keras / JAX / TF1 initializer names, filled in place on torch's weight layout.

Layout. By default a weight is in torch's layout ``(out, in, *kernel)``: ``fan_in =
shape[1] * rf`` and ``fan_out = shape[0] * rf`` with ``rf`` the product of the kernel dims.
``in_axis=`` / ``out_axis=`` / ``batch_axis=`` (an int or a tuple of ints, as in JAX) describe
any other layout; JAX's rule then applies: ``in_size`` / ``out_size`` are the products of those
axes, ``rf`` the product of every other axis outside ``batch_axis``, ``fan_in = in_size * rf``,
``fan_out = out_size * rf``. A Keras/JAX HWIO kernel is ``in_axis=-2, out_axis=-1``. Pass both
axes for a non-torch layout: a missing one defaults to torch's (in 1, out 0). With
``global_shape=`` (a shard of a larger tensor), the fans are those of the global shape.

Distributions (``n`` the fan the mode selects, ``scale`` the variance scale):
- ``"truncated_normal"``: N(0, sigma^2) cut at +-2 sigma, sigma = sqrt(scale / n) /
  .87962566103423978, so that the std after truncation is sqrt(scale / n) (JAX, Keras).
- ``"normal"``: N(0, scale / n), untruncated (JAX; Keras' "untruncated_normal" is accepted).
- ``"uniform"``: U[-limit, limit), limit = sqrt(3 * scale / n), std sqrt(scale / n).

Values, seeds and sharding are those of the engine fills (docs/stream.md): each preset is one
call of uniform_ / normal_ / trunc_normal_ with the parameters above.
"""

from __future__ import annotations

import math
from typing import Any, Optional, TypeVar

from .._engine._fills import _number
from ._fans import fan_shape
# TF1's names live in _tf1_init; exported from here.
from ._tf1_init import delta_orthogonal_, uniform_unit_scaling_, variance_scaling_tf1_
from ._variance import TRUNC_STD, Axes, Shape, _draw, compute_fans
from .._engine._torch_ops import traceable

T = TypeVar("T")

_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
_DISTRIBUTIONS = ("truncated_normal", "normal", "untruncated_normal", "uniform")


def _fan(mode: str, fan_in: float, fan_out: float) -> float:
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
         "fan_geo_avg": math.sqrt(fan_in * fan_out)}[mode]
    return max(1.0, float(n))  # only a zero-element tensor has a zero fan (as Keras)


def _variance_scaling(fn: str, t: T, scale: float, mode: str, distribution: str,
                      in_axis: Optional[Axes], out_axis: Optional[Axes], batch_axis: Axes,
                      generator: Any, seed: Optional[int], global_shape: Shape,
                      global_offset: Shape) -> T:
    s = _number(fn, "scale", scale)
    if s <= 0:
        raise ValueError(
            f"fastinit.{fn}: Argument `scale` must be positive float. Received: scale={scale}"
        )
    m = mode.lower() if isinstance(mode, str) else mode
    if m not in _MODES:
        raise ValueError(f"fastinit.{fn}: invalid mode for variance scaling initializer: "
                         f"{mode} (expected one of {', '.join(_MODES)})")
    d = distribution.lower() if isinstance(distribution, str) else distribution
    if d not in _DISTRIBUTIONS:
        raise ValueError(f"fastinit.{fn}: invalid distribution for variance scaling "
                         f"initializer: {distribution} (expected one of "
                         f"{', '.join(_DISTRIBUTIONS)})")
    fan_in, fan_out = compute_fans(fan_shape(fn, t, global_shape), in_axis, out_axis, batch_axis,
                                   fn=fn)
    return _draw(fn, t, d, s / _fan(m, fan_in, fan_out), generator, seed, global_shape,
                 global_offset)


@traceable
def variance_scaling_(tensor: T, scale: float = 1.0, mode: str = "fan_in",
                      distribution: str = "truncated_normal", *,
                      in_axis: Optional[Axes] = None, out_axis: Optional[Axes] = None,
                      batch_axis: Axes = (), generator: Any = None, seed: Optional[int] = None,
                      global_shape: Shape = None, global_offset: Shape = None) -> T:
    """JAX's ``variance_scaling`` / Keras' ``VarianceScaling``, in place: std sqrt(scale / n).

    ``n`` is fan_in, fan_out, (fan_in + fan_out) / 2 or sqrt(fan_in * fan_out) for ``mode``
    "fan_in" / "fan_out" / "fan_avg" / "fan_geo_avg"; fans from torch's layout unless
    ``in_axis`` / ``out_axis`` / ``batch_axis`` say otherwise (module docstring).
    ``distribution``: "truncated_normal" (N(0, sigma^2) cut at +-2 sigma, sigma =
    sqrt(scale / n) / .87962566103423978), "normal" (untruncated, as JAX; Keras'
    "untruncated_normal" is the same) or "uniform" (U[-sqrt(3 scale / n), sqrt(3 scale / n))).
    """
    return _variance_scaling("variance_scaling_", tensor, scale, mode, distribution, in_axis,
                             out_axis, batch_axis, generator, seed, global_shape, global_offset)


@traceable
def he_normal_(tensor: T, *, in_axis: Optional[Axes] = None, out_axis: Optional[Axes] = None,
               batch_axis: Axes = (), generator: Any = None, seed: Optional[int] = None,
               global_shape: Shape = None, global_offset: Shape = None) -> T:
    """He normal (Keras ``HeNormal``, JAX ``he_normal``): std sqrt(2 / fan_in), truncated.

    Truncated at 2 std as in Keras and JAX (torch's ``kaiming_normal_`` is untruncated):
    N(0, sigma^2) cut at +-2 sigma, sigma = sqrt(2 / fan_in) / .87962566103423978, so the std
    of the values is sqrt(2 / fan_in). ``variance_scaling_(t, 2.0, "fan_in")``.
    """
    return _variance_scaling("he_normal_", tensor, 2.0, "fan_in", "truncated_normal", in_axis,
                             out_axis, batch_axis, generator, seed, global_shape, global_offset)


@traceable
def he_uniform_(tensor: T, *, in_axis: Optional[Axes] = None, out_axis: Optional[Axes] = None,
                batch_axis: Axes = (), generator: Any = None, seed: Optional[int] = None,
                global_shape: Shape = None, global_offset: Shape = None) -> T:
    """He uniform (Keras ``HeUniform``, JAX ``he_uniform``): U[-l, l), l = sqrt(6 / fan_in).

    std sqrt(2 / fan_in); torch's ``kaiming_uniform_(t)`` (a=0) has the same distribution.
    """
    return _variance_scaling("he_uniform_", tensor, 2.0, "fan_in", "uniform", in_axis,
                             out_axis, batch_axis, generator, seed, global_shape, global_offset)


@traceable
def glorot_normal_(tensor: T, *, in_axis: Optional[Axes] = None,
                   out_axis: Optional[Axes] = None, batch_axis: Axes = (),
                   generator: Any = None, seed: Optional[int] = None,
                   global_shape: Shape = None, global_offset: Shape = None) -> T:
    """Glorot normal (Keras ``GlorotNormal``, JAX ``glorot_normal``), truncated.

    std sqrt(2 / (fan_in + fan_out)). Truncated at 2 std as in Keras and JAX (torch's
    ``xavier_normal_`` is untruncated): N(0, sigma^2) cut at +-2 sigma,
    sigma = sqrt(2 / (fan_in + fan_out)) / .87962566103423978.
    """
    return _variance_scaling("glorot_normal_", tensor, 1.0, "fan_avg", "truncated_normal",
                             in_axis, out_axis, batch_axis, generator, seed, global_shape,
                             global_offset)


@traceable
def glorot_uniform_(tensor: T, *, in_axis: Optional[Axes] = None,
                    out_axis: Optional[Axes] = None, batch_axis: Axes = (),
                    generator: Any = None, seed: Optional[int] = None,
                    global_shape: Shape = None, global_offset: Shape = None) -> T:
    """Glorot uniform (Keras ``GlorotUniform``, JAX ``glorot_uniform``): U[-l, l).

    l = sqrt(6 / (fan_in + fan_out)), std sqrt(2 / (fan_in + fan_out)); torch's
    ``xavier_uniform_`` has the same distribution.
    """
    return _variance_scaling("glorot_uniform_", tensor, 1.0, "fan_avg", "uniform", in_axis,
                             out_axis, batch_axis, generator, seed, global_shape, global_offset)


@traceable
def lecun_normal_(tensor: T, *, in_axis: Optional[Axes] = None,
                  out_axis: Optional[Axes] = None, batch_axis: Axes = (),
                  generator: Any = None, seed: Optional[int] = None,
                  global_shape: Shape = None, global_offset: Shape = None) -> T:
    """LeCun normal (Keras ``LecunNormal``, JAX ``lecun_normal``): std sqrt(1 / fan_in).

    Truncated at 2 std as in Keras and JAX: N(0, sigma^2) cut at +-2 sigma,
    sigma = sqrt(1 / fan_in) / .87962566103423978.
    """
    return _variance_scaling("lecun_normal_", tensor, 1.0, "fan_in", "truncated_normal",
                             in_axis, out_axis, batch_axis, generator, seed, global_shape,
                             global_offset)


@traceable
def lecun_uniform_(tensor: T, *, in_axis: Optional[Axes] = None,
                   out_axis: Optional[Axes] = None, batch_axis: Axes = (),
                   generator: Any = None, seed: Optional[int] = None,
                   global_shape: Shape = None, global_offset: Shape = None) -> T:
    """LeCun uniform (Keras ``LecunUniform``, JAX ``lecun_uniform``): U[-l, l).

    l = sqrt(3 / fan_in), std sqrt(1 / fan_in).
    """
    return _variance_scaling("lecun_uniform_", tensor, 1.0, "fan_in", "uniform", in_axis,
                             out_axis, batch_axis, generator, seed, global_shape, global_offset)


__all__ = [
    "TRUNC_STD",
    "compute_fans",
    "delta_orthogonal_",
    "glorot_normal_",
    "glorot_uniform_",
    "he_normal_",
    "he_uniform_",
    "lecun_normal_",
    "lecun_uniform_",
    "uniform_unit_scaling_",
    "variance_scaling_",
    "variance_scaling_tf1_",
]

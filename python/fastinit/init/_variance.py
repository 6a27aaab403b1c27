"""What the Keras/JAX names and TF1's share: fans by JAX's rule and the variance-scaling draw.

:func:`compute_fans` (layouts as :mod:`fastinit.keras_init` describes them) serves
``keras_init`` and ``_tf1_init``; :func:`_draw`, one engine fill of a given variance, serves
``keras_init`` and timm's initializers under patch mode (``fastinit.models._timm_compat``).
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Tuple, TypeVar, Union

from .. import _core
from .._engine._fills import _fill

T = TypeVar("T")
Axes = Union[int, Sequence[int]]
Shape = Optional[Sequence[int]]

#: std of N(0, 1) truncated to [-2, 2] (JAX and Keras divide by it).
TRUNC_STD = 0.87962566103423978


def _axes(fn: str, name: str, axes: Axes, ndim: int) -> Tuple[int, ...]:
    bad = TypeError(f"fastinit.{fn}: {name} must be an int or a tuple of ints, got {axes!r}")
    try:
        items = (axes,) if isinstance(axes, int) else tuple(axes)
    except TypeError:
        raise bad from None
    out = []
    for a in items:
        if isinstance(a, bool) or not isinstance(a, int):
            raise bad
        if not -ndim <= a < ndim:
            raise ValueError(
                f"fastinit.{fn}: {name}={axes!r} is out of range for a {ndim}-dimensional tensor"
            )
        out.append(a % ndim)
    return tuple(out)


def compute_fans(shape: Sequence[int], in_axis: Optional[Axes] = None,
                 out_axis: Optional[Axes] = None, batch_axis: Axes = (),
                 *, fn: str = "compute_fans") -> Tuple[int, int]:
    """(fan_in, fan_out) of a weight of ``shape``, by JAX's rule (see :mod:`fastinit.keras_init`).

    Defaults are torch's layout, ``in_axis=1, out_axis=0``; ``in_axis=-2, out_axis=-1`` is
    JAX/Keras' (HWIO). Axes may be tuples (their sizes multiply) and must not overlap.
    """
    shape = tuple(int(d) for d in shape)
    ndim = len(shape)
    if in_axis is None and out_axis is None and ndim <= 1:
        raise ValueError(
            f"fastinit.{fn}: Can't compute input and output sizes of a {ndim}-dimensional "
            "weights tensor with default in_axis. Must be at least 2D or specify in_axis "
            "explicitly."
        )
    ins = _axes(fn, "in_axis", 1 if in_axis is None else in_axis, ndim)
    outs = _axes(fn, "out_axis", 0 if out_axis is None else out_axis, ndim)
    batch = _axes(fn, "batch_axis", batch_axis, ndim)
    used = ins + outs + batch
    if len(set(used)) != len(used):
        raise ValueError(
            f"fastinit.{fn}: in_axis={in_axis!r}, out_axis={out_axis!r} and "
            f"batch_axis={batch_axis!r} must name distinct axes of a {ndim}-dimensional tensor "
            "(use out_axis=() for a tensor with no output axis)"
        )
    rf = math.prod(d for i, d in enumerate(shape) if i not in used)
    return math.prod(shape[i] for i in ins) * rf, math.prod(shape[i] for i in outs) * rf


def _draw(fn: str, t: T, distribution: str, variance: float, generator: Any,
          seed: Optional[int], global_shape: Shape, global_offset: Shape) -> T:
    """One engine fill with zero mean and the given variance (after truncation)."""
    if distribution == "truncated_normal":
        sigma = math.sqrt(variance) / TRUNC_STD
        kind, params = _core.KIND_TRUNC_NORMAL, [0.0, sigma, -2.0 * sigma, 2.0 * sigma]
    elif distribution == "uniform":
        limit = math.sqrt(3.0 * variance)
        kind, params = _core.KIND_UNIFORM, [-limit, limit]
    else:
        kind, params = _core.KIND_NORMAL, [0.0, math.sqrt(variance)]
    return _fill(fn, t, kind, params, generator, seed, global_shape, global_offset)

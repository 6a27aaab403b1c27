"""timm's own initializers (``timm.layers.weight_init``) on fastinit, for patch mode.

timm draws a truncated normal as ``uniform_`` then ``erfinv_``, ``mul_``, ``add_``,
``clamp_``. Patch mode routes only the ``uniform_`` step on its own, and the inverse error
function of a float32 uniform near -1 gives values far out in the tail (about -100 sigma at
std 0.02, once per 2^24) before the clamp. So patch mode routes each of these functions whole
to an exact fastinit fill of the same distribution:

============================================  ===============================================
timm                                          fastinit
============================================  ===============================================
trunc_normal_(t, mean, std, a, b)             trunc_normal_(t, mean, std, a, b): bounds
                                              absolute, as torch's
trunc_normal_tf_(t, mean, std, a, b)          trunc_normal_(t, mean, std, mean + a*std,
                                              mean + b*std): bounds in units of std (TF/JAX)
variance_scaling_(t, scale, mode, dist)       var = scale / fan (fan_in, fan_out or their
                                              mean, torch's fans); dist "truncated_normal":
                                              trunc_normal_tf_ with std sqrt(var)/0.8796...;
                                              "normal": N(0, var); "uniform": U[-sqrt(3var),
                                              sqrt(3var))
lecun_normal_(t)                              variance_scaling_(t, 1, "fan_in",
                                              "truncated_normal")
============================================  ===============================================

Arguments these formulas do not cover (std <= 0, a >= b, an unknown mode or distribution,
non-numbers) go to timm's own function, so timm's behaviour and errors are kept.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional, Tuple

from ..init import nn_init
from ..init._variance import _draw

#: where timm defines them; patch mode routes these names there and wherever they were copied
MODULE = "timm.layers.weight_init"
NAMES: Tuple[str, ...] = ("trunc_normal_", "trunc_normal_tf_", "variance_scaling_",
                          "lecun_normal_")
_MODES = ("fan_in", "fan_out", "fan_avg")


def _reals(*xs: Any) -> Optional[Tuple[float, ...]]:
    out = []
    for x in xs:
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            return None
        if not math.isfinite(x):
            return None
        out.append(float(x))
    return tuple(out)


def _truncation(mean: Any, std: Any, a: Any, b: Any) -> Optional[Tuple[float, ...]]:
    """(mean, std, a, b) as floats where the formulas hold (std > 0, a < b), else None."""
    p = _reals(mean, std, a, b)
    return p if p is not None and p[1] > 0 and p[2] < p[3] else None


def _trunc_normal_(original: Callable[..., Any]) -> Callable[..., Any]:
    def trunc_normal_(tensor: Any, mean: float = 0., std: float = 1., a: float = -2.,
                      b: float = 2.) -> Any:
        p = _truncation(mean, std, a, b)
        if p is None:
            return original(tensor, mean, std, a, b)
        return nn_init.trunc_normal_(tensor, *p)

    return trunc_normal_


def _trunc_normal_tf_(original: Callable[..., Any]) -> Callable[..., Any]:
    def trunc_normal_tf_(tensor: Any, mean: float = 0., std: float = 1., a: float = -2.,
                         b: float = 2.) -> Any:
        p = _truncation(mean, std, a, b)
        if p is None:
            return original(tensor, mean, std, a, b)
        m, s, lo, hi = p
        return nn_init.trunc_normal_(tensor, m, s, m + lo * s, m + hi * s)

    return trunc_normal_tf_


def _variance_scaling(fn: str, tensor: Any, scale: float, mode: str, distribution: str) -> bool:
    """Fill as timm's variance_scaling_; False (nothing written) where timm's own must run.
    The variance from torch's fans (timm's), the draw as Keras's (init._variance._draw: the same
    three laws, TF's 0.8796 correction of the truncated normal)."""
    p = _reals(scale)
    if p is None or p[0] <= 0 or mode not in _MODES or distribution not in (
            "truncated_normal", "normal", "uniform") or tensor.dim() < 2:
        return False
    fan_in, fan_out = nn_init._calculate_fan_in_and_fan_out(tensor)
    denom = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    if denom <= 0:
        return False
    _draw(fn, tensor, distribution, p[0] / denom, None, None, None, None)
    return True


def _variance_scaling_(original: Callable[..., Any]) -> Callable[..., Any]:
    def variance_scaling_(tensor: Any, scale: float = 1.0, mode: str = "fan_in",
                          distribution: str = "normal") -> None:
        if not _variance_scaling("variance_scaling_", tensor, scale, mode, distribution):
            original(tensor, scale, mode, distribution)

    return variance_scaling_


def _lecun_normal_(original: Callable[..., Any]) -> Callable[..., Any]:
    def lecun_normal_(tensor: Any) -> None:
        if not _variance_scaling("lecun_normal_", tensor, 1.0, "fan_in", "truncated_normal"):
            original(tensor)

    return lecun_normal_


#: name -> factory(timm's original) -> fastinit's version with timm's signature
FACTORIES: Dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "trunc_normal_": _trunc_normal_,
    "trunc_normal_tf_": _trunc_normal_tf_,
    "variance_scaling_": _variance_scaling_,
    "lecun_normal_": _lecun_normal_,
}

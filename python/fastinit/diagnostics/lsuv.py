"""LSUV: layer-sequential unit-variance initialization (Mishkin & Matas, ICLR 2016).

``fastinit.lsuv_(model, batch, ...)`` follows ducha-aiki/LSUV-pytorch's ``LSUVinit``:

1. (``orthonormal=True``) every Linear / Conv (``_ConvNd``) weight gets
   ``fastinit.orthogonal_`` (Haar, trailing dims flattened) and its bias 0;
2. in forward order (the order of the layers' first calls on ``batch``), the layer's output on
   ``batch`` is measured (mean, population std, float64, over all elements) and, while
   ``|std - target_std| > tol`` and fewer than ``max_iters`` rescales were made, the layer is
   rescaled: ``coef = target_std / (std + 1e-8)``, ``W *= coef`` and, when it has a bias and
   ``target_mean`` is not None, ``b = coef * b + (target_mean - coef * mean)``.

The output is affine in ``(W, b)`` for a fixed input (earlier layers are done), so one rescale
maps it exactly to ``coef * y + (target_mean - coef * mean)``: std ``target_std``, mean
``target_mean``. The reference adds ``target_mean - coef * mean`` to ``b`` without scaling it,
which is the same thing when ``b = 0`` (after the orthonormal step) and exact here always.

Seeds: ``seed=s`` gives layer ``name`` the orthogonal fill ``orthogonal_(w, seed=k)``,
``k = stream_of(f"lsuv/{s}/{name}.weight")`` (SHA-256, :func:`fastinit.stream_of`), so a
layer's pre-init depends only on (s, its qualified name); ``seed=None`` draws from torch's
default generator (``torch.manual_seed`` makes it reproducible). Everything runs under
``torch.no_grad()`` in eval mode (Dropout off, BatchNorm statistics untouched); each module's
train/eval flag is restored afterwards. The forward pass stops at the measured layer.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Dict, List, Optional, Tuple

from .._engine._torch_required import require_torch
from .diagnose import _call
from .._engine.streams import stream_of


@dataclasses.dataclass
class LSUVLayer:
    """What :func:`lsuv_` did to one layer: ``iterations`` rescales, std before and after,
    ``scale`` the product of the factors applied to the weight."""

    name: str
    kind: str
    iterations: int
    initial_std: float
    final_std: float
    final_mean: float
    scale: float
    converged: bool


@dataclasses.dataclass
class LSUVReport:
    """The layers :func:`lsuv_` processed, in forward order; ``skipped``: layers never called."""

    rows: List[LSUVLayer]
    target_std: float
    tol: float
    skipped: List[str] = dataclasses.field(default_factory=list)

    def __str__(self) -> str:
        head = ["layer", "kind", "iters", "std before", "std after", "mean after", "scale", "ok"]
        body = [[r.name, r.kind, str(r.iterations), f"{r.initial_std:.4g}",
                 f"{r.final_std:.4g}", f"{r.final_mean:.3g}", f"{r.scale:.4g}",
                 "yes" if r.converged else "NO"] for r in self.rows]
        widths = [max(len(x) for x in col) for col in zip(head, *body)]
        lines = ["  ".join(x.ljust(w) for x, w in zip(line, widths)).rstrip()
                 for line in [head, ["-" * w for w in widths], *body]]
        lines.append(f"target std {self.target_std:g} +- {self.tol:g}")
        if self.skipped:
            lines.append("not called on the batch (left as they were): " + ", ".join(self.skipped))
        return "\n".join(lines)


class _Stop(Exception):
    """Raised by the measuring hook to end the forward pass at the measured layer."""


def _layer_seed(seed: int, name: str) -> int:
    return stream_of(f"lsuv/{seed}/{name}.weight")


def lsuv_(model: Any, batch: Any, *, target_std: float = 1.0, tol: float = 0.1,
          max_iters: int = 10, orthonormal: bool = True, seed: Optional[int] = None,
          target_mean: Optional[float] = 0.0) -> LSUVReport:
    """Layer-sequential unit-variance init of every Linear / Conv of ``model``, in place, from
    one ``batch`` (a tensor; a tuple is unpacked, a dict passed as keywords). Returns an
    :class:`LSUVReport`; warns (RuntimeWarning) for layers that did not reach the tolerance
    (unless ``max_iters=0``: the orthonormal step alone).
    See the module docstring for the algorithm, seeds and the bias rule."""
    torch = require_torch("fastinit.lsuv_")

    from ..init._orthogonal import orthogonal_  # noqa: PLC0415

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"fastinit.lsuv_: model must be a torch.nn.Module, "
                        f"got {type(model).__name__}")
    if not target_std > 0 or not tol >= 0:
        raise ValueError(f"fastinit.lsuv_: need target_std > 0 and tol >= 0, "
                         f"got {target_std} and {tol}")
    if isinstance(max_iters, bool) or not isinstance(max_iters, int) or max_iters < 0:
        raise ValueError(f"fastinit.lsuv_: max_iters must be an int >= 0, got {max_iters!r}")
    kinds = (torch.nn.Linear, torch.nn.modules.conv._ConvNd)
    layers: Dict[Any, str] = {m: n for n, m in model.named_modules() if isinstance(m, kinds)}
    if not layers:
        raise ValueError("fastinit.lsuv_: the model has no Linear or Conv layer to initialize")
    modes = {m: m.training for m in model.modules()}
    order: List[Any] = []
    stats: Dict[str, Tuple[float, float]] = {}

    def record_order(m: Any, _i: Any, out: Any) -> None:
        if m in order:
            return
        order.append(m)
        # checked before any weight changes: a std needs values, and finite ones
        if out.numel() < 2:
            what = f"{out.numel()} output value(s)"
        elif not bool(torch.isfinite(out).all()):
            what = "non-finite outputs"
        else:
            return
        raise ValueError(f"fastinit.lsuv_: layer {layers[m] or '(model)'} gives {what} on this "
                         f"batch; LSUV needs outputs with a finite std")

    def measure(m: Any, _i: Any, out: Any) -> None:
        y = out.detach().double()
        stats["y"] = (float(y.std(correction=0)), float(y.mean()))
        raise _Stop

    def run(m: Any) -> Tuple[float, float]:
        h = m.register_forward_hook(measure)
        try:
            _call(model, batch)
        except _Stop:
            pass
        finally:
            h.remove()
        return stats.pop("y")

    model.eval()
    try:
        with torch.no_grad():
            handles = [m.register_forward_hook(record_order) for m in layers]
            try:
                _call(model, batch)
            finally:
                for h in handles:
                    h.remove()
            if orthonormal:
                for m in order:
                    k = None if seed is None else _layer_seed(seed, layers[m])
                    orthogonal_(m.weight, seed=k)
                    if m.bias is not None:
                        m.bias.zero_()
            rows = [_fit(m, layers[m], run, target_std, tol, max_iters, target_mean)
                    for m in order]
    finally:
        for m, training in modes.items():
            m.train(training)  # restores this module's flag (children follow in the loop)
    bad = [r.name for r in rows if not r.converged]
    if bad and max_iters > 0:  # max_iters=0 asks for the orthonormal step alone
        warnings.warn(f"fastinit.lsuv_: {len(bad)} layer(s) did not reach std {target_std} +- "
                      f"{tol}: {', '.join(bad)}", RuntimeWarning, stacklevel=2)
    return LSUVReport(rows, target_std, tol, [n for m, n in layers.items() if m not in order])


def _fit(m: Any, name: str, run: Any, target_std: float, tol: float, max_iters: int,
         target_mean: Optional[float]) -> LSUVLayer:
    """Rescale one layer until its output std is within ``tol`` of ``target_std``."""
    std, mean = run(m)
    first, scale, iters = std, 1.0, 0
    while abs(std - target_std) > tol and iters < max_iters and std > 1e-12:
        coef = target_std / (std + 1e-8)
        m.weight.mul_(coef)
        if m.bias is not None and target_mean is not None:
            m.bias.mul_(coef).add_(target_mean - coef * mean)
        scale *= coef
        iters += 1
        std, mean = run(m)
    ok = abs(std - target_std) <= tol
    return LSUVLayer(name, type(m).__name__, iters, first, std, mean, scale, ok)


__all__ = ["lsuv_", "LSUVReport", "LSUVLayer"]

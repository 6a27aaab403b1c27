"""See what an initialization does: per-layer activation and gradient statistics of one batch.

``fastinit.diagnose(model, batch, loss_fn=None, *, plot=None)`` runs ``model`` on ``batch``
once (and, with ``loss_fn(output) -> scalar``, one backward pass through
``torch.autograd.grad``) with forward hooks on every Linear / Conv (``_ConvNd``) and activation
module, and returns a :class:`Report` with one :class:`LayerStats` row per module call, in
forward order. The model is left as it was: hooks removed, train/eval mode untouched, ``.grad``
never written (``autograd.grad`` returns the gradients instead of accumulating them), and
buffers (BatchNorm running statistics) restored after the forward pass.

Statistics (float64, over every element of the module's output, batch included):

* ``mean``, ``std`` (population std, ``correction=0``);
* ``saturated``: Tanh ``|y| > 0.99``, Sigmoid ``y < 0.01 or y > 0.99`` (None for others);
* ``dead``: ReLU / ReLU6 outputs exactly 0 (None for others);
* ``out_grad_norm``: the 2-norm of d loss / d output, whole batch (with ``loss_fn``);
* ``grad_norms``: the 2-norm of d loss / d parameter, for the module's own parameters.

Flags (the thresholds are the module constants below):

* ``vanishing`` / ``exploding``: ``std / input_std`` below :data:`VANISHING_RATIO` (1e-2) or
  above :data:`EXPLODING_RATIO` (1e2), ``input_std`` being the std of the batch (1.0 when the
  batch holds no floating tensor, e.g. token ids): two orders of magnitude of signal lost or
  gained on the way;
* ``vanishing-grad`` / ``exploding-grad``: ``out_grad_norm`` relative to the ``out_grad_norm``
  of the last hooked call (the one nearest the loss) below 1e-2 or above 1e2 (the norm, not
  the RMS, so that a wide layer is not flagged for spreading the same gradient over more units);
* ``saturated``: saturated fraction above :data:`SATURATED_FRACTION` (0.5);
* ``dead``: dead fraction at least :data:`DEAD_FRACTION` (0.9);
* ``non-finite``: a NaN or inf in the output.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Tuple

from .._engine._torch_required import require_torch
from ._report import LayerStats, Report

#: activation std / input std below this: "vanishing" (also used for gradients)
VANISHING_RATIO = 1e-2
#: activation std / input std above this: "exploding" (also used for gradients)
EXPLODING_RATIO = 1e2
#: fraction of saturated Tanh / Sigmoid outputs above which a layer is flagged "saturated"
SATURATED_FRACTION = 0.5
#: fraction of ReLU outputs that are exactly 0 at or above which a layer is flagged "dead"
DEAD_FRACTION = 0.9

_ACTIVATIONS = (
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU",
    "Mish", "Tanh", "Sigmoid", "Hardtanh", "Hardsigmoid", "Hardswish", "Softplus", "Softsign",
    "Tanhshrink", "LogSigmoid",
)


def _watched(torch: Any, m: Any) -> bool:
    nn = torch.nn
    return isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)) or \
        type(m).__name__ in _ACTIVATIONS


def _first_float(torch: Any, x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x if x.is_floating_point() else None
    items = x.values() if isinstance(x, dict) else x if isinstance(x, (list, tuple)) else []
    for item in items:
        found = _first_float(torch, item)
        if found is not None:
            return found
    return None


def _call(model: Any, batch: Any) -> Any:
    if isinstance(batch, dict):
        return model(**batch)
    if isinstance(batch, (list, tuple)):
        return model(*batch)
    return model(batch)


def diagnose(model: Any, batch: Any, loss_fn: Optional[Callable[[Any], Any]] = None, *,
             plot: Optional[str] = None) -> Report:
    """Run ``model(batch)`` (a tuple is unpacked, a dict passed as keywords) with hooks and
    report per-layer statistics; with ``loss_fn(output) -> scalar`` also gradients. ``plot``:
    a path to save a PNG of the statistics (needs matplotlib). See the module docstring."""
    torch = require_torch("fastinit.diagnose")

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"fastinit.diagnose: model must be a torch.nn.Module, "
                        f"got {type(model).__name__}")
    x = _first_float(torch, batch)
    if x is not None and x.numel() == 0:
        raise ValueError(f"fastinit.diagnose: the batch is empty (shape {tuple(x.shape)})")
    input_std = float(x.detach().double().std(correction=0)) if x is not None else 1.0
    names = {m: n or "<root>" for n, m in model.named_modules()}
    rows: List[LayerStats] = []
    outputs: List[Any] = []
    calls: Dict[str, int] = {}

    def hook(m: Any, _inp: Any, out: Any) -> None:
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            return
        calls[names[m]] = calls.get(names[m], 0) + 1
        n = calls[names[m]]
        y = out.detach().double()
        kind = type(m).__name__
        row = LayerStats(names[m] if n == 1 else f"{names[m]}#{n}", kind, tuple(out.shape),
                         float(y.mean()), float(y.std(correction=0)))
        if kind == "Tanh":
            row.saturated = float((y.abs() > 0.99).double().mean())
        elif kind == "Sigmoid":
            row.saturated = float(((y < 0.01) | (y > 0.99)).double().mean())
        elif kind in ("ReLU", "ReLU6"):
            row.dead = float((y == 0).double().mean())
        if not bool(torch.isfinite(y).all()):
            row.flags.append("non-finite")
        rows.append(row)
        outputs.append((m, out))

    buffers = {k: b.detach().clone() for k, b in model.named_buffers()}
    handles = [m.register_forward_hook(hook) for m in model.modules() if _watched(torch, m)]
    loss_value: Optional[float] = None
    try:
        with torch.enable_grad() if loss_fn is not None else torch.no_grad():
            out = _call(model, batch)
            if loss_fn is not None:
                loss = loss_fn(out)
                if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                    got = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
                    raise ValueError(f"fastinit.diagnose: loss_fn must return a scalar tensor "
                                     f"(one element, with a graph to the model), got {got}")
                loss_value = float(loss.detach())
                _gradients(torch, loss, rows, outputs)
    finally:
        for h in handles:
            h.remove()
        with torch.no_grad():
            for k, b in model.named_buffers():
                if k in buffers:
                    b.copy_(buffers[k])
    _flag(rows, input_std)
    report = Report(rows, input_std, loss_value)
    if plot is not None:
        from ._plots import plot_report  # noqa: PLC0415 - matplotlib is optional

        plot_report(report, plot)
    return report


def _gradients(torch: Any, loss: Any, rows: List[LayerStats], outputs: List[Any]) -> None:
    """out_grad_norm of every hooked output and grad_norms of the hooked modules' own parameters,
    through ``torch.autograd.grad`` (no ``.grad`` is written)."""
    params: List[Tuple[int, str, Any]] = []
    for i, (m, _) in enumerate(outputs):
        if rows[i].name.partition("#")[2]:  # a second call of a module: parameters done
            continue
        params += [(i, k, p) for k, p in m.named_parameters(recurse=False) if p.requires_grad]
    outs = [(i, o) for i, (_, o) in enumerate(outputs) if o.requires_grad]
    wrt = [p for _, _, p in params] + [o for _, o in outs]
    if not wrt:
        return
    grads = torch.autograd.grad(loss, wrt, allow_unused=True)
    for (i, k, _), g in zip(params, grads[:len(params)]):
        rows[i].grad_norms[k] = 0.0 if g is None else float(g.detach().double().norm())
    for (i, o), g in zip(outs, grads[len(params):]):
        rows[i].out_grad_norm = 0.0 if g is None else float(g.detach().double().norm())


def _flag(rows: List[LayerStats], input_std: float) -> None:
    ref = input_std if input_std > 0 else 1.0
    last_grad = next((r.out_grad_norm for r in reversed(rows) if r.out_grad_norm), None)
    for r in rows:
        ratio = r.std / ref
        if ratio < VANISHING_RATIO:
            r.flags.append("vanishing")
        elif ratio > EXPLODING_RATIO or math.isinf(r.std):
            r.flags.append("exploding")
        if r.out_grad_norm is not None and last_grad:
            g = r.out_grad_norm / last_grad
            if g < VANISHING_RATIO:
                r.flags.append("vanishing-grad")
            elif g > EXPLODING_RATIO:
                r.flags.append("exploding-grad")
        if r.saturated is not None and r.saturated > SATURATED_FRACTION:
            r.flags.append("saturated")
        if r.dead is not None and r.dead >= DEAD_FRACTION:
            r.flags.append("dead")


__all__ = ["diagnose", "Report", "LayerStats", "VANISHING_RATIO", "EXPLODING_RATIO",
           "SATURATED_FRACTION", "DEAD_FRACTION"]

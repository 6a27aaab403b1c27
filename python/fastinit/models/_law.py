"""Does a tensor's new value follow the law of the value it holds?

``init_module`` re-runs a built model's init code. Where the model's construction set values
that code does not give again (timm's EfficientNet initializes only inside ``__init__``; a
RegNet zeroes its last norm there), re-running it would silently change the law of those
tensors. Before writing anything, ``init_module`` computes what it would write and compares it
with what each tensor holds, by the rule the oracle matrix applies to whole models:

* integer tensors: equal;
* no non-finite value where the held tensor has none;
* a held constant: the same constant;
* a 2-D tensor: the same rows all zero (padding rows);
* otherwise, from 64 elements on, the std within 20% (or ``5 / sqrt(n)``: two samples' std
  ratio has a standard error of about ``1 / sqrt(n)``, more for skewed laws) and the mean
  within ``6 std / sqrt(n)``. Fewer elements cannot tell two laws apart reliably (a
  log-uniform of 8 values easily doubles its std): refusing on noise would be as wrong as
  missing a change.

Values are compared in float64 on the CPU.
"""

from __future__ import annotations

import math
from typing import Any, Optional


_STATISTICS_FROM = 64


def law_difference(held: Any, new: Any) -> Optional[str]:
    """Why ``new`` does not follow the law of ``held`` (one short phrase), or None."""
    import torch  # noqa: PLC0415

    held, new = held.detach().cpu(), new.detach().cpu()
    if not held.is_floating_point():
        return None if torch.equal(held, new) else "other values"
    h, g = held.double().flatten(), new.double().flatten()
    n = h.numel()
    if n == 0:
        return None
    if torch.isfinite(h).all() and not torch.isfinite(g).all():
        return "non-finite values"
    if torch.all(h == h[0]):
        if torch.all(g == h[0]):
            return None
        return f"holds the constant {h[0].item():.6g}, would get {_describe(g)}"
    if held.dim() == 2:
        rows = (held == 0).all(dim=1)
        if not torch.equal((new == 0).all(dim=1), rows):
            return (f"{int(rows.sum())} zero rows held, {int((new == 0).all(dim=1).sum())} "
                    f"would be")
    if n < _STATISTICS_FROM:
        return None
    sh, sg = h.std().item(), g.std().item()
    tol = max(0.2, 5.0 / math.sqrt(n))
    if not (sh > 0 and abs(sg / sh - 1) <= tol):
        return f"holds std {sh:.4g}, would get std {sg:.4g}"
    if abs(g.mean().item() - h.mean().item()) > 6 * sh / math.sqrt(n) + 1e-12:
        return f"holds mean {h.mean().item():.4g}, would get mean {g.mean().item():.4g}"
    return None


def _describe(x: Any) -> str:
    import torch  # noqa: PLC0415

    if torch.all(x == x[0]):
        return f"the constant {x[0].item():.6g}"
    return f"std {x.std().item():.4g}, mean {x.mean().item():.4g}"


__all__ = ["law_difference"]

"""What :func:`fastinit.diagnose` returns: a :class:`Report` of :class:`LayerStats` rows.

Its own module, below ``diagnose`` (which fills it) and ``_plots`` (which draws it).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Tuple


@dataclasses.dataclass
class LayerStats:
    """Statistics of one module call (:mod:`fastinit.diagnose` defines them)."""

    name: str
    kind: str
    shape: Tuple[int, ...]
    mean: float
    std: float
    saturated: Optional[float] = None
    dead: Optional[float] = None
    out_grad_norm: Optional[float] = None
    grad_norms: Dict[str, float] = dataclasses.field(default_factory=dict)
    flags: List[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Report:
    """What :func:`fastinit.diagnose` measured: ``rows`` in forward order, ``input_std`` the
    reference."""

    rows: List[LayerStats]
    input_std: float
    loss: Optional[float] = None

    @property
    def flagged(self) -> List[LayerStats]:
        """The rows with at least one flag."""
        return [r for r in self.rows if r.flags]

    def as_dicts(self) -> List[Dict[str, Any]]:
        """The rows as plain dicts (for pandas, JSON, ...)."""
        return [dataclasses.asdict(r) for r in self.rows]

    def __str__(self) -> str:
        def num(x: Optional[float], fmt: str = ".3g") -> str:
            return "-" if x is None else format(x, fmt)

        head = ["layer", "kind", "mean", "std", "sat", "dead", "out grad", "param grad norms",
                "flags"]
        body = [[r.name, r.kind, num(r.mean), num(r.std), num(r.saturated, ".2f"),
                 num(r.dead, ".2f"), num(r.out_grad_norm),
                 " ".join(f"{k}={v:.3g}" for k, v in r.grad_norms.items()) or "-",
                 ",".join(r.flags) or "ok"] for r in self.rows]
        widths = [max(len(x) for x in col) for col in zip(head, *body)]
        lines = ["  ".join(x.ljust(w) for x, w in zip(line, widths)).rstrip()
                 for line in [head, ["-" * w for w in widths], *body]]
        tail = f"input std {self.input_std:.4g}"
        if self.loss is not None:
            tail += f", loss {self.loss:.4g}"
        return "\n".join(lines + [tail, f"{len(self.flagged)} of {len(self.rows)} flagged"])

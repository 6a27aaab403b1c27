"""PNG plots for :func:`fastinit.diagnose` (matplotlib is optional: imported here only).

Uses matplotlib's object API (``matplotlib.figure.Figure``), never pyplot, so it works headless
and leaves the user's backend and open figures alone.
"""

from __future__ import annotations

import math
from typing import Any, List, Optional

from ._report import Report


def require_matplotlib(what: str) -> Any:
    """``matplotlib.figure.Figure``, or an ImportError that says what needed it."""
    try:
        from matplotlib.figure import Figure  # noqa: PLC0415
    except ImportError as e:
        raise ImportError(f"{what} needs matplotlib to write a PNG: pip install matplotlib "
                          f"(or leave plot=None)") from e
    return Figure


def _positive(xs: List[Optional[float]]) -> List[float]:
    return [x if x is not None and x > 0 and math.isfinite(x) else math.nan for x in xs]


def plot_report(report: "Report", path: str) -> None:
    """Three panels over the hooked calls in forward order: activation std (log), saturated /
    dead fraction, and output-gradient norm (log, when a loss was given); flagged calls red."""
    Figure = require_matplotlib("fastinit.diagnose(plot=...)")
    rows = report.rows
    xs = list(range(len(rows)))
    has_grad = any(r.out_grad_norm is not None for r in rows)
    fig = Figure(figsize=(max(6.0, 0.25 * len(rows) + 3), 8 if has_grad else 5.5),
                 layout="constrained")
    axes = fig.subplots(3 if has_grad else 2, 1, sharex=True)
    # red: a flag about what the panel shows (activation flags on top, gradient flags below)
    colors = ["tab:red" if set(r.flags) - {"vanishing-grad", "exploding-grad"} else "tab:blue"
              for r in rows]
    grad_colors = ["tab:red" if {"vanishing-grad", "exploding-grad"} & set(r.flags)
                   else "tab:blue" for r in rows]

    ax = axes[0]
    ax.plot(xs, _positive([r.std for r in rows]), color="0.6", lw=1, zorder=1)
    ax.scatter(xs, _positive([r.std for r in rows]), c=colors, s=18, zorder=2)
    ax.axhline(report.input_std, color="0.3", ls="--", lw=0.8, label="input std")
    ax.set_yscale("log")
    ax.set_ylabel("activation std")
    ax.legend(loc="best", fontsize=8)
    ax.set_title("fastinit.diagnose (red: flagged)")

    ax = axes[1]
    sat = [r.saturated if r.saturated is not None else 0.0 for r in rows]
    dead = [r.dead if r.dead is not None else 0.0 for r in rows]
    ax.bar(xs, sat, color="tab:orange", label="saturated (tanh/sigmoid)")
    ax.bar(xs, dead, bottom=sat, color="0.25", label="dead (ReLU == 0)")
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction")
    ax.legend(loc="best", fontsize=8)

    if has_grad:
        ax = axes[2]
        g = _positive([r.out_grad_norm for r in rows])
        ax.plot(xs, g, color="0.6", lw=1, zorder=1)
        ax.scatter(xs, g, c=grad_colors, s=18, zorder=2)
        ax.set_yscale("log")
        ax.set_ylabel("|d loss / d output|")
    axes[-1].set_xticks(xs)
    axes[-1].set_xticklabels([f"{r.name} ({r.kind})" for r in rows], rotation=90, fontsize=7)
    fig.savefig(path, dpi=110)

"""The classic initialization experiment, end to end with fastinit.

A 3-layer ReLU network (2 -> 10 -> 5 -> 1, sigmoid output, binary cross-entropy) trained by
plain full-batch gradient descent (lr 0.01, 15,000 iterations) on two noisy concentric
circles (300 training and 100 test points, noise 0.05, generated here as sklearn's
make_circles does), once per initialization of the weights (biases 0 throughout):

    zeros, standard normal, normal x10, normal /10, He, Xavier, LeCun, orthogonal, LSUV

The inner circle's radius is sklearn's default ``factor=0.8``, which the classic used
(``make_circles(n_samples=300, noise=.05)``). With ``--factor 0.5`` the task is too easy to
tell inits apart: everything that breaks symmetry, ``/10`` included, reaches 100%.
Single runs vary with the seed (x10: 72% to 96% train over seeds 0..4): ``--seeds K``
reports the mean and range of K runs.

The inits: ``fastinit.normal_`` (std 1, 10, 0.1); He = ``nn_init.kaiming_normal_`` (ReLU
gain, fan_in, untruncated: the classic's ``randn * sqrt(2 / n_prev)``); Xavier =
``nn_init.xavier_normal_``; LeCun = ``fastinit.lecun_normal_`` (Keras: truncated at 2 std,
std-corrected); ``nn_init.orthogonal_`` (gain 1); LSUV = ``fastinit.lsuv_`` on the training
set (orthonormal, then each layer's output std set to 1 and mean to 0).

Prints train / test accuracy and the final cost per init, and writes cost curves and decision
boundaries as PNGs to --out (default examples/out/) when matplotlib is installed.

    python examples/init_experiment.py            # full run: about 50 s of one core's time
    python examples/init_experiment.py --quick    # 1,500 iterations, for smoke tests

Measured on a 2-core VM: 46-52 s of CPU time (one thread; each init 4-8 s of 15,000 tiny
steps, paced by torch's per-operation overhead, not arithmetic), 57 s of wall time when the
machine was otherwise idle and up to 5 minutes while other jobs shared its cores.

On a terminal each init shows its progress until its row is printed.

The cost is computed from the logits (``BCEWithLogitsLoss``: the same value and gradient
``sigmoid(z) - y`` as the textbook ``-y log a - (1 - y) log(1 - a)``, without its inf / NaN when
x10 weights saturate the sigmoid). Float64, one thread, fixed seeds: the run is reproducible.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Callable, Dict, List, Tuple

import numpy as np
import torch

import fastinit
from fastinit import nn_init

Tensor = torch.Tensor
INITS: Dict[str, Callable[[Tensor, int], object]] = {
    "zeros": lambda w, s: fastinit.zeros_(w),
    "normal": lambda w, s: fastinit.normal_(w, seed=s),
    "normal x10": lambda w, s: fastinit.normal_(w, std=10.0, seed=s),
    "normal /10": lambda w, s: fastinit.normal_(w, std=0.1, seed=s),
    "He": lambda w, s: nn_init.kaiming_normal_(w, nonlinearity="relu", seed=s),
    "Xavier": lambda w, s: nn_init.xavier_normal_(w, seed=s),
    "LeCun": lambda w, s: fastinit.lecun_normal_(w, seed=s),
    "orthogonal": lambda w, s: nn_init.orthogonal_(w, seed=s),
    "LSUV": lambda w, s: w,  # lsuv_ does the whole model (orthonormal + rescaling)
}


def make_circles(n: int, noise: float, factor: float, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """sklearn.datasets.make_circles (shuffled): n // 2 points on the unit circle (label 0),
    the rest on a circle of radius ``factor`` (label 1), plus N(0, noise²) on each coordinate."""
    rng = np.random.default_rng(seed)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    x = np.vstack([np.c_[np.cos(t_out), np.sin(t_out)],
                   factor * np.c_[np.cos(t_in), np.sin(t_in)]])
    y = np.hstack([np.zeros(n_out), np.ones(n_in)])
    perm = rng.permutation(n)
    x, y = x[perm], y[perm]
    return x + rng.normal(scale=noise, size=x.shape), y


def build(init: str, x: Tensor, seed: int) -> torch.nn.Sequential:
    """The 2-10-5-1 net: weights from ``init`` (layer k seeded ``100 seed + k``), biases 0."""
    model = torch.nn.Sequential(
        torch.nn.Linear(2, 10), torch.nn.ReLU(), torch.nn.Linear(10, 5), torch.nn.ReLU(),
        torch.nn.Linear(5, 1)).double()
    with torch.no_grad():
        for k, layer in enumerate(m for m in model if isinstance(m, torch.nn.Linear)):
            INITS[init](layer.weight, 100 * seed + k)
            fastinit.zeros_(layer.bias)
        if init == "LSUV":
            fastinit.lsuv_(model, x, seed=seed)
    return model


def train(model: torch.nn.Module, x: Tensor, y: Tensor, iters: int, lr: float,
          every: int, progress: Callable[[int], None] = lambda i: None) -> List[float]:
    """Full-batch gradient descent; returns the cost at iterations 0, every, 2 every, ...
    (``progress(i)`` is called at each of them)."""
    loss_fn = torch.nn.BCEWithLogitsLoss()
    params = list(model.parameters())
    costs: List[float] = []
    for i in range(iters + 1):
        loss = loss_fn(model(x).squeeze(1), y)
        if i % every == 0 or i == iters:
            costs.append(float(loss.detach()))
            progress(i)
        if i == iters:
            break
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(lr * g)
    return costs


def accuracy(model: torch.nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float(((model(x).squeeze(1) > 0).double() == y).double().mean())


def plot(results: Dict[str, dict], xs: Tuple[Tensor, Tensor], out: str, every: int) -> None:
    """cost_curves.png and decision_boundaries.png in ``out``; a message without matplotlib."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch
    except ImportError:
        print("matplotlib is not installed: no plots (pip install matplotlib)")
        return
    os.makedirs(out, exist_ok=True)
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    for name, r in results.items():
        # zeros and normal /10 both stay near log 2: zeros goes on top, dotted and black, so
        # that neither hides the other
        on_top = dict(ls=(0, (1, 3)), lw=2.5, color="black", zorder=3) if name == "zeros" else {}
        ax.plot([i * every for i in range(len(r["costs"]))], r["costs"], label=name, **on_top)
    ax.set(yscale="log", xlabel="iteration", ylabel="cost (binary cross-entropy)",
           title="2-10-5-1 ReLU net on circles: cost per initialization")
    ax.legend(fontsize=8, ncol=3, title="init (zeros: dotted, drawn on top)",
              title_fontsize=8)
    fig.savefig(os.path.join(out, "cost_curves.png"), dpi=110)

    x_train, y_train = xs
    g = np.linspace(-1.5, 1.5, 241)
    gx, gy = np.meshgrid(g, g)
    grid = torch.from_numpy(np.c_[gx.ravel(), gy.ravel()])
    cols = 3
    rows = math.ceil(len(results) / cols)
    fig = Figure(figsize=(3.2 * cols, 3.2 * rows + 0.8), layout="constrained")
    grid_spec = fig.add_gridspec(rows + 1, cols, height_ratios=[1.0] * rows + [0.2])
    panels = [fig.add_subplot(grid_spec[i // cols, i % cols]) for i in range(len(results))]
    colors = {0: ("#f4c6c6", "red"), 1: ("#c6d8f4", "blue")}  # label: (region, points)
    for ax, (name, r) in zip(panels, results.items()):
        with torch.no_grad():
            z = (r["model"](grid).squeeze(1) > 0).double().numpy().reshape(gx.shape)
        ax.contourf(gx, gy, z, levels=[-0.5, 0.5, 1.5], colors=[colors[0][0], colors[1][0]])
        for label, (_, point) in colors.items():
            on = y_train == label
            ax.scatter(x_train[on, 0], x_train[on, 1], color=point, s=6)
        ax.set(title=f"{name}: train {r['train'][0]:.0%}, test {r['test'][0]:.0%}", xticks=[],
               yticks=[], aspect="equal")
        ax.title.set_fontsize(9)
    fig.suptitle(f"Decision boundaries after {r['iters']} steps of gradient descent, "
                 f"one network per init (first seed)")
    key = fig.add_subplot(grid_spec[rows, :])
    key.axis("off")
    key.legend(handles=[
        Line2D([], [], ls="", marker="o", ms=4, color=colors[0][1],
               label="training point, outer circle (label 0)"),
        Line2D([], [], ls="", marker="o", ms=4, color=colors[1][1],
               label="training point, inner circle (label 1)"),
        Patch(color=colors[0][0], label="predicted outer (0)"),
        Patch(color=colors[1][0], label="predicted inner (1)"),
    ], loc="center", ncol=2, fontsize=9, frameon=False)
    fig.savefig(os.path.join(out, "decision_boundaries.png"), dpi=110)
    print(f"plots: {os.path.join(out, 'cost_curves.png')}, "
          f"{os.path.join(out, 'decision_boundaries.png')}")


def run(name: str, data: Tuple[Tensor, ...], seeds: List[int], iters: int, lr: float,
        every: int, show_progress: bool) -> dict:
    """Train one init once per seed; the first seed's model and costs are kept for the plots."""
    x, y, xt, yt = data
    r: dict = {"train": [], "test": [], "cost": []}
    for j, s in enumerate(seeds):
        def progress(i: int) -> None:
            if show_progress:  # overwritten in place, then by the init's row
                run_of = f"run {j + 1}/{len(seeds)}, " if len(seeds) > 1 else ""
                print(f"\r{name:<11} {run_of}iteration {i}/{iters}", end="", flush=True)

        model = build(name, x, s)
        costs = train(model, x, y, iters, lr, every, progress)
        r["train"].append(accuracy(model, x, y))
        r["test"].append(accuracy(model, xt, yt))
        r["cost"].append(costs[-1])
        r.setdefault("model", model)
        r.setdefault("costs", costs)
        r["iters"] = iters
    return r


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iters", type=int, default=15000, help="gradient steps (default 15000)")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--factor", type=float, default=0.8,
                    help="inner circle radius (default 0.8, sklearn's and the classic's)")
    ap.add_argument("--seed", type=int, default=0, help="first init seed (layer k: 100 s + k)")
    ap.add_argument("--seeds", type=int, default=1, help="runs per init, seeds seed, seed+1, ...")
    ap.add_argument("--quick", action="store_true", help="1,500 iterations (smoke test)")
    ap.add_argument("--out", default=os.path.join(here, "out"), help="directory for PNGs")
    args = ap.parse_args()
    iters = 1500 if args.quick else args.iters
    torch.set_num_threads(1)  # tiny matrices: one thread is fastest, and bitwise stable

    xtr, ytr = make_circles(300, noise=0.05, factor=args.factor, seed=1)
    xte, yte = make_circles(100, noise=0.05, factor=args.factor, seed=2)
    data = tuple(torch.from_numpy(a) for a in (xtr, ytr, xte, yte))
    seeds = [args.seed + j for j in range(args.seeds)]
    every = max(1, iters // 150)
    print(f"circles: 300 train / 100 test, noise 0.05, factor {args.factor}; 2-10-5-1 ReLU "
          f"net, full-batch GD, lr {args.lr}, {iters} iterations, seeds {seeds[0]}.."
          f"{seeds[-1]}" + (" (mean [min-max] over seeds)" if len(seeds) > 1 else ""))
    wa, wc = (21, 23) if len(seeds) > 1 else (9, 10)
    header = f"{'init':<11} {'train acc':>{wa}} {'test acc':>{wa}} {'final cost':>{wc}} {'time':>6}"
    print(header, flush=True)
    show_progress = sys.stdout.isatty()

    def cell(v: List[float], pct: bool = True) -> str:
        f = (lambda a: f"{a:.1%}") if pct else (lambda a: f"{a:.4g}")
        return f(float(np.mean(v))) + (f" [{f(min(v))}-{f(max(v))}]" if len(v) > 1 else "")

    results: Dict[str, dict] = {}
    for name in INITS:
        t0 = time.perf_counter()
        r = results[name] = run(name, data, seeds, iters, args.lr, every, show_progress)
        r["train_mean"], r["test_mean"] = float(np.mean(r["train"])), float(np.mean(r["test"]))
        row = (f"{name:<11} {cell(r['train']):>{wa}} {cell(r['test']):>{wa}} "
               f"{cell(r['cost'], False):>{wc}} {time.perf_counter() - t0:>5.1f}s")
        print(("\r" if show_progress else "") + row.ljust(len(header)), flush=True)
    plot(results, (xtr, ytr), args.out, every)


if __name__ == "__main__":
    main()

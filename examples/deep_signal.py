"""Signal propagation through a deep MLP: why the init's scale matters (fastinit.diagnose).

A 50-layer MLP (width 256, biases 0, no normalization) with tanh and with ReLU, one batch of
N(0, 1) inputs, and for each init the std of the activations after every layer plus the norm of
d loss / d (layer output) for ``loss = mean(output²)``, both read by ``fastinit.diagnose``:

* standard normal: ReLU explodes by sqrt(width / 2) ~ 11 per layer; tanh saturates at +-1
  (std 0.97) and its gradient explodes on the way back;
* Xavier (``xavier_normal_``, var 1/width here): ReLU halves the variance per layer
  (vanishing), tanh decays slowly (std 0.63 after layer 1, 0.09 after 50);
* He (``kaiming_normal_``, var 2/width): with ReLU the *expected* squared size of the signal is
  the same after every layer (std about 0.83, what layer 1 gives), but one network's
  scale wanders: each layer multiplies the squared norm by a random factor whose relative
  variance is 5/width (for z ~ N(0, s²), Var(relu(z)²) = 5 E[relu(z)²]²), so its logarithm
  takes a random walk. After 50 layers of width 256 the std of a single network lies anywhere
  from about 0.2 to 2.5 (``--seed`` 0 to 7: 0.17, 0.30, 0.81, 0.96, 0.71, 0.97, 2.45, 0.70;
  median 0.76), and the default seed draws the low end: 0.83 after layer 1, 0.17 after 50.
  At width 1024 the same seeds give 0.59 to 1.13 (median 0.84). tanh settles at std 0.55:
  He's gain sqrt 2 is below tanh's 5/3 but above 1, so the signal shrinks to a fixed size;
* orthogonal with torch's gain for the nonlinearity (tanh 5/3, ReLU sqrt 2): tanh keeps a
  stable, unsaturated signal (std 0.65); with ReLU the matrices keep every norm exactly and
  only the rectification is random, so the scale wanders less than He's (seeds 0 to 7 at
  width 256: 0.48 to 1.43, median 0.90; the default seed: 0.83 -> 0.48).

``--seed S`` draws other networks (the figures above are this script's).

Prints a table (std after selected layers, and diagnose's flags) and writes deep_signal.png to
--out (default examples/out/) when matplotlib is installed. Float64, so that the exploding case
stays finite. ``--quick``: 20 layers of width 128. About 35 s of CPU time on a 2-core VM
(``--quick``: 7 s); longer in wall time while other jobs share the cores.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import Callable, Dict, List

import torch

import fastinit
from fastinit import nn_init

Init = Callable[[torch.Tensor, str, int], object]
INITS: Dict[str, Init] = {
    "normal": lambda w, act, s: fastinit.normal_(w, seed=s),
    "Xavier": lambda w, act, s: nn_init.xavier_normal_(w, seed=s),
    "He": lambda w, act, s: nn_init.kaiming_normal_(w, nonlinearity="relu", seed=s),
    "orthogonal": lambda w, act, s: nn_init.orthogonal_(w, nn_init.calculate_gain(act), seed=s),
}
ACTIVATIONS = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}


def build(depth: int, width: int, act: str, init: str, seed: int) -> torch.nn.Sequential:
    """``depth`` x (Linear(width, width), activation), layer k's weight seeded ``seed + k``."""
    layers: List[torch.nn.Module] = []
    for k in range(depth):
        lin = torch.nn.Linear(width, width, dtype=torch.float64)
        with torch.no_grad():
            INITS[init](lin.weight, act, seed + k)
            fastinit.zeros_(lin.bias)
        layers += [lin, ACTIVATIONS[act]()]
    return torch.nn.Sequential(*layers)


def summary(flags: List[List[str]]) -> str:
    """'vanishing 12-50, saturated 1-50' style: the first and last layer with each flag."""
    out = []
    for f in ("exploding", "vanishing", "saturated", "dead", "vanishing-grad", "exploding-grad",
              "non-finite"):
        hit = [i + 1 for i, fl in enumerate(flags) if f in fl]
        if hit:
            out.append(f"{f} {hit[0]}-{hit[-1]}" if len(hit) > 1 else f"{f} {hit[0]}")
    return ", ".join(out) or "-"


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="20 layers of width 128, batch 128")
    ap.add_argument("--out", default=os.path.join(here, "out"), help="directory for the PNG")
    args = ap.parse_args()
    depth, width, batch = (20, 128, 128) if args.quick else (args.depth, args.width, args.batch)
    x = fastinit.normal_(torch.empty(batch, width, dtype=torch.float64), seed=10**6 + args.seed)
    shown = sorted({1, 2, 5, *range(10, depth + 1, 10), depth})

    curves: Dict[str, Dict[str, Dict[str, List[float]]]] = {}
    for act in ACTIVATIONS:
        print(f"\n{act}: {depth} layers of width {width}, batch {batch}; std of the "
              f"activations after layer l (input std {float(x.std()):.3f})")
        print(f"{'init':<11}" + "".join(f"{'l=' + str(l):>10}" for l in shown) +
              f"{'|g1|/|gL|':>11}  diagnose flags (layers)")
        curves[act] = {}
        for init in INITS:
            model = build(depth, width, act, init, args.seed * 1000)
            rep = fastinit.diagnose(model, x, lambda y: y.pow(2).mean())
            acts = [r for r in rep.rows if r.kind != "Linear"]
            stds = [r.std for r in acts]
            grads = [r.out_grad_norm or 0.0 for r in rep.rows if r.kind == "Linear"]
            curves[act][init] = {"std": stds, "grad": grads}
            ratio = grads[0] / grads[-1] if grads[-1] else math.nan
            print(f"{init:<11}" + "".join(f"{stds[l - 1]:>10.3g}" for l in shown) +
                  f"{ratio:>11.3g}  {summary([r.flags for r in acts])}")
    plot(curves, args.out, depth, width)


def plot(curves: Dict[str, Dict[str, Dict[str, List[float]]]], out: str, depth: int,
         width: int) -> None:
    """deep_signal.png: activation std (top) and |d loss / d layer output| (bottom) per layer."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("\nmatplotlib is not installed: no plot (pip install matplotlib)")
        return
    os.makedirs(out, exist_ok=True)
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    axes = fig.subplots(2, len(curves), sharex=True)
    for j, (act, by_init) in enumerate(curves.items()):
        for init, c in by_init.items():
            layers = range(1, len(c["std"]) + 1)
            axes[0, j].plot(layers, [max(s, 1e-300) for s in c["std"]], label=init)
            axes[1, j].plot(layers, [max(g, 1e-300) for g in c["grad"]], label=init)
        axes[0, j].set(yscale="log", title=f"{act}, {depth} x {width}: activation std",
                       ylabel="std after layer")
        axes[1, j].set(yscale="log", xlabel="layer", ylabel="|d loss / d layer output|",
                       title=f"{act}: gradient (loss = mean(output²))")
        axes[0, j].legend(fontsize=8)
    fig.suptitle(f"Signal through {depth} layers of width {width} (biases 0), one network "
                 f"per init")
    path = os.path.join(out, "deep_signal.png")
    fig.savefig(path, dpi=110)
    print(f"\nplot: {path}")


if __name__ == "__main__":
    main()

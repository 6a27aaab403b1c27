"""Where a second thread pays: each fill timed on one thread and on two, by size.

    python benchmarks/grain.py                 # this processor's instruction set
    FASTINIT_ISA=avx2 python benchmarks/grain.py

fastinit gives a fill a second thread once each thread gets about 15 us of work, estimated from
the per-core cost of its distribution on the chosen instruction set (csrc/cpu/split.cpp). Here
every size is timed both ways (the rule set aside: two threads forced, tasks as usual), fills
alternating, median of 7 rounds after a warm-up; "2 threads" is one thread's time over two's
(above 1: the second thread pays), and "rule" the threads fastinit's own rule gives that fill.
NumPy float buffers, in cache up to 2^20 elements.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, Dict

import numpy as np

import fastinit
from fastinit import _core

SIZES = range(12, 23, 2)


# name: (dtype, fastinit function, its parameters, the core's kind)
CASES = {
    "constant_ float32": ("float32", "constant_", [0.5], _core.KIND_CONSTANT),
    "uniform_ float32": ("float32", "uniform_", [0.0, 1.0], _core.KIND_UNIFORM),
    "normal_ float32": ("float32", "normal_", [0.0, 1.0], _core.KIND_NORMAL),
    "uniform_ float64": ("float64", "uniform_", [0.0, 1.0], _core.KIND_UNIFORM),
    "normal_ float64": ("float64", "normal_", [0.0, 1.0], _core.KIND_NORMAL),
}


def fill_of(name: str, buf: np.ndarray) -> Callable[[], object]:
    _, fn, params, _ = CASES[name]
    if fn == "constant_":
        return lambda: fastinit.constant_(buf, *params)
    return lambda: getattr(fastinit, fn)(buf, *params, seed=1)


def main() -> None:
    print(f"# isa {fastinit.cpu_isa()}, up to 2 threads; one thread's time / two's, us")
    print(f"{'fill':20s}" + "".join(f"{'2^' + str(b):>16s}" for b in SIZES))
    rule = {}
    for name, (dtype, fn, params, kind) in CASES.items():
        row, rule[name] = [], []
        for bits in SIZES:
            buf = np.empty(1 << bits, dtype)
            fill = fill_of(name, buf)
            _core.set_grain_scale(1.0)
            fastinit.set_num_threads(2)
            rule[name].append(_core.split(buf, fn, kind, params)[0])
            reps = max(3, (1 << 22) >> bits)
            timed: Dict[int, list] = {1: [], 2: []}
            for rnd in range(8):
                for threads in (1, 2):
                    fastinit.set_num_threads(threads)
                    _core.set_grain_scale(1e-9 if threads == 2 else 1.0)
                    t = time.perf_counter()
                    for _ in range(reps):
                        fill()
                    if rnd:
                        timed[threads].append((time.perf_counter() - t) / reps)
            one, two = statistics.median(timed[1]), statistics.median(timed[2])
            row.append(f"{one * 1e6:6.0f}/{two * 1e6:<6.0f}{one / two:4.2f}")
        print(f"{name:20s}" + "".join(f"{c:>16s}" for c in row))
    _core.set_grain_scale(1.0)
    print("threads by fastinit's rule:", rule)


if __name__ == "__main__":
    main()

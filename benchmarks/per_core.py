"""Compute cost per element on one core, with the output in cache: what bounds each fill.

    python benchmarks/per_core.py

One thread, 16Ki- and 64Ki-element buffers (at most 256 KiB for float32, in L2) filled
thousands of times: memory plays no part, so the rate is the generator plus the transform.
Rates and cycles are per element from the difference of the two sizes' times, so the fixed
cost of a call (argument checks in Python and the core's call, about 2-4 us) drops out; it is
shown apart (us/call), an estimate within about 1 us (run it twice).
``random_bits_`` is Philox4x32-10 alone (one 32-bit word per element; float64 takes two);
bfloat16 rows need torch.
The NumPy and torch rows fill the same float64 buffer with their own generators, for scale.
Cycles per element use the nominal clock read from /proc/cpuinfo (None elsewhere). perf
counters are not available on this VM.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, Dict, Optional

import numpy as np

import fastinit

N = 1 << 16
SMALL = 1 << 14  # a second size: the difference of the two times drops the per-call cost


def seconds(fill: Callable[[], object], reps: int) -> float:
    """Median of 5 timings of one call (``reps`` calls each), after one warm-up."""
    fill()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            fill()
        times.append((time.perf_counter() - t0) / reps)
    return statistics.median(times)


def clock_hz() -> Optional[float]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1]) * 1e6
    except OSError:
        pass
    return None


def cases(n: int) -> Dict[str, Callable[[], object]]:
    """Each row's fill of an n-element buffer of its own."""
    f32, f16, f64 = np.empty(n, np.float32), np.empty(n, np.float16), np.empty(n, np.float64)
    words = np.empty(n, np.uint32)
    rng = np.random.default_rng(1)
    out: Dict[str, Callable[[], object]] = {
        "random_bits_ (Philox words)": lambda: fastinit.random_bits_(words, seed=1),
        "uniform_ float32": lambda: fastinit.uniform_(f32, seed=1),
        "normal_ float32": lambda: fastinit.normal_(f32, seed=1),
        "trunc_normal_ float32": lambda: fastinit.trunc_normal_(f32, std=0.02, a=-0.04, b=0.04,
                                                               seed=1),
        "normal_ float16": lambda: fastinit.normal_(f16, seed=1),
        "constant_ float32": lambda: fastinit.constant_(f32, 0.5),
        "normal_ float64": lambda: fastinit.normal_(f64, seed=1),
        "trunc_normal_ float64": lambda: fastinit.trunc_normal_(f64, std=0.02, a=-0.04, b=0.04,
                                                               seed=1),
        # not fastinit: the same buffer filled by NumPy's Generator (ziggurat), for scale
        "NumPy standard_normal float64": lambda: rng.standard_normal(out=f64),
    }
    try:  # bfloat16 needs a torch tensor (NumPy has no bfloat16 without ml_dtypes)
        import torch  # noqa: PLC0415
    except ImportError:
        return out
    torch.set_num_threads(1)
    bf16, t64 = torch.empty(n, dtype=torch.bfloat16), torch.empty(n, dtype=torch.float64)
    out["uniform_ bfloat16"] = lambda: fastinit.uniform_(bf16, seed=1)
    out["normal_ bfloat16"] = lambda: fastinit.normal_(bf16, seed=1)
    out["torch normal_ float64"] = lambda: t64.normal_()
    return out


def main() -> None:
    fastinit.set_num_threads(1)
    big, small = cases(N), cases(SMALL)
    hz = clock_hz()
    print(f"# isa {fastinit.cpu_isa()}, 1 thread, {SMALL} and {N} elements in cache, clock "
          + (f"{hz / 1e9:.2f} GHz" if hz else "unknown"))
    print(f"{'fill':30s} {'G elements/s':>13s} {'cycles/element':>15s} {'us/call':>8s}")
    for name, fill in big.items():
        reps = 3000 if "NumPy" not in name and "torch" not in name else 300
        t_big, t_small = seconds(fill, reps), seconds(small[name], 4 * reps)
        per_element = (t_big - t_small) / (N - SMALL)
        per_call = t_big - N * per_element
        cyc = f"{hz * per_element:15.2f}" if hz else f"{'-':>15s}"
        # another library's call cost is not the point of its row (and within the noise)
        call = "-" if "NumPy" in name or "torch" in name else f"{per_call * 1e6:.1f}"
        print(f"{name:30s} {1e-9 / per_element:13.2f} {cyc} {call:>8s}")


if __name__ == "__main__":
    main()

"""Throughput of fastinit's initializers against torch (and NumPy), on this machine.

For every (operation, dtype, device) one buffer is allocated and every library fills that same
buffer in place: one untimed warm-up call, then ``--repeats`` timed calls (CUDA is synchronized
around each).  Reported per row:

* GB/s        -- bytes of the output tensor / MEDIAN time of one call (higher is better).
* vs torch    -- this row's GB/s / torch's GB/s for the same op, dtype and device
                 (> 1: faster than torch; torch's own row is 1.00; '-' without torch).
* % fill      -- this row's GB/s / the GB/s of torch's ``t.fill_(1.0)`` on the same buffer,
                 measured in the same run (the 'fill bandwidth' rows): how close an
                 initializer gets to the machine's write bandwidth.  fastinit's own fill
                 (op fill_) uses streaming stores on large buffers and torch's does not, so
                 rows can pass 100%.  With --quick the buffer may sit in cache: quote the
                 default size.

trunc_normal_ uses mean 0, std 0.02, a -2, b 2 on both sides (torch's default bounds, a
realistic std).  kaiming_uniform_ and xavier_normal_ are marked 'composed': fastinit has no
such function yet, so its side is uniform_ with bound sqrt(6/fan_in) and normal_ with std
sqrt(2/(fan_in+fan_out)) on a 2-D view, compared with torch.nn.init.kaiming_uniform_(w, a=0)
and torch.nn.init.xavier_normal_(w).  NumPy (Generator(PCG64), single-threaded) appears where
it has an equivalent: uniform_ and normal_ in float32/float64, and fill_.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional

import numpy as np

import fastinit

try:
    import torch
except ImportError:  # fastinit and NumPy columns still run
    torch = None

SEED = 0
DTYPES = ("float32", "bfloat16", "float16", "float64")
NP_RNG_DTYPES = ("float32", "float64")  # dtypes NumPy's Generator can write in place


def _as_2d(t: Any) -> Any:
    """A 2-D view of ``t`` (a 1-D buffer becomes (1, n)), for the fan-based initializers."""
    return t if t.ndim == 2 else t.reshape(1, -1)


def _fi_kaiming_uniform(t: Any) -> None:
    """fastinit side of kaiming_uniform_(a=0): U(-b, b) with b = sqrt(6 / fan_in)."""
    w = _as_2d(t)
    fastinit.uniform_(w, -math.sqrt(6.0 / w.shape[1]), math.sqrt(6.0 / w.shape[1]), seed=SEED)


def _fi_xavier_normal(t: Any) -> None:
    """fastinit side of xavier_normal_(gain=1): N(0, s^2) with s = sqrt(2 / (fan_in + fan_out))."""
    w = _as_2d(t)
    fastinit.normal_(w, 0.0, math.sqrt(2.0 / (w.shape[0] + w.shape[1])), seed=SEED)


@dataclass(frozen=True)
class Op:
    """One benchmarked operation: how fastinit, torch and (optionally) NumPy perform it."""

    name: str
    fastinit: Callable[[Any], Any]
    torch: Callable[[Any], Any]
    numpy: Optional[Callable[[np.ndarray, np.random.Generator], Any]] = None
    numpy_dtypes: tuple = NP_RNG_DTYPES
    composed: bool = False  # fastinit side built from other fastinit calls


OPS: Dict[str, Op] = {op.name: op for op in (
    Op("uniform_", lambda t: fastinit.uniform_(t, 0.0, 1.0, seed=SEED),
       lambda t: torch.nn.init.uniform_(t, 0.0, 1.0),
       lambda a, g: g.random(out=a, dtype=a.dtype)),
    Op("normal_", lambda t: fastinit.normal_(t, 0.0, 1.0, seed=SEED),
       lambda t: torch.nn.init.normal_(t, 0.0, 1.0),
       lambda a, g: g.standard_normal(out=a, dtype=a.dtype)),
    Op("trunc_normal_", lambda t: fastinit.trunc_normal_(t, 0.0, 0.02, -2.0, 2.0, seed=SEED),
       lambda t: torch.nn.init.trunc_normal_(t, 0.0, 0.02, -2.0, 2.0)),
    Op("kaiming_uniform_", _fi_kaiming_uniform,
       lambda t: torch.nn.init.kaiming_uniform_(_as_2d(t), a=0), composed=True),
    Op("xavier_normal_", _fi_xavier_normal,
       lambda t: torch.nn.init.xavier_normal_(_as_2d(t)), composed=True),
    Op("fill_", lambda t: fastinit.constant_(t, 1.0), lambda t: t.fill_(1.0),
       lambda a, g: a.fill(1.0), numpy_dtypes=("float32", "float64", "float16")),
)}
DEFAULT_OPS = "uniform_,normal_,trunc_normal_,kaiming_uniform_,xavier_normal_"


@dataclass
class Result:
    """All timings of one (op, dtype, device, library) cell; library 'fill' is the reference."""

    op: str
    dtype: str
    device: str
    library: str
    composed: bool
    nbytes: int
    times_s: List[float]
    median_s: float = 0.0
    gbps: float = 0.0  # bytes of the output / median time, in GB/s (1e9 bytes)
    ratio_vs_torch: Optional[float] = None  # set by annotate()
    pct_of_fill: Optional[float] = None

    def __post_init__(self) -> None:
        self.median_s = statistics.median(self.times_s)
        self.gbps = self.nbytes / self.median_s / 1e9


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options; --quick overrides --size and --repeats."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ops", default=DEFAULT_OPS,
                   help=f"comma list from {','.join(OPS)} (default: {DEFAULT_OPS})")
    p.add_argument("--dtypes", default=",".join(DTYPES), help=f"comma list from {DTYPES}")
    p.add_argument("--devices", default=None,
                   help="comma list of cpu,cuda (default: cpu, plus cuda when usable)")
    p.add_argument("--size", type=int, default=2**26,
                   help="elements per tensor; shape (N/4096, 4096) when divisible (default 2**26)")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per cell; median reported")
    p.add_argument("--quick", action="store_true", help="size 2**22, 3 repeats")
    p.add_argument("--threads", type=int, default=None,
                   help="set fastinit's and torch's CPU thread counts (default: leave as is)")
    p.add_argument("--json", metavar="PATH", help="write metadata and every repeat time here")
    p.add_argument("--plot", metavar="PATH", help="write a PNG bar chart (needs matplotlib)")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.repeats = 2**22, 3
    args.ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    args.dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    cuda = torch is not None and torch.cuda.is_available() and fastinit.cuda_available()
    args.devices = args.devices.split(",") if args.devices else ["cpu"] + ["cuda"] * cuda
    if bad := [o for o in args.ops if o not in OPS]:
        p.error(f"unknown ops {bad}; choose from {list(OPS)}")
    if bad := [d for d in args.dtypes if d not in DTYPES]:
        p.error(f"unknown dtypes {bad}; choose from {list(DTYPES)}")
    if args.size < 1 or args.repeats < 1 or (args.threads is not None and args.threads < 1):
        p.error("--size, --repeats and --threads must be >= 1")
    if "cuda" in args.devices and not cuda:
        p.error("--devices cuda needs torch with CUDA and fastinit built with CUDA")
    return args


def metadata(args: argparse.Namespace) -> Dict[str, Any]:
    """The header: date, machine, ISA, thread counts, versions and the exact command line."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       cpu)
    except OSError:
        pass
    return {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "cpu": cpu, "cores": os.cpu_count(),
        "gpu": torch.cuda.get_device_name() if "cuda" in args.devices else None,
        "fastinit_cpu_isa": fastinit.cpu_isa(), "fastinit_threads": fastinit.get_num_threads(),
        "torch_threads": torch.get_num_threads() if torch else None,
        "fastinit": fastinit.__version__, "torch": torch.__version__ if torch else None,
        "numpy": np.__version__, "python": platform.python_version(),
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "size": args.size, "repeats": args.repeats,
    }


def allocate(dtype: str, device: str, n: int) -> Any:
    """One buffer shared by all libraries: a torch tensor, or a NumPy array without torch."""
    shape = (n // 4096, 4096) if n % 4096 == 0 else (n,)
    if torch is not None:
        return torch.empty(shape, dtype=getattr(torch, dtype), device=device)
    if dtype == "bfloat16":
        import ml_dtypes  # raises ImportError: NumPy has no bfloat16 of its own
        return np.empty(shape, dtype=ml_dtypes.bfloat16)
    return np.empty(shape, dtype=dtype)


def time_calls(fn: Callable[[], Any], repeats: int, cuda: bool) -> List[float]:
    """One untimed warm-up call, then ``repeats`` timed calls (synchronized on CUDA)."""
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    times = []
    for _ in range(repeats + 1):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return times[1:]  # drop the warm-up


def candidates(op: Op, buf: Any, dtype: str, device: str) -> Dict[str, Callable[[], Any]]:
    """The library -> zero-argument call map for one op on one buffer."""
    calls: Dict[str, Callable[[], Any]] = {"fastinit": lambda: op.fastinit(buf)}
    if torch is not None:
        calls["torch"] = lambda: op.torch(buf)
    if op.numpy is not None and device == "cpu" and dtype in op.numpy_dtypes:
        arr = buf.numpy() if torch is not None else buf
        rng = np.random.Generator(np.random.PCG64(SEED))
        calls["numpy"] = lambda: op.numpy(arr, rng)
    return calls


def progress(r: Result) -> None:
    """One flushed line per measurement on stderr."""
    print(f"  {r.op:<17} {r.dtype:<9} {r.device:<5} {r.library:<9} {r.gbps:8.2f} GB/s"
          f"  (median {r.median_s * 1e3:.2f} ms of {len(r.times_s)})", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> List[Result]:
    """Measure every selected op, then the fill reference, for each (dtype, device)."""
    results: List[Result] = []
    for device in args.devices:
        for dtype in args.dtypes:
            try:
                buf = allocate(dtype, device, args.size)
            except (ImportError, RuntimeError) as e:  # no ml_dtypes for bfloat16; out of memory
                print(f"skipping {dtype} on {device}: {e}", file=sys.stderr, flush=True)
                continue
            ref = (lambda: buf.fill_(1.0)) if torch is not None else (lambda: buf.fill(1.0))
            cells = [(name, lib, OPS[name].composed, call) for name in args.ops
                     for lib, call in candidates(OPS[name], buf, dtype, device).items()]
            cells.append(("(reference)", "fill", False, ref))  # last: the buffer is warm by then
            for name, lib, composed, call in cells:
                times = time_calls(call, args.repeats, device == "cuda")
                results.append(Result(name, dtype, device, lib, composed, buf.nbytes, times))
                progress(results[-1])
            del buf
    return results


def annotate(results: List[Result]) -> None:
    """Set each result's ratio to torch's GB/s for the same cell and its % of fill bandwidth."""
    by_key = {(r.op, r.dtype, r.device, r.library): r for r in results}
    for r in results:
        ref = by_key[("(reference)", r.dtype, r.device, "fill")]
        tr = ref if r.library == "fill" else by_key.get((r.op, r.dtype, r.device, "torch"))
        r.ratio_vs_torch = r.gbps / tr.gbps if tr is not None and torch is not None else None
        r.pct_of_fill = 100 * r.gbps / ref.gbps


def table(results: List[Result]) -> str:
    """The final table; the fill bandwidth rows (the % fill denominators) come last."""
    rows = [("op", "dtype", "device", "library", "GB/s", "vs torch", "% fill")]
    for r in sorted(results, key=lambda r: r.library == "fill"):
        op, lib = r.op, r.library
        if r.composed and r.library == "fastinit":
            lib += " (composed)"
        if r.library == "fill":
            op, lib = "fill bandwidth", f"{'torch' if torch else 'numpy'} fill (reference)"
        ratio = "-" if r.ratio_vs_torch is None else f"{r.ratio_vs_torch:.2f}"
        rows.append((op, r.dtype, r.device, lib, f"{r.gbps:.2f}", ratio, f"{r.pct_of_fill:.0f}%"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) if i >= 4 else c.ljust(w) for i, (c, w) in
                       enumerate(zip(row, widths))).rstrip() for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def plot(results: List[Result], path: str) -> None:
    """PNG bar chart (log scale): GB/s per op/dtype/device, one bar per library, fill as a line."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [r for r in results if r.library != "fill"]
    groups = list(dict.fromkeys((r.op, r.dtype, r.device) for r in measured))
    libs = list(dict.fromkeys(r.library for r in measured))
    gbps = {(r.op, r.dtype, r.device, r.library): r.gbps for r in results}
    fig, ax = plt.subplots(figsize=(max(8.0, 0.5 * len(groups) + 2), 5.5))
    width, centers = 0.8 / len(libs), np.arange(len(groups))
    for i, lib in enumerate(libs):
        have = [g for g, key in enumerate(groups) if (*key, lib) in gbps]
        ax.bar(centers[have] - 0.4 + (i + 0.5) * width,
               [gbps[(*groups[g], lib)] for g in have], width, label=lib)
    fills = [gbps[("(reference)", d, dev, "fill")] for _, d, dev in groups]
    ax.hlines(fills, centers - 0.45, centers + 0.45, colors="black", linestyles="dashed",
              label="fill_ bandwidth")
    ax.set_xticks(centers)
    ax.set_xticklabels([f"{o}{' (composed)' if OPS[o].composed else ''} {d} {dev}"
                        for o, d, dev in groups], rotation=60, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylim(top=5 * max(gbps.values()))  # room for the legend above the fill lines
    ax.set_ylabel("GB/s (median, log scale)")
    ax.set_title("fastinit vs torch / numpy: throughput (higher is better)")
    ax.legend(fontsize=8, ncol=len(libs) + 1, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: Optional[List[str]] = None) -> int:
    """Parse options, print the header, run, print the table, write JSON / PNG if asked."""
    args = parse_args(argv)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("--plot needs matplotlib (pip install matplotlib); it is not a dependency "
                  "of fastinit", file=sys.stderr)
            return 2
    if args.threads is not None:
        fastinit.set_num_threads(args.threads)
        if torch is not None:
            torch.set_num_threads(args.threads)
    meta = metadata(args)
    print(" | ".join(f"{k}: {v}" for k, v in meta.items()), flush=True)
    if torch is None:
        print("torch is not installed: fastinit and numpy only, 'vs torch' shows '-', "
              "fill bandwidth from numpy ndarray.fill", flush=True)
    t0 = time.perf_counter()
    results = run(args)
    annotate(results)
    print(table(results))
    print(f"({len(results)} measurements in {time.perf_counter() - t0:.1f} s; 'composed': "
          "fastinit side built from uniform_/normal_; trunc_normal_ with std 0.02, a -2, b 2)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": [asdict(r) for r in results]}, f, indent=1)
    if args.plot:
        plot(results, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())

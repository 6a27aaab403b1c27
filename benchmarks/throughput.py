"""Throughput of fastinit's initializers against torch (and NumPy), on this machine.

One buffer is allocated per (dtype, device) and every library fills that same buffer in place.
Per op, each library (fastinit, torch, NumPy where it has an equivalent) and the bandwidth
reference torch ``t.fill_(1.0)`` get one untimed warm-up call, then ``--repeats`` rounds that
call each once in turn (interleaved, so drift of a shared machine hits all sides alike).  On
the CPU the reference first writes the whole buffer once (its first touch) and the warm-up
calls fill a 1/16 slice of it (code, thread pools, lazy set-up), not the whole buffer again.  CUDA
rows time the GPU's work with CUDA events, with a sleep kernel queued first so that the
host has enqueued the whole call before the GPU reaches the start event: they are device
bandwidth figures, free of Python call overhead (``--cuda-wall`` times the synchronized call
from the host instead).  CUDA buffers default to 2**28 elements (--quick 2**24), several
times the L2 cache.  CPU buffers default to 2**26 elements, at most 256 MiB (float64: 2**25
elements), 8x a 32 MiB L3; an explicit --size applies to every dtype.

The default run skips what repeats other rows or takes long without telling much about
fastinit (--full, or naming the op in --ops, brings each back): orthogonal_ (a 4096x4096 QR
on both sides, about 10 s) and kaiming_uniform_ / xavier_normal_ outside float32 (they are
uniform_ / normal_ with another scale, the same kernels on both sides).  ``--full --size
67108864`` gives the rows and sizes of BENCHMARKS.md's 2026-11-23 CPU table.  Reported per row:

* GB/s      -- bytes of the output / MEDIAN time of one call (higher is better).
* vs torch  -- this row's GB/s / torch's GB/s for the same op, dtype and device (> 1: faster
               than torch; '-' without torch).
* % fill    -- this row's GB/s / the GB/s of the fill_ reference timed in the same rounds:
               how close an initializer gets to the machine's write bandwidth.  The
               'fill_ torch (reference)' row pools the reference times of all ops on the
               buffer.  fastinit's ``constant_`` uses streaming stores on large buffers and
               torch's fill_ does not, so rows can pass 100%.  With --quick the buffer may sit
               in cache: quote the default size.

trunc_normal_ runs with mean 0, std 0.02, a -2, b 2 on both sides.  kaiming_uniform_ (a=0) and
xavier_normal_ use fastinit.nn_init when importable, else a 'composed' fastinit side (uniform_
with bound sqrt(6/fan_in), normal_ with std sqrt(2/(fan_in+fan_out))).  orthogonal_ fills one
4096x4096 float32 matrix (GB/s = its bytes / time; it is dominated by the QR).
model_construction builds nn.Embedding(32000, 4096) + 8 x nn.Linear(4096, 4096) (265.3M float32
parameters) on the CPU with torch's default init, and again inside ``with fastinit.patch():``;
GB/s = parameter bytes / time, allocation included; its % fill is against fill_ of freshly
allocated tensors of the same shapes (first touch of new memory costs more than the fill).
NumPy (Generator(PCG64), single-threaded) appears where it has an equivalent.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

import fastinit

try:
    import torch
except ImportError:  # fastinit and NumPy columns still run
    torch = None
try:
    from fastinit import nn_init as fi_nn
except ImportError:  # being written; kaiming/xavier fall back to 'composed'
    fi_nn = None

SEED = 0
ITEMSIZE = {"float32": 4, "bfloat16": 2, "float16": 2, "float64": 8}
DTYPES = ("float32", "bfloat16", "float16", "float64")
NP_RNG = ("float32", "float64")  # dtypes NumPy's Generator writes in place
REF_LIB = "torch" if torch is not None else "numpy"  # whose fill_ is the bandwidth reference
MODEL = "model_construction"
VOCAB, WIDTH, LAYERS = 32000, 4096, 8  # Embedding + 8 Linear: 265.3M parameters
GPU_HEAD_START_CYCLES = 2_000_000  # ~1 ms of GPU sleep: longer than any call's host side
CPU_BUFFER_MAX_BYTES = 2**28  # default CPU buffers: past the caches, no bigger (float64 2**25)
WARMUP_FRACTION = 16  # CPU warm-up calls fill 1/16 of the buffer: enough to go multi-threaded


def _as_2d(t: Any) -> Any:
    """A 2-D view of ``t`` (a 1-D buffer becomes (1, n)), for the fan-based initializers."""
    return t if t.ndim == 2 else t.reshape(1, -1)


def _fi_kaiming_uniform(t: Any) -> None:
    """fastinit kaiming_uniform_(a=0): nn_init's, else U(-b, b) with b = sqrt(6 / fan_in)."""
    w = _as_2d(t)
    if fi_nn is not None:
        fi_nn.kaiming_uniform_(w, a=0, seed=SEED)
    else:
        b = math.sqrt(6.0 / w.shape[1])
        fastinit.uniform_(w, -b, b, seed=SEED)


def _fi_xavier_normal(t: Any) -> None:
    """fastinit xavier_normal_: nn_init's, else N(0, s^2) with s = sqrt(2 / (fan_in + fan_out))."""
    w = _as_2d(t)
    if fi_nn is not None:
        fi_nn.xavier_normal_(w, seed=SEED)
    else:
        fastinit.normal_(w, 0.0, math.sqrt(2.0 / (w.shape[0] + w.shape[1])), seed=SEED)


@dataclass(frozen=True)
class Op:
    """One benchmarked operation: how each library performs it, and where it applies."""

    name: str
    fastinit: Optional[Callable[[Any], Any]]  # None: missing, the op is skipped with a note
    torch: Callable[[Any], Any]
    numpy: Optional[Callable[[np.ndarray, np.random.Generator], Any]] = None
    numpy_dtypes: Tuple[str, ...] = NP_RNG
    dtypes: Tuple[str, ...] = DTYPES
    shape: Optional[Tuple[int, ...]] = None  # None: the shared --size buffer
    repeats: Optional[Tuple[int, int]] = None  # (quick, full) override of --repeats
    # dtypes of the default run (None: all of ``dtypes``); --full or --ops naming it: all
    default_dtypes: Optional[Tuple[str, ...]] = None
    note: str = ""  # label of the fastinit side, e.g. 'composed'


_HAS_ORTHO = fi_nn is not None and hasattr(fi_nn, "orthogonal_")
OPS: Dict[str, Op] = {op.name: op for op in (
    Op("uniform_", lambda t: fastinit.uniform_(t, 0.0, 1.0, seed=SEED),
       lambda t: torch.nn.init.uniform_(t, 0.0, 1.0),
       lambda a, g: g.random(out=a, dtype=a.dtype)),
    Op("normal_", lambda t: fastinit.normal_(t, 0.0, 1.0, seed=SEED),
       lambda t: torch.nn.init.normal_(t, 0.0, 1.0),
       lambda a, g: g.standard_normal(out=a, dtype=a.dtype)),
    Op("trunc_normal_", lambda t: fastinit.trunc_normal_(t, 0.0, 0.02, -2.0, 2.0, seed=SEED),
       lambda t: torch.nn.init.trunc_normal_(t, 0.0, 0.02, -2.0, 2.0)),
    # uniform_ / normal_ with a fan-based scale on both sides: other dtypes repeat those rows
    Op("kaiming_uniform_", _fi_kaiming_uniform,
       lambda t: torch.nn.init.kaiming_uniform_(_as_2d(t), a=0),
       note="" if fi_nn is not None else "composed", default_dtypes=("float32",)),
    Op("xavier_normal_", _fi_xavier_normal, lambda t: torch.nn.init.xavier_normal_(_as_2d(t)),
       note="" if fi_nn is not None else "composed", default_dtypes=("float32",)),
    Op("orthogonal_", (lambda t: fi_nn.orthogonal_(t, seed=SEED)) if _HAS_ORTHO else None,
       lambda t: torch.nn.init.orthogonal_(t), dtypes=("float32",), shape=(4096, 4096),
       repeats=(1, 3)),
    Op("fill_", lambda t: fastinit.constant_(t, 1.0), lambda t: t.fill_(1.0),
       lambda a, g: a.fill(1.0), numpy_dtypes=("float32", "float64", "float16")),
)}
ALL_OPS = (*OPS, MODEL)
SLOW_OPS = ("orthogonal_",)  # a QR on both sides, ~10 s: --full or --ops only
DEFAULT_OPS = tuple(o for o in ALL_OPS if o not in SLOW_OPS)
QUICK_OPS = tuple(o for o in DEFAULT_OPS if o != MODEL)


@dataclass
class Result:
    """All timings of one (op, dtype, device, library) cell on one buffer shape."""

    op: str
    dtype: str
    device: str
    library: str
    shape: str  # the buffer, e.g. '16384x4096'; the % fill reference is matched on it
    nbytes: int
    times_s: List[float]
    note: str = ""
    fill_s: List[float] = field(default_factory=list)  # the reference, timed in the same rounds
    label: str = ""  # shown op name: op, plus '[shape]' off the shared buffer
    median_s: float = field(init=False)
    gbps: float = field(init=False)  # bytes of the output / median time, GB/s (1e9 bytes)
    ratio_vs_torch: Optional[float] = None
    pct_of_fill: Optional[float] = None

    def __post_init__(self) -> None:
        self.label = self.label or self.op
        self.median_s = statistics.median(self.times_s)
        self.gbps = self.nbytes / self.median_s / 1e9


def _csv(s: str) -> List[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options; --quick sets size 2**22, 3 repeats and the quick op list;
    --full every op in every dtype."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ops", help=f"comma list of: {', '.join(ALL_OPS)}, each in every "
                                 f"--dtypes (default: all but orthogonal_, kaiming_uniform_ "
                                 f"and xavier_normal_ in float32 only; --quick: also no "
                                 f"{MODEL}; --full: all)")
    p.add_argument("--dtypes", default=",".join(DTYPES),
                   help=f"comma list of: {', '.join(DTYPES)} (default: all)")
    p.add_argument("--devices", help="comma list of cpu,cuda (default: cpu, plus cuda when "
                                     "torch and fastinit both have CUDA)")
    p.add_argument("--size", type=int, help="elements per CPU tensor; shape (N/4096, 4096) "
                                            "when divisible (default 2**26 but at most 256 MiB, "
                                            "so float64 2**25; --quick 2**22)")
    p.add_argument("--cuda-size", type=int, help="elements per CUDA tensor (default 2**28; "
                                                 "--quick 2**24)")
    p.add_argument("--cuda-wall", action="store_true",
                   help="time CUDA calls by the host clock around a synchronized call "
                        "(Python overhead included) instead of by CUDA events")
    p.add_argument("--repeats", type=int,
                   help="timed calls per cell, median shown (default 5; --quick 3)")
    p.add_argument("--quick", action="store_true", help="size 2**22, 3 repeats, quick ops")
    p.add_argument("--full", action="store_true",
                   help="every op in every dtype: adds orthogonal_ (about 10 s) and "
                        "kaiming_uniform_ / xavier_normal_ outside float32")
    p.add_argument("--threads", type=int, help="set fastinit's and torch's CPU thread counts "
                                               "(default: leave both as they are)")
    p.add_argument("--json", metavar="PATH", help="write metadata and every repeat time here")
    p.add_argument("--plot", metavar="PATH", help="write a PNG bar chart (needs matplotlib)")
    args = p.parse_args(argv)
    size_given = args.size is not None
    if args.size is None:
        args.size = 2**22 if args.quick else 2**26
    if args.cuda_size is None:
        args.cuda_size = 2**24 if args.quick else 2**28
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    args.shape = (args.size // 4096, 4096) if args.size % 4096 == 0 else (args.size,)
    args.cuda_shape = ((args.cuda_size // 4096, 4096) if args.cuda_size % 4096 == 0
                       else (args.cuda_size,))
    args.all_dtypes_ops = set(_csv(args.ops) if args.ops else ALL_OPS if args.full else ())
    args.ops = _csv(args.ops) if args.ops else list(
        ALL_OPS if args.full else QUICK_OPS if args.quick else DEFAULT_OPS)
    args.ops.sort(key=lambda o: ALL_OPS.index(o) if o in ALL_OPS else -1)  # table order
    args.dtypes = _csv(args.dtypes)
    args.cpu_shapes = {d: args.shape if size_given else cpu_default_shape(args.size, d)
                       for d in args.dtypes if d in DTYPES}
    cuda = torch is not None and torch.cuda.is_available() and fastinit.cuda_available()
    args.devices = _csv(args.devices) if args.devices else ["cpu"] + ["cuda"] * cuda
    for name, got, allowed in (("ops", args.ops, ALL_OPS), ("dtypes", args.dtypes, DTYPES),
                               ("devices", args.devices, ("cpu", "cuda"))):
        if bad := [x for x in got if x not in allowed]:
            p.error(f"unknown {name} {bad}; choose from {list(allowed)}")
    if args.size < 1 or args.cuda_size < 1 or args.repeats < 1 or \
            (args.threads is not None and args.threads < 1):
        p.error("--size, --cuda-size, --repeats and --threads must be >= 1")
    if "cuda" in args.devices and not cuda:
        p.error("--devices cuda needs torch with CUDA and fastinit built with CUDA")
    return args


def cpu_default_shape(size: int, dtype: str) -> Tuple[int, ...]:
    """``size`` elements, fewer where they would pass CPU_BUFFER_MAX_BYTES: a bigger buffer
    measures the same bandwidth and only costs time."""
    n = min(size, CPU_BUFFER_MAX_BYTES // ITEMSIZE[dtype])
    return (n // 4096, 4096) if n % 4096 == 0 else (n,)


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
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "fastinit": fastinit.__version__, "torch": torch.__version__ if torch else None,
        "numpy": np.__version__, "python": platform.python_version(),
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "size": args.size, "repeats": args.repeats,
        "cpu_shapes": {d: "x".join(map(str, s)) for d, s in args.cpu_shapes.items()}
        if "cpu" in args.devices else None,
        "cuda_size": args.cuda_size if "cuda" in args.devices else None,
        "cuda_timing": None if "cuda" not in args.devices else
        ("host clock around synchronized calls" if args.cuda_wall else "CUDA events"),
    }


def allocate(shape: Tuple[int, ...], dtype: str, device: str) -> Any:
    """One buffer shared by all libraries: a torch tensor, or a NumPy array without torch."""
    if torch is not None:
        return torch.empty(shape, dtype=getattr(torch, dtype), device=device)
    if dtype == "bfloat16":
        import ml_dtypes  # raises ImportError: NumPy has no bfloat16 of its own
        return np.empty(shape, dtype=ml_dtypes.bfloat16)
    return np.empty(shape, dtype=dtype)


def time_rounds(calls: Dict[str, Callable[[], Any]], repeats: int,
                cuda: bool = False, wall: bool = False,
                warmups: Optional[Dict[str, Callable[[], Any]]] = None) -> Dict[str, List[float]]:
    """One untimed warm-up per call (``warmups`` instead of ``calls`` where given), then
    ``repeats`` rounds that time each call once in turn.

    Interleaving puts every library (and the fill_ reference) into the same stretch of time,
    so the ratios and % fill hold up on a machine whose speed drifts.  CUDA calls are timed by
    events around the GPU's work (see the module docstring), or with ``wall`` by the host
    clock around a synchronized call.
    """
    events = cuda and not wall and hasattr(torch.cuda, "_sleep")

    def once(fn: Callable[[], Any]) -> float:
        if events:
            torch.cuda.synchronize()
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            torch.cuda._sleep(GPU_HEAD_START_CYCLES)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    for fn in (calls if warmups is None else warmups).values():
        once(fn)
    times: Dict[str, List[float]] = {k: [] for k in calls}
    for _ in range(repeats):
        for k, fn in calls.items():
            times[k].append(once(fn))
    return times


def reference_fill(t: Any) -> Any:
    """The bandwidth reference: torch's fill_(1.0), or NumPy's fill without torch."""
    return t.fill_(1.0) if torch is not None else t.fill(1.0)


def candidates(op: Op, buf: Any, dtype: str, device: str) -> Dict[str, Callable[[], Any]]:
    """library -> zero-argument call for one op on one buffer (fill_'s reference excluded)."""
    calls: Dict[str, Callable[[], Any]] = {}
    if op.fastinit is not None:
        calls["fastinit"] = lambda: op.fastinit(buf)
    if torch is not None and op.name != "fill_":
        calls["torch"] = lambda: op.torch(buf)
    if op.numpy is not None and device == "cpu" and dtype in op.numpy_dtypes \
            and not (op.name == "fill_" and REF_LIB == "numpy"):
        arr = buf.numpy() if torch is not None else buf
        rng = np.random.Generator(np.random.PCG64(SEED))
        calls["numpy"] = lambda: op.numpy(arr, rng)
    return calls


def progress(r: Result) -> None:
    """One flushed line per measurement on stderr."""
    lib = f"{r.library} ({r.note})" if r.note else r.library
    ms = [1e3 * x for x in (r.median_s, min(r.times_s), max(r.times_s))]
    print(f"  {r.op:<18} {r.dtype:<9} {r.device:<5} {lib:<21} {r.gbps:8.2f} GB/s  (median "
          f"{ms[0]:.2f} ms of {len(r.times_s)}, min {ms[1]:.2f}, max {ms[2]:.2f})",
          file=sys.stderr, flush=True)


def measure_buffer(args: argparse.Namespace, ops: List[Op], shape: Tuple[int, ...],
                   base: Tuple[int, ...], dtype: str, device: str) -> List[Result]:
    """Each op of ``ops`` on one buffer, its libraries interleaved with the fill_ reference;
    last, the reference row (all its times pooled).  ``base``: the dtype's shared shape."""
    try:
        buf = allocate(shape, dtype, device)
    except (ImportError, RuntimeError) as e:  # no ml_dtypes for bfloat16; out of memory
        print(f"skipping {dtype} on {device}: {e}", file=sys.stderr, flush=True)
        return []
    shape_s, out, pooled = "x".join(map(str, shape)), [], []
    suffix = "" if shape == base else f" [{shape_s}]"
    ref = lambda: reference_fill(buf)  # noqa: E731
    part = buf[:max(1, len(buf) // WARMUP_FRACTION)]
    if device == "cpu":
        ref()  # the first touch, so that the warm-ups need not write the whole buffer
    for op in ops:
        reps = op.repeats[not args.quick] if op.repeats else args.repeats
        # CUDA calls are cheap: warm up on the whole buffer, as timed
        warmups = None if device == "cuda" else {**candidates(op, part, dtype, device),
                                                  "ref": lambda: reference_fill(part)}
        times = time_rounds({**candidates(op, buf, dtype, device), "ref": ref}, reps,
                            device == "cuda", args.cuda_wall, warmups)
        pooled += times.pop("ref")
        for lib, ts in times.items():
            out.append(Result(op.name, dtype, device, lib, shape_s, buf.nbytes, ts,
                              op.note if lib == "fastinit" else "", pooled[-reps:],
                              op.name + suffix))
            progress(out[-1])
    if not pooled:  # no op on this buffer: the reference alone
        pooled = time_rounds({"ref": ref}, args.repeats, device == "cuda", args.cuda_wall)["ref"]
    out.append(Result("fill_", dtype, device, REF_LIB, shape_s, buf.nbytes, pooled,
                      "reference", pooled, "fill_" + suffix))
    progress(out[-1])
    return out


def build_model() -> Any:
    """The ~265M-parameter stack, with whatever init torch.nn.init currently is."""
    nn = torch.nn
    return nn.Sequential(nn.Embedding(VOCAB, WIDTH), *[nn.Linear(WIDTH, WIDTH)
                                                       for _ in range(LAYERS)])


def build_model_patched() -> Any:
    """The same stack built inside ``with fastinit.patch():``."""
    with fastinit.patch():
        return build_model()


def first_touch(shapes: List[Tuple[int, ...]]) -> Callable[[], Any]:
    """The floor under any construction: fresh tensors of these shapes, each written by fill_."""
    return lambda: [torch.empty(s).fill_(1.0) for s in shapes]


def measure_model(args: argparse.Namespace, ref_shape: str) -> List[Result]:
    """model_construction on the CPU: torch default init vs fastinit patch mode; % fill against
    fill_ of freshly allocated tensors of the same shapes (first touch), in the same rounds."""
    shapes = [tuple(p.shape) for p in build_model().parameters()]
    nbytes = 4 * sum(math.prod(s) for s in shapes)
    times = time_rounds({"torch": build_model, "fastinit": build_model_patched,
                         "fill_": first_touch(shapes)}, args.repeats)
    fresh = times.pop("fill_")
    out = [Result(MODEL, "float32", "cpu", lib, ref_shape, nbytes, ts,
                  "patch" if lib == "fastinit" else "default init", fresh)
           for lib, ts in times.items()]
    for r in out:
        progress(r)
    return out


def run(args: argparse.Namespace) -> Tuple[List[Result], List[str]]:
    """Measure the selected ops per (device, dtype, buffer shape); return results and notes."""
    notes, results = [], []
    ops = [OPS[o] for o in args.ops if o != MODEL and OPS[o].fastinit is not None]
    if "orthogonal_" in args.ops and OPS["orthogonal_"].fastinit is None:
        notes.append("orthogonal_: skipped (fastinit.nn_init.orthogonal_ is missing)")
    for device in args.devices:
        for dtype in args.dtypes:
            base = args.cpu_shapes[dtype] if device == "cpu" else args.cuda_shape
            groups: Dict[Tuple[int, ...], List[Op]] = {base: []}
            for op in ops:
                if dtype in op.dtypes and (op.name in args.all_dtypes_ops or
                                           dtype in (op.default_dtypes or op.dtypes)):
                    groups.setdefault(op.shape or base, []).append(op)
            for shape, group in groups.items():
                if group or shape == base:
                    results += measure_buffer(args, group, shape, base, dtype, device)
    if MODEL in args.ops:
        if torch is None or not hasattr(fastinit, "patch"):
            notes.append(f"{MODEL}: skipped (needs torch and fastinit.patch)")
        else:
            results += measure_model(args, "x".join(map(str, args.shape)))
    return results, notes


def annotate(results: List[Result]) -> None:
    """Set each result's ratio to torch's GB/s in the same cell and its % of fill bandwidth."""
    by_key = {(r.op, r.dtype, r.device, r.shape, r.library): r for r in results}
    for r in results:
        ref = by_key.get(("fill_", r.dtype, r.device, r.shape, REF_LIB))
        fill_gbps = r.nbytes / statistics.median(r.fill_s) / 1e9 if r.fill_s else \
            (ref.gbps if ref is not None else None)
        tr = by_key.get((r.op, r.dtype, r.device, r.shape, "torch"))
        if r.op == "fill_" and REF_LIB == "torch":
            r.ratio_vs_torch = r.gbps / fill_gbps  # fill_'s torch side is the reference
        else:
            r.ratio_vs_torch = r.gbps / tr.gbps if tr is not None else None
        r.pct_of_fill = 100 * r.gbps / fill_gbps if fill_gbps else None


def _fmt(x: Optional[float], spec: str, suffix: str = "") -> str:
    """``x`` formatted, '-' for None; a '.0f' percentage below 10 gets one decimal."""
    if x is None:
        return "-"
    return f"{x:{'.1f' if spec == '.0f' and abs(x) < 10 else spec}}{suffix}"


def table(results: List[Result]) -> str:
    """The final plain-text table, one row per (op, dtype, device, library)."""
    rows = [("op", "dtype", "device", "library", "median ms", "GB/s", "vs torch", "% fill")]
    for r in results:
        lib = f"{r.library} ({r.note})" if r.note else r.library
        rows.append((r.label, r.dtype, r.device, lib, f"{r.median_s * 1e3:.2f}",
                     f"{r.gbps:.2f}", _fmt(r.ratio_vs_torch, ".2f"),
                     _fmt(r.pct_of_fill, ".0f", "%")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) if i >= 4 else c.ljust(w) for i, (c, w) in
                       enumerate(zip(row, widths))).rstrip() for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def markdown(results: List[Result]) -> str:
    """One row per (op, dtype, device): each library's GB/s, fastinit vs torch and % fill."""
    cells: Dict[Tuple[str, str, str], Dict[str, Result]] = {}
    for r in results:
        cells.setdefault((r.label, r.dtype, r.device), {})[r.library] = r
    lines = ["| op | dtype | device | fastinit GB/s | torch GB/s | numpy GB/s | "
             "fastinit vs torch | fastinit % fill |", "|---|---|---|---:|---:|---:|---:|---:|"]
    for (op, dtype, device), libs in cells.items():
        fi = libs.get("fastinit")
        if op == MODEL and fi is not None and "torch" in libs:
            op += (f" (patch: {fi.median_s:.2f} s vs {libs['torch'].median_s:.2f} s; "
                   f"fresh fill_ {statistics.median(fi.fill_s):.2f} s)")
        elif fi is not None and fi.note:
            op += f" ({fi.note})"
        elif op.startswith("fill_"):
            op += f" ({REF_LIB} = reference)"
        gb = [_fmt(libs[k].gbps, ".2f") if k in libs else "-"
              for k in ("fastinit", "torch", "numpy")]
        ratio = _fmt(fi.ratio_vs_torch, ".1f", "x") if fi else "-"
        pct = _fmt(fi.pct_of_fill, ".0f", "%") if fi else "-"
        lines.append(f"| {op} | {dtype} | {device} | {' | '.join(gb)} | {ratio} | {pct} |")
    return "\n".join(lines)


def plot(results: List[Result], path: str) -> None:
    """PNG bar chart (log scale): GB/s per op/dtype/device, one bar per library."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys((r.label, r.dtype, r.device) for r in results))
    libs = list(dict.fromkeys(r.library for r in results))
    gbps = {(r.label, r.dtype, r.device, r.library): r.gbps for r in results}
    fig, ax = plt.subplots(figsize=(max(8.0, 0.45 * len(groups) + 2), 5.5))
    width, centers = 0.8 / len(libs), np.arange(len(groups))
    for i, lib in enumerate(libs):
        have = [g for g, key in enumerate(groups) if (*key, lib) in gbps]
        ax.bar(centers[have] - 0.4 + (i + 0.5) * width,
               [gbps[(*groups[g], lib)] for g in have], width, label=lib)
    ax.set_xticks(centers)
    ax.set_xticklabels([" ".join(g) for g in groups], rotation=60, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("GB/s (median, log scale)")
    ax.set_title("fastinit vs torch / numpy: output bytes per second (higher is better)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: Optional[List[str]] = None) -> int:
    """Parse options, print the header, run, print both tables, write JSON / PNG if asked."""
    args = parse_args(argv)
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        print("matplotlib is needed for --plot (pip install matplotlib); it is not a dependency "
              "of fastinit", file=sys.stderr)
        return 2
    if args.threads is not None:
        fastinit.set_num_threads(args.threads)
        if torch is not None:
            torch.set_num_threads(args.threads)
    meta = metadata(args)
    print("\n".join(f"# {k}: {v}" for k, v in meta.items()), flush=True)
    if torch is None:
        print("# torch is not installed: fastinit and numpy only, 'vs torch' is '-', the fill "
              "reference is numpy ndarray.fill", flush=True)
    t0 = time.perf_counter()
    results, notes = run(args)
    annotate(results)
    notes += [f"{len(results)} measurements in {time.perf_counter() - t0:.1f} s",
              "trunc_normal_: mean 0, std 0.02, a -2, b 2 on both sides",
              f"% fill: against {REF_LIB} fill_ on the same buffer, timed in the same rounds "
              f"(the 'fill_ {REF_LIB} (reference)' row pools those times)"]
    if fi_nn is None:
        notes.append("fastinit.nn_init missing: kaiming_uniform_/xavier_normal_ 'composed'")
    print(table(results))
    print("\n".join(f"note: {n}" for n in notes))
    print("\n" + markdown(results))
    meta["notes"] = notes
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": [asdict(r) for r in results]}, f, indent=1)
    if args.plot:
        plot(results, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""fastinit's CUDA kernel on one GPU: every dtype and distribution, and the layouts the kernel
treats differently, against the device's own write and copy bandwidth measured in the same run.

    python benchmarks/gpu_kernels.py [--size N] [--repeats R] [--json PATH]

Each call is timed by CUDA events around the GPU's work, with a sleep kernel queued first so
the host has enqueued the call before the GPU reaches the start event (no Python overhead in
the figures); the median of R calls is shown. Rows:

* ceilings: torch ``fill_`` (write-only: the bandwidth a fill can reach) and ``copy_`` (bytes
  read plus written), on the same number of bytes as a float32 buffer of N elements;
* per dtype: random_bits_ (Philox alone; uint32), constant_ (stores alone), uniform_, normal_,
  trunc_normal_ (std 0.02 on [-2, 2], and a far tail [5, 6] std);
* float32 normal_ in the layouts the kernel handles apart: a contiguous tensor (one row, 16-byte
  stores), a tensor-parallel column shard (rows of 1024, one division per tile), a view whose
  first element is off a 16-byte boundary (scalar stores) and a transposed view (strided rows).

``GB/s`` is output bytes per second, ``% fill`` the share of torch fill_'s GB/s in this run.
``benchmarks/throughput.py --devices cuda`` has the side-by-side comparison with torch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Any, Callable, Dict, List, Optional

import fastinit

try:
    import torch
except ImportError:  # pragma: no cover - reported below
    torch = None

HEAD_START_CYCLES = 2_000_000
DTYPES = ("float32", "bfloat16", "float16", "float64", "float8_e4m3fn")


def gpu_seconds(fn: Callable[[], Any], repeats: int) -> float:
    """Median GPU time of ``fn`` over ``repeats`` calls after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda._sleep(HEAD_START_CYCLES)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def rows(size: int, repeats: int) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []

    def add(group: str, name: str, dtype: str, nbytes: int, fn: Callable[[], Any]) -> None:
        s = gpu_seconds(fn, repeats)
        out.append({"group": group, "op": name, "dtype": dtype, "bytes": nbytes,
                    "median_s": s, "gbps": nbytes / s / 1e9})
        print(f"  {group:<8} {name:<26} {dtype:<14} {nbytes / s / 1e9:9.1f} GB/s", flush=True)

    f32 = torch.empty(size, device="cuda")
    src = torch.ones(size, device="cuda")
    add("ceiling", "torch fill_", "float32", f32.nbytes, lambda: f32.fill_(1.0))
    add("ceiling", "torch copy_ (read+write)", "float32", 2 * f32.nbytes, lambda: f32.copy_(src))
    bits = torch.empty(size, dtype=getattr(torch, "uint32", torch.int32), device="cuda")
    if bits.dtype == getattr(torch, "uint32", None):
        add("dtype", "random_bits_", "uint32", bits.nbytes,
            lambda: fastinit.random_bits_(bits, seed=1))
    for dtype in DTYPES:
        t = torch.empty(size, dtype=getattr(torch, dtype), device="cuda")
        for name, fn in (
            ("constant_", lambda: fastinit.constant_(t, 0.5)),
            ("uniform_", lambda: fastinit.uniform_(t, -1.0, 1.0, seed=1)),
            ("normal_", lambda: fastinit.normal_(t, 0.0, 0.02, seed=1)),
            ("trunc_normal_", lambda: fastinit.trunc_normal_(t, 0.0, 0.02, -2.0, 2.0, seed=1)),
            ("trunc_normal_ [5, 6] std", lambda: fastinit.trunc_normal_(t, 0.0, 1.0, 5.0, 6.0,
                                                                        seed=1)),
        ):
            add("dtype", name, dtype, t.nbytes, fn)
    cols = 4096
    full = torch.empty(size // cols, cols, device="cuda")
    layouts = (
        ("contiguous", full, {}),
        ("column shard (rows of 1024)", torch.empty(size // cols, 1024, device="cuda"),
         {"global_shape": [size // cols, cols], "global_offset": [0, 2048]}),
        ("misaligned start", full.view(-1)[1:], {}),
        ("transposed", full.t(), {}),
    )
    for name, target, placement in layouts:
        add("layout", name, "float32", target.numel() * 4,
            lambda: fastinit.normal_(target, 0.0, 0.02, seed=1, **placement))
    fill_gbps = out[0]["gbps"]
    for r in out:
        r["pct_of_fill"] = 100 * r["gbps"] / fill_gbps
    return out


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=2**28, help="elements per buffer (default 2**28)")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    if torch is None or not torch.cuda.is_available() or not fastinit.cuda_available():
        print("gpu_kernels: no CUDA GPU usable by torch and fastinit; nothing measured")
        return 0
    props = torch.cuda.get_device_properties(0)
    meta = {"gpu": props.name, "sms": props.multi_processor_count,
            "memory_gb": props.total_memory / 1e9, "torch": torch.__version__,
            "fastinit": fastinit.__version__, "size": args.size, "repeats": args.repeats,
            "timing": "CUDA events, median, host overhead excluded"}
    print("# " + json.dumps(meta), flush=True)
    results = rows(args.size, args.repeats)
    print(f"\n{'group':<8} {'op':<28} {'dtype':<14} {'GB/s':>8} {'% fill':>7}")
    for r in results:
        print(f"{r['group']:<8} {r['op']:<28} {r['dtype']:<14} {r['gbps']:8.1f} "
              f"{r['pct_of_fill']:6.0f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

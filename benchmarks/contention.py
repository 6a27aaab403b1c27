"""fastinit on a machine that is doing other work: fills and model builds vs torch, cores shared.

    python benchmarks/contention.py                 # every scenario (about 10 minutes on 2 cores)
    python benchmarks/contention.py --quick         # no 200M model
    python benchmarks/contention.py --baseline DIR  # DIR's fastinit too (a folder holding the
                                                    # fastinit package), alternating with this one

Scenarios: quiet; one busy process; one busy process per core; the benchmark held to one CPU
(``os.sched_setaffinity``); and N processes (one per core) each building the 200M model at
once, as torchrun ranks on one node would. Busy processes are Python busy loops started beside
the benchmark. Each measurement runs in a fresh worker process per fastinit build; the builds
alternate, and within a worker fastinit and torch alternate. Cells: median time of fastinit /
of torch (or of the patched build / the plain one), and their ratio, torch's time over
fastinit's (above 1: fastinit is faster).

Rows: ``normal_`` float32 of 2^16 .. 2^24 elements (``t.normal_()`` for torch); a small Llama
(2 layers, hidden 256, float32) and a ~200M-parameter Llama (hidden 1024, 12 layers, vocab 32000)
in bfloat16, ``AutoModelForCausalLM.from_config`` under ``fastinit.patch()`` vs plain.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional

FILL_SIZES = (16, 18, 20, 24)  # log2 of the element counts
FILL_REPS = {16: 300, 18: 100, 20: 30, 24: 5}
SMALL = dict(hidden_size=256, intermediate_size=688, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=4, vocab_size=1024)
LLAMA_200M = dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=12,
                  num_attention_heads=16, num_key_value_heads=16, vocab_size=32000)
Times = Dict[str, Dict[str, List[float]]]  # row -> {"fastinit": [...], "torch": [...]}


def _alternate(ways: Dict[str, Callable[[], object]], reps: int,
               collect: bool = False) -> Dict[str, List[float]]:
    """Times of each way, the ways alternating; collect: a gc.collect() before each (untimed:
    with torch and transformers loaded it takes about 0.1 s)."""
    import gc  # noqa: PLC0415

    out: Dict[str, List[float]] = {k: [] for k in ways}
    for _ in range(reps):
        for name, run in ways.items():
            if collect:
                gc.collect()
            t = time.perf_counter()
            run()
            out[name].append(time.perf_counter() - t)
    return out


_KEEP: list = []


def _import_transformers() -> object:
    """transformers, also where torchvision's C++ ops fail to load (PyPI's CUDA build of
    torchvision on the CPU torch: its import then stops at two undefined ops, and takes
    transformers down with it; tests/conftest.py does the same)."""
    import torch  # noqa: PLC0415

    try:
        import torchvision  # noqa: F401, PLC0415
    except ImportError:
        pass
    except RuntimeError:
        for name in [n for n in sys.modules if n.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        lib = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _KEEP.append(lib)
    import transformers  # noqa: PLC0415

    return transformers


def _llama(cfg: dict, dtype_name: str) -> Dict[str, Callable[[], object]]:
    import torch  # noqa: PLC0415

    import fastinit  # noqa: PLC0415

    transformers: Any = _import_transformers()
    config = transformers.LlamaConfig(**cfg)
    dtype = getattr(torch, dtype_name)

    def plain() -> None:
        transformers.AutoModelForCausalLM.from_config(config, dtype=dtype)

    def patched() -> None:
        with fastinit.patch():
            transformers.AutoModelForCausalLM.from_config(config, dtype=dtype)

    return {"fastinit": patched, "torch": plain}


def worker(rows: List[str]) -> Times:
    """The measurements of one worker process (this interpreter's fastinit)."""
    import warnings  # noqa: PLC0415

    import torch  # noqa: PLC0415

    import fastinit  # noqa: PLC0415

    warnings.simplefilter("ignore")
    out: Times = {}
    for row in rows:
        if row.startswith("normal_ 2^"):
            bits = int(row.split("^")[1])
            buf = torch.empty(1 << bits)
            ways = {"fastinit": lambda b=buf: fastinit.normal_(b, seed=1),
                    "torch": lambda b=buf: b.normal_()}
            _alternate(ways, 2)  # warm: pages resident, threads started
            out[row] = _alternate(ways, FILL_REPS[bits])
        elif row == "small Llama":
            ways = _llama(SMALL, "float32")
            _alternate(ways, 1)
            out[row] = _alternate(ways, 15, collect=True)
        elif row == "200M Llama bf16":
            ways = _llama(LLAMA_200M, "bfloat16")
            _alternate(ways, 1)
            out[row] = _alternate(ways, 3, collect=True)
    return out


def ranks_worker(index: int, barrier_dir: str, ranks: int, rounds: int) -> Times:
    """One of `ranks` processes building the 200M model at the same moments as the others:
    each build starts when every rank has reached it (a barrier of files)."""
    import gc  # noqa: PLC0415

    ways = _llama(LLAMA_200M, "bfloat16")
    out: Times = {"200M Llama bf16, every rank building": {"fastinit": [], "torch": []}}
    step = 0
    for _ in range(rounds + 1):  # the first round warms up
        for name, build in ways.items():
            gc.collect()
            open(os.path.join(barrier_dir, f"{step}.{index}"), "w").close()
            while len([f for f in os.listdir(barrier_dir) if f.startswith(f"{step}.")]) < ranks:
                time.sleep(0.001)
            t = time.perf_counter()
            build()
            if step >= 2:
                out["200M Llama bf16, every rank building"][name].append(time.perf_counter() - t)
            step += 1
    return out


def _run_workers(pythonpath: str, argv: List[str], count: int = 1,
                 affinity: Optional[int] = None) -> List[Times]:
    env = dict(os.environ, PYTHONPATH=pythonpath)
    cmd = [sys.executable, os.path.abspath(__file__)] + argv
    if affinity is not None:
        cmd += ["--affinity", str(affinity)]
    procs = [subprocess.Popen(cmd + ["--index", str(i)], env=env, stdout=subprocess.PIPE,
                              text=True) for i in range(count)]
    results = []
    for p in procs:
        stdout, _ = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"worker failed ({p.returncode}): {' '.join(cmd)}")
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    return results


def _busy(n: int) -> List[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def _merge(into: Dict[str, Times], label: str, times: Times) -> None:
    for row, ways in times.items():
        cell = into.setdefault(label, {}).setdefault(row, {"fastinit": [], "torch": []})
        for way, ts in ways.items():
            cell[way].extend(ts)


def _cell(ways: Dict[str, List[float]]) -> str:
    f, t = statistics.median(ways["fastinit"]), statistics.median(ways["torch"])
    unit, scale = ("ms", 1e3) if t < 1 else ("s", 1.0)
    return f"{f * scale:.3g} / {t * scale:.3g} {unit}: **{t / f:.2f}x**"


def _machine() -> str:
    import torch  # noqa: PLC0415

    import fastinit  # noqa: PLC0415

    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {model}, "
            f"{os.cpu_count()} CPUs, cpu_isa {fastinit.cpu_isa()}, fastinit threads "
            f"{fastinit.get_num_threads()}, torch {torch.__version__} threads "
            f"{torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f} at start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="no 200M model")
    ap.add_argument("--rounds", type=int, default=2, help="worker runs per build and scenario")
    ap.add_argument("--baseline", help="a folder holding another fastinit package, to compare")
    ap.add_argument("--scenarios", default="quiet,1 busy,all busy,1 CPU,ranks")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--ranks-worker", help=argparse.SUPPRESS)
    ap.add_argument("--affinity", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.affinity is not None:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.affinity])
    if args.worker:
        print(json.dumps(worker(args.worker.split(","))))
        return
    if args.ranks_worker:
        barrier_dir, ranks, rounds = args.ranks_worker.split(",")
        print(json.dumps(ranks_worker(args.index, barrier_dir, int(ranks), int(rounds))))
        return

    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python")
    builds = {"fastinit": os.environ.get("PYTHONPATH") or here}
    if args.baseline:
        builds["baseline"] = args.baseline
    print(_machine())
    rows = [f"normal_ 2^{b}" for b in FILL_SIZES] + ["small Llama"]
    if not args.quick:
        rows.append("200M Llama bf16")
    cpus = len(os.sched_getaffinity(0))
    scenarios = {"quiet": (0, None), "1 busy": (1, None), "all busy": (cpus, None),
                 "1 CPU": (0, 1)}
    wanted = args.scenarios.split(",")
    results: Dict[str, Dict[str, Times]] = {name: {} for name in builds}
    for scenario, (busy, affinity) in scenarios.items():
        if scenario not in wanted:
            continue
        load = _busy(busy)
        try:
            for _ in range(args.rounds):
                for name, path in builds.items():
                    times = _run_workers(path, ["--worker", ",".join(rows)], affinity=affinity)
                    _merge(results[name], scenario, times[0])
        finally:
            for p in load:
                p.kill()
                p.wait()
        print(f"# {scenario} done", flush=True)
    if "ranks" in wanted and not args.quick:
        import tempfile  # noqa: PLC0415

        for name, path in builds.items():
            with tempfile.TemporaryDirectory() as barrier:
                for times in _run_workers(path, ["--ranks-worker", f"{barrier},{cpus},2"], cpus):
                    _merge(results[name], f"{cpus} ranks", times)
    for name, table in results.items():
        print(f"\n{name} ({builds[name]}): fastinit / torch median, torch's time over fastinit's")
        columns = list(table)
        print("| row | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns))
        for row in dict.fromkeys(r for col in table.values() for r in col):
            cells = [_cell(table[c][row]) if row in table[c] else "" for c in columns]
            print(f"| {row} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

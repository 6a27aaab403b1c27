"""Whole-model init: what patch mode costs, and how fast a Llama gets its weights each way.

    python benchmarks/model_init.py            # enter/exit cost, small model, 1.1B bf16 Llama
    python benchmarks/model_init.py --quick    # no 1.1B model (about 20 s)

1. ``with fastinit.patch(): pass`` with torch, transformers and timm (when installed) loaded:
   median of 200 enter + exit pairs.
2. A small Llama (2 layers, hidden 256) built plainly and under patch, alternating, medians:
   patch mode must not slow small models down.
3. A 1.1B Llama (TinyLlama's shape: hidden 2048, 22 layers, 32 heads, 4 KV heads, vocab
   32000) in bfloat16, four ways, alternating rounds, medians: plain
   ``from_config(cfg, dtype=bfloat16)``; the same under ``fastinit.patch()``; built on meta,
   ``to_empty``, then ``init_weights()`` under patch; ``fastinit.materialize``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import statistics
import time
import warnings
from typing import Callable, Dict, List

import torch

import fastinit


def _median_ms(fn: Callable[[], None], n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def _enter_exit() -> None:
    with fastinit.patch():
        pass


def _alternate(ways: Dict[str, Callable[[], object]], rounds: int) -> Dict[str, List[float]]:
    out: Dict[str, List[float]] = {k: [] for k in ways}
    for _ in range(rounds):
        for name, build in ways.items():
            gc.collect()
            t = time.perf_counter()
            m = build()
            out[name].append(time.perf_counter() - t)
            del m
    return out


def _llama_ways(cfg: object, dtype: torch.dtype) -> Dict[str, Callable[[], object]]:
    from transformers import AutoModelForCausalLM  # noqa: PLC0415

    def plain() -> object:
        return AutoModelForCausalLM.from_config(cfg, dtype=dtype)

    def patched() -> object:
        with fastinit.patch():
            return plain()

    def meta_then_init_weights() -> object:
        with torch.device("meta"):
            m = plain()
        m = m.to_empty(device="cpu")
        with fastinit.patch():
            m.init_weights()
        return m

    def materialized() -> object:
        return fastinit.materialize(plain, dtype=dtype, seed=0, warn=False)

    return {"plain": plain, "patch": patched, "meta + init_weights under patch":
            meta_then_init_weights, "materialize": materialized}


def _table(title: str, results: Dict[str, List[float]]) -> None:
    base = statistics.median(results["plain"])
    print(f"\n{title}\n| way | median s | runs (s) | vs plain |\n|---|---:|---|---:|")
    for name, times in results.items():
        med = statistics.median(times)
        runs = " / ".join(f"{t:.3f}" for t in times)
        print(f"| {name} | {med:.3f} | {runs} | {base / med:.2f}x |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 1.1B model")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the 1.1B model")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import transformers  # noqa: PLC0415

    loaded = ["torch", "transformers"]
    if importlib.util.find_spec("timm") is not None:
        try:
            import timm  # noqa: F401, PLC0415
            loaded.append("timm")
        except Exception as e:  # noqa: BLE001 - a broken torchvision: say so, go on
            print(f"timm not loaded ({type(e).__name__}: {str(e)[:80]})")
    import sys  # noqa: PLC0415

    print(f"fastinit {fastinit.__version__}, isa {fastinit.cpu_isa()}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, {len(sys.modules)} modules loaded "
          f"({', '.join(loaded)})")
    _enter_exit()  # the first entry scans every module once
    print(f"patch enter + exit: {_median_ms(_enter_exit, 200):.3f} ms (median of 200)")

    small = transformers.LlamaConfig(hidden_size=256, intermediate_size=688, num_hidden_layers=2,
                                     num_attention_heads=4, num_key_value_heads=4,
                                     vocab_size=1024)
    ways = _llama_ways(small, torch.float32)
    _table("small Llama (2 layers, hidden 256, 2.4M float32 parameters), 15 rounds",
           _alternate({"plain": ways["plain"], "patch": ways["patch"]}, 15))
    if args.quick:
        return
    big = transformers.LlamaConfig(hidden_size=2048, intermediate_size=5632,
                                   num_hidden_layers=22, num_attention_heads=32,
                                   num_key_value_heads=4, vocab_size=32000)
    _table(f"1.1B Llama in bfloat16, {args.rounds} rounds",
           _alternate(_llama_ways(big, torch.bfloat16), args.rounds))


if __name__ == "__main__":
    main()

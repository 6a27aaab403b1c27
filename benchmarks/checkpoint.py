"""Checkpoint writing rate vs the disk's plain sequential write rate, same run, plus peak RSS.

    python benchmarks/checkpoint.py                   # Llama-2-7B shapes, bf16 (~13.5 GB)
    python benchmarks/checkpoint.py --layers 4        # fewer layers (smaller files)
    python benchmarks/checkpoint.py --config my/config.json --dir /mnt/fast/tmp

Each measurement runs in its own subprocess (so its peak RSS is its own): first a plain write
of the same number of bytes in the same chunk size from one prefilled buffer, fsync at the end
(the disk's rate), then ``fastinit.checkpoint`` (generate + write + fsync + rename), then, with
transformers installed, ``fastinit.checkpoint_module`` on the same model built on meta by
transformers. Files are deleted after each. Needs free disk of the checkpoint size plus 10 %.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

LLAMA2_7B = {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
             "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32000,
             "tie_word_embeddings": False, "initializer_range": 0.02}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_plain(path: str, total: int, chunk: int) -> None:
    buf = os.urandom(min(chunk, total))
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    done = 0
    while done < total:
        done += os.write(fd, buf[: min(chunk, total - done)])
    os.fsync(fd)
    os.close(fd)
    print(json.dumps({"seconds": time.perf_counter() - t0, "rss_mb": _rss_mb()}))


def child_checkpoint(cfg_path: str, out: str, dtype: str, chunk: int, workers: int) -> None:
    import fastinit  # noqa: PLC0415
    import torch  # noqa: F401, PLC0415 - imported before the clock and the RSS baseline

    base = _rss_mb()
    t0 = time.perf_counter()
    fastinit.checkpoint(cfg_path, out, dtype=dtype, seed=0, chunk_bytes=chunk, workers=workers,
                        progress=False)
    print(json.dumps({"seconds": time.perf_counter() - t0, "rss_mb": _rss_mb(),
                      "rss_after_import_mb": base}))


def child_module(cfg_path: str, out: str, dtype: str, workers: int) -> None:
    """The same model built on meta by transformers, written by fastinit.checkpoint_module."""
    import fastinit  # noqa: PLC0415
    import torch  # noqa: PLC0415
    import transformers  # noqa: PLC0415

    with open(cfg_path, encoding="utf-8") as f:
        config = transformers.LlamaConfig(**json.load(f))
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(config)
    base = _rss_mb()
    t0 = time.perf_counter()
    fastinit.checkpoint_module(model, out, dtype=dtype, seed=0, workers=workers, progress=False)
    print(json.dumps({"seconds": time.perf_counter() - t0, "rss_mb": _rss_mb(),
                      "rss_after_import_mb": base}))


def run(args: list) -> dict:
    r = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--config", help="a Llama config.json (default: Llama-2-7B shapes)")
    p.add_argument("--layers", type=int, help="override num_hidden_layers (shrink)")
    p.add_argument("--scale", type=float, help="keep this fraction of the layers (shrink)")
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    p.add_argument("--chunk-mb", type=int, default=64)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        kind, *rest = a.child
        if kind == "plain":
            child_plain(rest[0], int(rest[1]), int(rest[2]))
        elif kind == "module":
            child_module(rest[0], rest[1], rest[2], int(rest[3]))
        else:
            child_checkpoint(rest[0], rest[1], rest[2], int(rest[3]), int(rest[4]))
        return 0

    from fastinit.checkpoints import _DTYPES, llama_specs  # noqa: PLC0415

    cfg = dict(LLAMA2_7B)
    if a.config:
        with open(a.config, encoding="utf-8") as f:
            cfg = json.load(f)
    if a.layers:
        cfg["num_hidden_layers"] = a.layers
    if a.scale:
        cfg["num_hidden_layers"] = max(1, round(cfg["num_hidden_layers"] * a.scale))
    total = sum(s.numel for s in llama_specs(cfg)) * _DTYPES[a.dtype][1]
    root = tempfile.mkdtemp(prefix="fastinit-bench-", dir=a.dir)
    free = shutil.disk_usage(root).free
    if free < total * 1.1:
        shutil.rmtree(root)
        print(f"not enough free disk: need {total * 1.1 / 1e9:.1f} GB, have {free / 1e9:.1f} GB;"
              f" use --layers/--scale", file=sys.stderr)
        return 2
    chunk = a.chunk_mb << 20
    try:
        cfg_path = os.path.join(root, "config.json")
        with open(cfg_path, "w", encoding="utf-8") as f:
            json.dump(cfg, f)
        plain = run(["--child", "plain", os.path.join(root, "plain.bin"), str(total), str(chunk)])
        os.unlink(os.path.join(root, "plain.bin"))
        ckpt = run(["--child", "ckpt", cfg_path, os.path.join(root, "ck"), a.dtype, str(chunk),
                    str(a.workers)])
        shutil.rmtree(os.path.join(root, "ck"))
        module = None
        if importlib.util.find_spec("transformers") is not None:
            module = run(["--child", "module", cfg_path, os.path.join(root, "mod"), a.dtype,
                          "2"])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    gb = total / 1e9
    print(f"model: {cfg['num_hidden_layers']} layers, hidden {cfg['hidden_size']}, {a.dtype}, "
          f"{gb:.2f} GB; chunk {a.chunk_mb} MB, {a.workers} workers; free disk {free / 1e9:.0f} GB")
    print(f"{'':24s}{'seconds':>9s}{'GB/s':>8s}{'peak RSS MB':>13s}")
    print(f"{'plain sequential write':24s}{plain['seconds']:9.2f}{gb / plain['seconds']:8.2f}"
          f"{plain['rss_mb']:13.0f}")
    print(f"{'fastinit.checkpoint':24s}{ckpt['seconds']:9.2f}{gb / ckpt['seconds']:8.2f}"
          f"{ckpt['rss_mb']:13.0f}   (after importing torch: {ckpt['rss_after_import_mb']:.0f} MB)")
    if module is not None:
        print(f"{'checkpoint(meta model)':24s}{module['seconds']:9.2f}"
              f"{gb / module['seconds']:8.2f}{module['rss_mb']:13.0f}   (after building it on "
              f"meta: {module['rss_after_import_mb']:.0f} MB)")
    else:
        print("checkpoint(meta model): skipped (transformers is not installed)")
    print(f"checkpoint / plain write rate: {plain['seconds'] / ckpt['seconds']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

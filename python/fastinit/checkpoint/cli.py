"""fastinit command line: write a safetensors checkpoint of a Llama/Mistral config.json
(checkpoint) and recompute one to check it (verify). 'fastinit COMMAND --help' for each."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List, Optional, Tuple

from .._engine._torch_required import TorchNotInstalledError, require_torch
from .._engine._version import __version__


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="fastinit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"fastinit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("checkpoint", help="write a LlamaForCausalLM safetensors checkpoint")
    c.add_argument("config", help="transformers config.json (or a directory holding one)")
    c.add_argument("--out", required=True, help="output directory")
    c.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"],
                   help="dtype of every tensor (default: bfloat16)")
    c.add_argument("--seed", type=int, default=0, help="the key of every stream (default: 0)")
    c.add_argument("--max-shard-size", default="5GB",
                   help="largest file, as transformers spells it: 5GB, 500MB, 2GiB (default: 5GB)")
    c.add_argument("--workers", type=int, default=4,
                   help="threads generating and writing chunks (default: 4)")
    c.add_argument("--chunk-mb", type=int, default=64,
                   help="rows generated per step, in MiB; memory is about one chunk per worker "
                        "(default: 64)")
    c.add_argument("--overwrite", action="store_true",
                   help="write into a directory that holds files other than a fastinit "
                        "checkpoint (they are kept)")
    _progress_flags(c)
    v = sub.add_parser("verify", help="recompute a checkpoint's tensors and compare")
    v.add_argument("dir", help="a directory written by 'fastinit checkpoint', or by "
                              "fastinit.checkpoint(meta_model) for a transformers model")
    v.add_argument("--seed", type=int, default=None, help="default: the seed in the files")
    v.add_argument("--sample", type=int, default=None,
                   help="check N random row blocks (N whole tensors for a model other than "
                        "Llama/Mistral)")
    _progress_flags(v)
    args = parser.parse_args(argv)
    args.show = args.progress or (not args.quiet and sys.stderr.isatty())
    try:
        return _run(args)
    except TorchNotInstalledError as e:  # the message names the command and the fix
        print(e, file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as e:  # bad input, missing file, full disk
        print(f"fastinit {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the writer has removed its staging directory by now
        where = f"; {args.out} is as it was" if args.command == "checkpoint" else ""
        print(f"{chr(10) if args.show else ''}fastinit {args.command}: interrupted{where}",
              file=sys.stderr)
        return 130


def _progress_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", action="store_true",
                   help="show progress even when stderr is not a terminal")
    g.add_argument("--quiet", action="store_true", help="no progress (default when stderr "
                                                        "is not a terminal)")


def _torchrun() -> Tuple[Optional[int], Optional[int]]:
    """Under torchrun (WORLD_SIZE > 1): this process's rank and the world size, with
    torch.distributed's gloo group started from torchrun's environment; else (None, None)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None, None
    import torch.distributed as dist  # noqa: PLC0415

    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return dist.get_rank(), dist.get_world_size()


def _run(args: argparse.Namespace) -> int:
    from ._units import human_bytes  # noqa: PLC0415
    from .checkpoints import checkpoint, verify  # noqa: PLC0415

    require_torch(f"fastinit {args.command}")  # both commands compute tensors in torch
    t0 = time.perf_counter()
    if args.command == "checkpoint":
        if args.chunk_mb < 1:
            raise ValueError(f"--chunk-mb must be >= 1, got {args.chunk_mb}")
        rank, world = _torchrun()
        try:
            index = checkpoint(args.config, args.out, dtype=args.dtype, seed=args.seed,
                               max_shard_size=args.max_shard_size, workers=args.workers,
                               chunk_bytes=args.chunk_mb << 20, progress=args.show,
                               overwrite=args.overwrite, rank=rank, world_size=world)
        finally:
            if rank is not None:  # gloo torn down at interpreter exit aborts the process
                import torch.distributed as dist  # noqa: PLC0415

                dist.destroy_process_group()
        if rank:
            return 0  # rank 0 reports for all
        size = index["metadata"]["total_size"]
        dt = time.perf_counter() - t0
        print(f"wrote {human_bytes(size)}, {len(index['weight_map'])} tensors, "
              f"{len(set(index['weight_map'].values()))} shard(s) to {args.out} in {dt:.1f} s "
              f"({human_bytes(size / dt)}/s)")
        return 0
    bad = verify(args.dir, seed=args.seed, sample=args.sample, progress=args.show)
    for line in bad[:50]:
        print(f"MISMATCH {line}")
    print(f"verify: {'OK' if not bad else f'{len(bad)} mismatch(es)'} "
          f"({time.perf_counter() - t0:.1f} s)")
    return 1 if bad else 0

if __name__ == "__main__":
    sys.exit(main())

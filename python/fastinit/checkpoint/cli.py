"""fastinit command line: write a safetensors checkpoint of a Llama/Mistral config.json
(checkpoint) and recompute one to check it (verify). 'fastinit COMMAND --help' for each."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
import time
import warnings
from typing import Any, List, Optional, Tuple

from ._signals import Interrupted
from .._engine._torch_required import TorchNotInstalledError, require_torch
from .._engine._version import __version__

# the function's name that library messages start with; the CLI says its own
_PREFIX = re.compile(r"^fastinit(\.\w+)*: ")


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
    args.done = False  # set once the checkpoint is written, before anything is printed
    term = _raise_on_sigterm()
    said: List[Any] = []
    try:
        with warnings.catch_warnings(record=True) as said:
            code = _run(args)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM; the write was undone or finished
        code = _interrupted(args, e)
    except TorchNotInstalledError as e:  # the message names the command and the fix
        print(e, file=sys.stderr)
        code = 2
    except Exception as e:  # noqa: BLE001 - bad input, missing file, full disk, anything
        print(f"fastinit {args.command}: error: {_message(e)}", file=sys.stderr)
        code = 2
    finally:
        if term is not None:
            signal.signal(signal.SIGTERM, term)
    for w in said:  # fastinit's own as one line each; others as Python shows them
        if str(w.message).startswith("fastinit"):
            print(f"fastinit {args.command}: warning: {_message(w.message)}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if argv is None:  # the program itself: nothing may change its exit status now
        _ignore_signals()
    return code


def _message(e: Any) -> str:
    """One line: an exception's text without a library function's prefix or an errno."""
    if isinstance(e, OSError) and e.strerror:
        where = "".join(f"{f}: " for f in (e.filename, e.filename2) if f is not None)
        text = f"{where}{e.strerror}"
    else:
        text = str(e) or type(e).__name__
        if not isinstance(e, (ValueError, TypeError, OSError, UserWarning)):
            text = f"{type(e).__name__}: {text}"  # not a refusal of fastinit's: say what
    return _PREFIX.sub("", text)


def _interrupted(args: argparse.Namespace, e: BaseException) -> int:
    signum = getattr(e, "signum", signal.SIGINT)
    committed = getattr(e, "committed", False) or args.done
    if args.command != "checkpoint":
        where = ""
    elif committed:
        where = f"; {args.out} holds the new checkpoint (it was complete)"
    else:
        where = f"; {args.out} is as it was"
    what = "terminated" if signum == signal.SIGTERM else "interrupted"
    print(f"{chr(10) if args.show else ''}fastinit {args.command}: {what}{where}",
          file=sys.stderr)
    return 128 + signum


def _raise_on_sigterm() -> Any:
    """SIGTERM raises, so the writer undoes its work and the message says so (main thread
    only); returns the handler to put back, or None."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_term(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    return signal.signal(signal.SIGTERM, on_term)


def _ignore_signals() -> None:
    """After the last line is printed: a Ctrl-C during interpreter shutdown must not turn a
    finished run into a death by signal."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


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
        args.done = True
        if rank:
            return 0  # rank 0 reports for all
        size = index["metadata"]["total_size"]
        dt = time.perf_counter() - t0
        print(f"wrote {human_bytes(size)}, {len(index['weight_map'])} tensors, "
              f"{len(set(index['weight_map'].values()))} shard(s) to {args.out} in "
              f"{_took(dt)} ({human_bytes(size / dt)}/s)")
        return 0
    bad = verify(args.dir, seed=args.seed, sample=args.sample, progress=args.show)
    for line in bad[:50]:
        print(f"MISMATCH {line}")
    print(f"verify: {'OK' if not bad else f'{len(bad)} mismatch(es)'} "
          f"({_took(time.perf_counter() - t0)})")
    return 1 if bad else 0


def _took(seconds: float) -> str:
    """'850 ms', '12.3 s': never '0.0 s'."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


if __name__ == "__main__":
    sys.exit(main())

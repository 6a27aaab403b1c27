"""Who owns the files in a checkpoint's output directory, and the one-writer lock.

``out_dir`` may be absent, empty, or a checkpoint fastinit wrote: an index whose every shard
carries fastinit's metadata (``fastinit_seed``); its files are the index, those shards and
``config.json``. Anything else in it belongs to the user: without ``overwrite`` that refuses
the write, and with it those files are carried into the new checkpoint (hard links, so they
are never deleted). A user file named like one the checkpoint writes, or a subdirectory
(which cannot be carried atomically), is refused even then.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
from typing import List, Optional, Sequence, Set

from ._safetensors_read import written_by_fastinit

INDEX = "model.safetensors.index.json"
CONFIG = "config.json"
# final names, and the temporaries of fastinit versions before the staging directory
_OURS = re.compile(r"\.?(model-\d{5}-of-\d{5}\.safetensors|model\.safetensors\.index\.json|"
                   r"config\.json)(\.partial)?")


def sibling(out: str, role: str) -> str:
    """``.NAME.fastinit-ROLE`` next to ``out``: same filesystem, so renames are atomic."""
    parent, base = os.path.split(os.path.abspath(out))
    return os.path.join(parent, f".{base}.fastinit-{role}")


def owned_files(out: str) -> Optional[Set[str]]:
    """The names of the files of the fastinit checkpoint in ``out``; None when ``out`` holds
    none (no index, an unreadable one, or a shard fastinit's metadata does not mark)."""
    try:
        with open(os.path.join(out, INDEX), encoding="utf-8") as f:
            shards = set(json.load(f)["weight_map"].values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not all(isinstance(s, str) and os.path.basename(s) == s and
               written_by_fastinit(os.path.join(out, s)) for s in shards):
        return None
    owned = shards | {INDEX}
    if os.path.isfile(os.path.join(out, CONFIG)):
        owned.add(CONFIG)
    # temporaries an older fastinit left beside its checkpoint
    owned.update(n for n in os.listdir(out) if n.startswith(".") and _OURS.fullmatch(n))
    return owned


def files_to_carry(out: str, writes: Sequence[str], overwrite: bool, fn: str) -> List[str]:
    """The user's files in ``out`` that the new checkpoint keeps; ValueError when ``out``
    may not be written (see the module docstring)."""
    if not os.path.lexists(out):
        return []
    if not os.path.isdir(out) or os.path.islink(out):
        raise ValueError(f"{fn}: {out} exists and is not a directory")
    names = sorted(os.listdir(out))
    owned = owned_files(out) or set()
    theirs = [n for n in names if n not in owned]
    if not theirs:
        return []
    listed = ", ".join(theirs[:5]) + (f" and {len(theirs) - 5} more" if len(theirs) > 5 else "")
    if not owned and not overwrite:
        raise ValueError(f"{fn}: {out} is not empty and holds no checkpoint fastinit wrote "
                         f"({listed}); pass overwrite=True (CLI: --overwrite) to write the "
                         f"checkpoint beside these files, which are kept")
    clash = sorted(set(theirs) & set(writes))
    if clash:
        raise ValueError(f"{fn}: {out} holds {', '.join(clash)}, which fastinit did not write "
                         f"and the checkpoint would replace; move them away first")
    dirs = [n for n in theirs if os.path.isdir(os.path.join(out, n))
            and not os.path.islink(os.path.join(out, n))]
    if dirs:
        raise ValueError(f"{fn}: {out} holds the directories {', '.join(dirs)}, which a new "
                         f"checkpoint cannot keep atomically; move them away first")
    return theirs


def clean_leftover(path: str, out: str) -> List[str]:
    """Remove a staging (or replaced) directory an interrupted write left: files fastinit
    writes, and links to user files that ``out`` holds too. Returns what it had to leave."""
    if not os.path.isdir(path):
        return []
    kept = []
    for n in os.listdir(path):
        p, twin = os.path.join(path, n), os.path.join(out, n)
        try:
            same = os.path.lexists(twin) and os.path.samestat(os.lstat(p), os.lstat(twin))
        except OSError:
            same = False
        if _OURS.fullmatch(n) or same:
            os.unlink(p)
        else:
            kept.append(n)
    if not kept:
        os.rmdir(path)
    return kept


class DirLock:
    """An flock on ``.NAME.fastinit-lock`` beside ``out``: a second writer fails at once. The
    kernel drops the lock when its process dies, so a killed writer never leaves it stuck."""

    def __init__(self, out: str, fn: str) -> None:
        self.path, self.out, self.fn = sibling(out, "lock"), out, fn
        self.fd = -1

    def __enter__(self) -> "DirLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # the holder before us may have unlinked the file we opened: then it is not the lock
            if not os.path.samestat(os.fstat(fd), os.stat(self.path)):
                raise BlockingIOError(errno.EAGAIN, "lock file replaced")
        except (BlockingIOError, FileNotFoundError):
            os.close(fd)
            raise ValueError(f"{self.fn}: another fastinit writer is writing {self.out} (it "
                             f"holds {self.path}); wait for it to finish") from None
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            try:
                os.unlink(self.path)  # still holding the lock: nobody else can own this name
            except OSError:
                pass
            os.close(self.fd)
            self.fd = -1


__all__ = ["DirLock", "owned_files", "files_to_carry", "clean_leftover", "sibling", "INDEX",
           "CONFIG"]

"""Who owns the files in a checkpoint's output directory.

``out_dir`` may be absent, empty, or a checkpoint fastinit wrote: an index whose every shard
carries fastinit's metadata (``fastinit_seed``); its files are the index, those shards and
``config.json``, all regular files (a link is never fastinit's). Anything else in it belongs to
the user, dot-files included: without ``overwrite`` that refuses the write, and with it those
files are carried into the new checkpoint (hard links, so they are never deleted). Refused even
then: a user file named like one the checkpoint writes, a subdirectory (which cannot be carried
atomically), and a weight file that a loader would read instead of the new checkpoint
(``model.safetensors``, ``pytorch_model*.bin``, ...): verify could not vouch for what loads.
"""

from __future__ import annotations

import os
import re
import stat
from typing import List, Sequence, Set, Tuple

from ._fs_at import open_regular, read_small
from ._safetensors_read import parse_json, written_by_fastinit

INDEX = "model.safetensors.index.json"
CONFIG = "config.json"
SHARD = re.compile(r"model-\d{5}-of-\d{5}\.safetensors")
#: written by fastinit inside its staging directory first, removed just before the swap
MARKER = ".fastinit-staging"
# What transformers' from_pretrained (and PEFT, through it) reads from a directory instead of,
# before, or on top of model.safetensors.index.json; and the other frameworks' weight files.
COMPETING = re.compile(
    r"model\.safetensors|pytorch_model(-\d{5}-of-\d{5})?\.bin|"
    r"(pytorch_model\.bin|tf_model\.h5|flax_model\.msgpack)(\.index\.json)?|model\.ckpt\.index|"
    r"adapter_config\.json|adapter_model\.(safetensors|bin)")


def sibling_name(base: str, role: str) -> str:
    """``.NAME.fastinit-ROLE``: beside ``out_dir``, on its filesystem (renames are atomic)."""
    return f".{base}.fastinit-{role}"


def competing(names: Sequence[str]) -> List[str]:
    """The weight files among ``names`` that a loader could read instead of the checkpoint."""
    return sorted(n for n in names if COMPETING.fullmatch(n))


def owned_files(out_fd: int) -> Set[str]:
    """The names of the files of the fastinit checkpoint in the directory ``out_fd``; empty
    when it holds none (no index, an unreadable one, or a shard fastinit's metadata does not
    mark). Links are not followed: a link is never a file fastinit wrote."""
    try:
        fd = open_regular(INDEX, out_fd)
    except OSError:
        return set()
    try:
        index = parse_json(read_small(fd), f"{INDEX}: not JSON")
        shards = set(index["weight_map"].values())
    except (ValueError, KeyError, TypeError, AttributeError):
        return set()
    finally:
        os.close(fd)
    if not all(isinstance(s, str) and SHARD.fullmatch(s) and written_by_fastinit(s, out_fd)
               for s in shards):
        return set()
    owned = shards | {INDEX}
    try:
        if stat.S_ISREG(os.stat(CONFIG, dir_fd=out_fd, follow_symlinks=False).st_mode):
            owned.add(CONFIG)
    except FileNotFoundError:
        pass
    return owned


def files_to_carry(out_fd: int, out: str, writes: Sequence[str], overwrite: bool,
                   fn: str) -> Tuple[List[str], Set[str]]:
    """(the user's files in ``out`` that the new checkpoint keeps, the old checkpoint's
    files); ValueError when ``out`` may not be written (see the module docstring)."""
    names = sorted(os.listdir(out_fd))
    owned = owned_files(out_fd)
    theirs = [n for n in names if n not in owned]
    if not theirs:
        return [], owned
    listed = ", ".join(theirs[:5]) + (f" and {len(theirs) - 5} more" if len(theirs) > 5 else "")
    if not owned and not overwrite:
        raise ValueError(f"{fn}: {out} is not empty and holds no checkpoint fastinit wrote "
                         f"({listed}); pass overwrite=True (CLI: --overwrite) to write the "
                         f"checkpoint beside these files, which are kept")
    clash = sorted(set(theirs) & set(writes))
    if clash:
        raise ValueError(f"{fn}: {out} holds {', '.join(clash)}, which fastinit did not write "
                         f"and the checkpoint would replace; move them away first")
    rival = competing(theirs)
    if rival:
        raise ValueError(f"{fn}: {out} holds {', '.join(rival)}, which loaders read instead of "
                         f"(or beside) the checkpoint's {INDEX}; move them away first")
    dirs = [n for n in theirs
            if stat.S_ISDIR(os.stat(n, dir_fd=out_fd, follow_symlinks=False).st_mode)]
    if dirs:
        raise ValueError(f"{fn}: {out} holds the directories {', '.join(dirs)}, which a new "
                         f"checkpoint cannot keep atomically; move them away first")
    return theirs, owned


__all__ = ["owned_files", "files_to_carry", "competing", "sibling_name", "INDEX", "CONFIG",
           "MARKER", "COMPETING", "SHARD"]

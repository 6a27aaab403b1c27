"""The checkpoint directory as the unit of atomicity.

Everything (shards, index, config.json) is written into ``.NAME.fastinit-staging``, a sibling
of ``out_dir`` on the same filesystem, and fsynced. Then one ``renameat2(RENAME_EXCHANGE)``
swaps it with the existing ``out_dir`` (or one ``rename`` puts it in place of an absent one),
so at every instant ``out_dir`` is the complete old directory or the complete new one. The old
one, now under the staging name, is removed afterwards. The user's files in ``out_dir`` are
hard-linked into the staging directory before the swap, so they are in both.

Where the filesystem cannot exchange (not Linux, or ENOSYS/EINVAL), ``out_dir`` is renamed to
``.NAME.fastinit-replaced`` and the staging directory renamed in its place; a crash between
the two leaves no ``out_dir``, and the next writer renames the replaced one back first.
A crash at any other point leaves only the staging directory, which the next writer removes.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from typing import Any, List, Optional, Sequence

from ._units import human_bytes
from ._out_dir import DirLock, clean_leftover, files_to_carry, sibling

_rename = os.rename  # module attributes: the fault-injection tests replace them
_fsync = os.fsync
_link = os.link


def _load_renameat2() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    except OSError:
        return None


_renameat2 = _load_renameat2()


def _exchange(a: str, b: str) -> bool:
    """Atomically swap the directories ``a`` and ``b``; False where the system cannot."""
    if _renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if _renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), a)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        _fsync(fd)
    finally:
        os.close(fd)


def _free_bytes(path: str) -> Optional[int]:
    try:
        st = os.statvfs(path)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


class StagedDirectory:
    """``with StagedDirectory(out, writes, need) as s:`` write ``writes`` into ``s.path``,
    then ``s.commit()``. Leaving without commit removes the staging directory."""

    def __init__(self, out: str, writes: Sequence[str], need_bytes: int,
                 overwrite: bool = False, fn: str = "fastinit.checkpoint") -> None:
        self.out, self.writes, self.need, self.overwrite, self.fn = (
            os.path.abspath(out), list(writes), need_bytes, overwrite, fn)
        self.path = sibling(self.out, "staging")
        self.replaced = sibling(self.out, "replaced")
        self._lock = DirLock(self.out, fn)
        self._carry: List[str] = []
        self._locked = False

    def __enter__(self) -> "StagedDirectory":
        parent = os.path.dirname(self.out)
        os.makedirs(parent, exist_ok=True)
        self._lock.__enter__()
        self._locked = True
        try:
            self._recover()
            self._carry = files_to_carry(self.out, self.writes, self.overwrite, self.fn)
            free = _free_bytes(parent)
            if free is not None and free < self.need:
                err = OSError(f"{self.fn}: the checkpoint needs {human_bytes(self.need)} and "
                              f"{parent} has {human_bytes(free)} free")
                err.errno = errno.ENOSPC
                raise err
            os.mkdir(self.path, 0o755)
        except BaseException:
            self._release()
            raise
        return self

    def _recover(self) -> None:
        """Undo what an interrupted writer left: restore a replaced ``out``, drop staging."""
        if os.path.isdir(self.replaced):
            if not os.path.lexists(self.out):
                _rename(self.replaced, self.out)
            else:
                self._leftover(self.replaced)
        self._leftover(self.path)

    def _leftover(self, path: str) -> None:
        kept = clean_leftover(path, self.out)
        if kept:
            raise ValueError(f"{self.fn}: {path}, left by an interrupted write, holds files "
                             f"fastinit did not write ({', '.join(sorted(kept)[:5])}); move "
                             f"them and remove it")

    def commit(self) -> None:
        """Swap the finished staging directory in as ``out``."""
        for name in self._carry:
            _link(os.path.join(self.out, name), os.path.join(self.path, name),
                  follow_symlinks=False)
        fsync_dir(self.path)
        parent = os.path.dirname(self.out)
        if not os.path.lexists(self.out):
            _rename(self.path, self.out)
        elif not _exchange(self.path, self.out):
            _rename(self.out, self.replaced)
            _rename(self.path, self.out)
            _rename(self.replaced, self.path)
        fsync_dir(parent)
        try:  # the old checkpoint, now under the staging name; else the next writer does it
            clean_leftover(self.path, self.out)
        except OSError:
            pass
        self._release()

    def _release(self) -> None:
        if self._locked:
            self._locked = False
            self._lock.__exit__()

    def __exit__(self, *exc: Any) -> None:
        if self._locked:
            try:
                self._recover()
            except (OSError, ValueError):
                pass  # named by the next writer, which tries again
            finally:
                self._release()


__all__ = ["StagedDirectory", "fsync_dir"]

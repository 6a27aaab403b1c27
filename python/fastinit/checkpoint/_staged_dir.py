"""The checkpoint directory as the unit of atomicity, in a parent others may write to.

Everything (shards, index, config.json) is written into ``.NAME.fastinit-staging``, a sibling
of ``out_dir`` on the same filesystem, and fsynced. Then one ``renameat2(RENAME_EXCHANGE)``
swaps it with the existing ``out_dir`` (or one rename that never replaces puts it in place of
an absent one), so at every instant ``out_dir`` is the complete old directory or the complete
new one. The old one, now under the staging name, is emptied of what it held and removed. The
user's files in ``out_dir`` are hard-linked into the staging directory before the swap, so they
are in both.

Where the filesystem cannot exchange, ``out_dir`` is renamed to ``.NAME.fastinit-replaced`` and
the staging directory renamed in its place (the old one is then removed from there); a crash
between the two renames leaves no ``out_dir``, and the next writer renames the replaced one back
first.

The parent directory is opened once and every step works relative to it, never through a link
(:mod:`._fs_at`); the staging directory is private (0700) until the swap, then gets the mode,
owner and group of the ``out_dir`` it replaces (a new one: what ``mkdir`` gives). What is
fastinit's beside ``out_dir`` is told by its marker and journal (:mod:`._leftovers`,
:mod:`._dir_lock`); anything else is refused with one line and never touched. SIGINT and
SIGTERM undo the write, and never cut the swap short (:mod:`._signals`).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import warnings
from typing import Any, List, Optional, Sequence, Tuple

from ._dir_lock import DirLock
from ._fs_at import (DIR_FLAGS, RENAME_EXCHANGE, RENAME_NOREPLACE, is_mount_point, kind, lstat_at,
                     renameat2, require_posix, same)
from ._leftovers import Record, clean, foreign, open_dir, read_marker, recover, remove_dir
from ._out_dir import MARKER, files_to_carry, sibling_name
from ._signals import WriteSignals
from ._units import human_bytes

_fsync = os.fsync  # module attributes: the fault-injection tests replace them
_link = os.link


def _exchange(parent_fd: int, a: str, b: str) -> bool:
    """Atomically swap the entries ``a`` and ``b``; False where the system cannot."""
    return renameat2(parent_fd, a, parent_fd, b, RENAME_EXCHANGE)


def _rename(parent_fd: int, a: str, b: str) -> None:
    """Rename ``a`` to ``b``, never replacing ``b`` (where the system has no flag for that,
    after a check: a racing writer can then only get an empty directory replaced)."""
    if renameat2(parent_fd, a, parent_fd, b, RENAME_NOREPLACE):
        return
    if lstat_at(parent_fd, b) is not None:
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), b)
    os.rename(a, b, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)


def _free_bytes(fd: int) -> Optional[int]:
    try:
        st = os.fstatvfs(fd)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


class StagedDirectory:
    """``with StagedDirectory(out, writes, need) as s:`` create ``writes`` in the directory
    open as ``s.fd``, then ``s.commit()``. Leaving without commit undoes the write."""

    def __init__(self, out: str, writes: Sequence[str], need_bytes: int,
                 overwrite: bool = False, fn: str = "fastinit.checkpoint") -> None:
        require_posix(fn)
        self.out = os.path.abspath(os.fspath(out))
        self.parent, self.base = os.path.split(self.out)
        if self.base in ("", ".", ".."):
            raise ValueError(f"{fn}: out_dir {os.fspath(out)!r} names no directory to write")
        self.writes = tuple(writes) + (MARKER,)
        self.need, self.overwrite, self.fn = need_bytes, overwrite, fn
        self.name = sibling_name(self.base, "staging")
        self.path = os.path.join(self.parent, self.name)
        self.token = secrets.token_hex(16)
        self.fd = self._parent_fd = self._out_fd = -1  # staging, parent, the old out_dir
        self._old: Optional[os.stat_result] = None
        self._carry: List[str] = []
        self._lock: Optional[DirLock] = None
        self._record: Optional[Record] = None
        self._signals = WriteSignals()
        self.final_mode = 0o755
        self.swapped = self._recovered = False

    # -- entering: lock, recover, check, make the staging directory -----------------------
    def __enter__(self) -> "StagedDirectory":
        self._signals.install()
        try:
            self._open_parent(create=True)
            self._lock = DirLock(self._parent_fd, self.parent, self.base, self.fn).acquire()
            recover(self._parent_fd, self.parent, self.base, self._lock.journal, self.fn)
            self._recovered = True
            old_files = self._open_out()
            free = _free_bytes(self._parent_fd)
            if free is not None and free < self.need:
                raise OSError(errno.ENOSPC, f"{self.fn}: the checkpoint needs "
                                            f"{human_bytes(self.need)} and {self.parent} has "
                                            f"{human_bytes(free)} free")
            self._make_staging(old_files)
        except BaseException:
            self._end(committed=False)
            raise
        return self

    def _open_parent(self, create: bool) -> None:
        try:
            if create:
                os.makedirs(self.parent, exist_ok=True)
            self._parent_fd = os.open(self.parent, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as e:
            raise ValueError(f"{self.fn}: cannot {'create' if create else 'open'} "
                             f"{self.parent} ({e.strerror})") from None

    def _open_out(self) -> List[Tuple[str, int]]:
        """Open and check the existing ``out_dir``; the old checkpoint's files and inodes."""
        st = lstat_at(self._parent_fd, self.base)
        if st is None:
            return []
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(self.base, dir_fd=self._parent_fd)
            raise ValueError(f"{self.fn}: {self.out} is a symbolic link (to {target}); a "
                             f"checkpoint replaces out_dir itself and never follows a link "
                             f"there: pass the directory it points to")
        if not stat.S_ISDIR(st.st_mode):
            raise ValueError(f"{self.fn}: {self.out} exists and is {kind(st)}, not a directory")
        self._out_fd = open_dir(self._parent_fd, self.base, st, self.fn, self.out)
        if is_mount_point(self.out, st, os.fstat(self._parent_fd)):
            raise ValueError(f"{self.fn}: {self.out} is a mount point; a checkpoint is written "
                             f"beside out_dir and swapped in by rename, which cannot replace a "
                             f"mount point: write into a directory inside it")
        euid = os.geteuid()
        if euid != 0 and st.st_uid != euid:
            raise ValueError(f"{self.fn}: {self.out} belongs to uid {st.st_uid}; the new "
                             f"directory would belong to uid {euid}, and only root can give it "
                             f"to another user: write it as its owner, or elsewhere")
        self._old = st
        self._carry, owned = files_to_carry(self._out_fd, self.out, self.writes,
                                            self.overwrite, self.fn)
        found = [(n, lstat_at(self._out_fd, n)) for n in sorted(owned)]
        return [(n, st.st_ino) for n, st in found if st is not None]

    def _make_staging(self, old_files: List[Tuple[str, int]]) -> None:
        pfd = self._parent_fd
        try:
            os.mkdir(self.name, 0o777, dir_fd=pfd)  # the mode a plain mkdir gives (umask, ACL)
        except FileExistsError:
            raise foreign(self.fn, self.path, "an entry made while fastinit was starting") \
                from None
        try:
            fd = os.open(self.name, DIR_FLAGS, dir_fd=pfd)
        except OSError:  # a link or file put there at once
            raise foreign(self.fn, self.path, "an entry that replaced fastinit's new directory"
                          ) from None
        st = os.fstat(fd)
        if not same(st, lstat_at(pfd, self.name)) or st.st_uid != os.geteuid():
            os.close(fd)
            raise foreign(self.fn, self.path, "a directory that replaced fastinit's own")
        self.fd = fd
        os.fchmod(fd, 0o700)  # private while it fills; anything made before this shows below
        if os.listdir(fd):
            raise foreign(self.fn, self.path, "a directory someone wrote into at its creation")
        self.final_mode = stat.S_IMODE(self._old.st_mode if self._old else st.st_mode)
        old = self._old
        if old is not None and st.st_gid != old.st_gid:
            try:
                os.fchown(fd, -1, old.st_gid)
            except PermissionError:
                raise ValueError(f"{self.fn}: {self.out} has group {old.st_gid}, which uid "
                                 f"{os.geteuid()} cannot give the new directory (not a member)"
                                 ) from None
        assert self._lock is not None
        self._record = Record(self.base, self.token, self.writes, st.st_ino,
                              None if old is None else old.st_ino,
                              None if old is None else (old.st_uid, old.st_gid),
                              tuple(old_files))
        self._lock.write_journal(self._record)
        mfd = os.open(MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600,
                      dir_fd=fd)
        try:
            os.write(mfd, self._record.dumps())
        finally:
            os.close(mfd)

    def attach(self, token: str) -> None:
        """Another rank's view: open the staging directory rank 0 made (its marker holds
        ``token``), to write files in it; no lock, no commit."""
        self._open_parent(create=False)
        st = lstat_at(self._parent_fd, self.name)
        if st is None:
            raise ValueError(f"{self.fn}: {self.path} is missing")
        fd = open_dir(self._parent_fd, self.name, st, self.fn, self.path)
        marker = read_marker(fd, self.base)
        if marker is None or marker.token != token:
            os.close(fd)
            raise foreign(self.fn, self.path, "not the staging directory rank 0 made")
        self.fd = fd

    # -- committing: carry, check, swap, drop the old directory ---------------------------
    def commit(self) -> None:
        """Swap the finished staging directory in as ``out``."""
        for name in self._carry:
            _link(name, name, src_dir_fd=self._out_fd, dst_dir_fd=self.fd,
                  follow_symlinks=False)
        self._check_in_place()
        old = self._old
        if old is not None and os.geteuid() == 0:
            mine = os.fstat(self.fd)
            if (mine.st_uid, mine.st_gid) != (old.st_uid, old.st_gid):
                os.fchown(self.fd, old.st_uid, old.st_gid)
        os.fchmod(self.fd, self.final_mode)
        os.unlink(MARKER, dir_fd=self.fd)  # the journal names this directory from here on
        _fsync(self.fd)
        self._signals.hold()  # until _end: a signal now is delivered once the write is done
        where_old = self._swap()
        kept: List[str] = []
        try:
            _fsync(self._parent_fd)
            if where_old is not None:
                assert self._record is not None
                kept = clean(self._out_fd, (), self._record.old_files, self.fd)
                if not kept:
                    remove_dir(self._parent_fd, where_old, self._out_fd)
        except OSError as e:
            raise OSError(e.errno, f"{self.fn}: {self.out} holds the new checkpoint, but "
                                   f"finishing the write failed ({e.strerror})") from None
        if kept:
            warnings.warn(f"{self.fn}: {os.path.join(self.parent, where_old or '')}, the "
                          f"replaced directory, holds files added to {self.out} during the "
                          f"write ({', '.join(kept[:5])}); they are not in the new checkpoint: "
                          f"move them and remove it", stacklevel=3)
        self._end(committed=True, done=not kept)

    def _check_in_place(self) -> None:
        """Nothing moved the staging directory or ``out_dir`` while the files were written."""
        if not same(lstat_at(self._parent_fd, self.name), os.fstat(self.fd)):
            raise ValueError(f"{self.fn}: {self.path} was replaced or moved during the write; "
                             f"nothing was committed, {self.out} is as it was")
        now = lstat_at(self._parent_fd, self.base)
        if (now is not None) if self._old is None else not same(now, self._old):
            what = "created" if self._old is None else "replaced or moved"
            raise ValueError(f"{self.fn}: {self.out} was {what} by someone else during the "
                             f"write; nothing was committed")

    def _swap(self) -> Optional[str]:
        """Put the staging directory in place of ``out_dir``; where the old one is now."""
        pfd, name, base = self._parent_fd, self.name, self.base
        mine = os.fstat(self.fd)
        if self._old is None:
            _rename(pfd, name, base)
            self._expect(base, mine, lambda: _rename(pfd, base, name))
            where = None
        elif _exchange(pfd, name, base):
            self._expect(base, mine, lambda: _exchange(pfd, name, base), (name, self._old))
            where = name
        else:  # out -> replaced, then staging -> out; the old one is removed from there
            where = sibling_name(base, "replaced")
            _rename(pfd, base, where)
            self._expect(where, self._old, lambda: _rename(pfd, where, base))
            _rename(pfd, name, base)
            self._expect(base, mine, lambda: (_rename(pfd, base, name),
                                              _rename(pfd, where, base)))
        self.swapped = True
        return where

    def _expect(self, name: str, st: os.stat_result, undo: Any,
                also: Optional[Tuple[str, os.stat_result]] = None) -> None:
        """After a rename: ``name`` must be the inode ``st`` (and ``also``), else someone
        raced it; then ``undo`` and refuse."""
        ok = same(lstat_at(self._parent_fd, name), st) and (
            also is None or same(lstat_at(self._parent_fd, also[0]), also[1]))
        if not ok:
            undo()
            raise ValueError(f"{self.fn}: {self.path} or {self.out} was replaced during the "
                             f"swap (by another user of {self.parent}?); it was undone, "
                             f"nothing was committed")

    # -- leaving ---------------------------------------------------------------------------
    def _undo(self) -> bool:
        """Put things back as they were before this write (or, once swapped, finish it)."""
        try:
            if not self.swapped and self.fd >= 0:  # empty our directory wherever it is now
                clean(self.fd, self.writes, (), self._out_fd)
            if self._record is None:  # before our journal: at most our empty directory
                if self.fd >= 0:
                    remove_dir(self._parent_fd, self.name, self.fd)
                # an earlier writer's journal stays unless its leftovers were dealt with
                return self._recovered or self._lock is None or self._lock.journal is None
            recover(self._parent_fd, self.parent, self.base, self._record, self.fn)
            return True
        except (OSError, ValueError):
            return False  # the journal stays: the next writer tries again, or names it

    def _end(self, committed: bool, done: Optional[bool] = None) -> None:
        """Release everything; ``done``: nothing is left to recover (None: undo first)."""
        if self._lock is not None:
            ok = self._undo() if done is None else done
            self._lock.release(clean=ok)
            self._lock = None
        self.close()
        self._signals.finish(committed)

    def close(self) -> None:
        for attr in ("fd", "_out_fd", "_parent_fd"):
            fd = getattr(self, attr)
            if fd >= 0:
                os.close(fd)
                setattr(self, attr, -1)

    def __exit__(self, *exc: Any) -> None:
        if self._lock is not None:
            self._end(committed=self.swapped)
        else:
            self.close()


__all__ = ["StagedDirectory"]

"""The one-writer lock beside ``out_dir``, which is also the write's journal.

An ``flock`` on ``.NAME.fastinit-lock``: a second writer fails at once, and the kernel drops
the lock when its holder dies, so a killed writer never leaves it stuck. The file is created
with ``O_EXCL | O_NOFOLLOW`` (a link planted there is never followed, so nothing is created
where it points); one that exists is taken over only if it is a regular file of this user with
one link that is empty or holds a journal. It holds the write's :class:`Record` while the write
runs and after a kill, so the next writer knows which directories beside ``out_dir`` were this
write's; it is removed when the write is done.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Optional

from ._fs_at import kind, lstat_at, read_small, same
from ._leftovers import Record, foreign
from ._out_dir import sibling_name

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class DirLock:
    """``acquire()`` / ``release(clean)`` the lock of the out_dir named ``base`` in
    ``parent`` (open as ``parent_fd``); ``journal``: the record an earlier writer left."""

    def __init__(self, parent_fd: int, parent: str, base: str, fn: str) -> None:
        self.parent_fd, self.base, self.fn = parent_fd, base, fn
        self.name = sibling_name(base, "lock")
        self.path = os.path.join(parent, self.name)
        self.out = os.path.join(parent, base)
        self.fd = -1
        self.journal: Optional[Record] = None

    def acquire(self) -> "DirLock":
        import fcntl  # noqa: PLC0415 - POSIX only; imported where it is needed

        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # the holder before us may have unlinked the file we opened: then it is not the lock
            if not same(os.fstat(fd), lstat_at(self.parent_fd, self.name)):
                raise BlockingIOError(errno.EAGAIN, "lock file replaced")
            raw = read_small(fd)
            self.journal = Record.loads(raw, self.base) if raw else None
            if raw and self.journal is None:
                raise foreign(self.fn, self.path, "a file that holds no fastinit journal")
        except BlockingIOError:
            os.close(fd)
            raise ValueError(f"{self.fn}: another fastinit writer is writing {self.out} (it "
                             f"holds {self.path}); wait for it to finish") from None
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return self

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC
        try:
            return os.open(self.name, flags | os.O_CREAT | os.O_EXCL, 0o600,
                           dir_fd=self.parent_fd)
        except FileExistsError:
            pass
        except OSError as e:  # EACCES, EROFS, ... (and /proc's ENOENT)
            parent = os.path.dirname(self.path)
            raise ValueError(f"{self.fn}: cannot create files in {parent} ({e.strerror}); a "
                             f"checkpoint is written beside {self.out} and swapped in, so "
                             f"its parent directory must be writable") from None
        st = lstat_at(self.parent_fd, self.name)
        if st is None:  # its holder removed it just now: try once more from the start
            return self._open()
        if not stat.S_ISREG(st.st_mode):
            raise foreign(self.fn, self.path, kind(st))
        if st.st_uid != os.geteuid():
            raise ValueError(f"{self.fn}: {self.path} belongs to uid {st.st_uid}: another "
                             f"user's fastinit is writing {self.out}, or was killed while "
                             f"writing; remove it if no such writer is running")
        if st.st_nlink != 1:
            raise foreign(self.fn, self.path, f"a file with {st.st_nlink} hard links")
        fd = os.open(self.name, flags, dir_fd=self.parent_fd)
        if not same(st, os.fstat(fd)):
            os.close(fd)
            raise foreign(self.fn, self.path, "a file that was replaced while fastinit "
                                              "opened it")
        return fd

    def write_journal(self, record: Record) -> None:
        """Replace the journal with ``record`` (on disk before the staging directory fills)."""
        data = record.dumps()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)
        os.fsync(self.fd)

    def release(self, clean: bool) -> None:
        """Unlock. ``clean``: nothing is left to recover, so the journal and the file go;
        else both stay for the next writer."""
        if self.fd < 0:
            return
        try:
            if clean:
                os.ftruncate(self.fd, 0)
                # still holding the lock: nobody else can own this name
                if same(os.fstat(self.fd), lstat_at(self.parent_fd, self.name)):
                    os.unlink(self.name, dir_fd=self.parent_fd)
        except OSError:
            pass
        finally:
            os.close(self.fd)
            self.fd = -1


__all__ = ["DirLock"]

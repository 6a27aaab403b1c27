"""File-system calls relative to an open directory, none of which follows a link.

A checkpoint is written beside ``out_dir``, in a parent that others may write to. Every name
fastinit touches there is looked up relative to the parent's descriptor, opened with
``O_NOFOLLOW`` (a symbolic link is never followed) and compared by inode with what fastinit
opened before it acts on it; data goes only through descriptors. ``renameat2`` (Linux 3.15,
glibc 2.28) gives the atomic exchange and a rename that never replaces. Where it is missing
(another system, or a filesystem that refuses the flags) the caller checks that the target is
absent and renames: a racing writer can then only get an empty directory of its own replaced.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import sys
from typing import Any, Optional, Set

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# (getattr: this module imports everywhere; require_posix says why a write cannot run)
#: a directory, never through a link
DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | _CLOEXEC
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2


def require_posix(fn: str) -> None:
    """The calls above exist on Linux, macOS and the BSDs; elsewhere one clear error."""
    needed = {os.open, os.stat, os.mkdir, os.unlink, os.rmdir, os.rename, os.link}
    if os.name != "posix" or not hasattr(os, "O_NOFOLLOW") or not needed <= os.supports_dir_fd:
        raise OSError(f"{fn}: writing a checkpoint needs a POSIX system (openat, O_NOFOLLOW, "
                      f"flock); this is {sys.platform}")


def _load_renameat2() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    except OSError:
        return None


_renameat2 = _load_renameat2()


def renameat2(src_fd: int, src: str, dst_fd: int, dst: str, flags: int) -> bool:
    """``renameat2`` with ``flags``; False where the system or filesystem lacks it."""
    if _renameat2 is None:
        return False
    if _renameat2(src_fd, os.fsencode(src), dst_fd, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), src, None, dst)


def lstat_at(dir_fd: int, name: str) -> Optional[os.stat_result]:
    """The entry ``name`` itself (a link is not followed); None when there is none."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def same(a: Optional[os.stat_result], b: Optional[os.stat_result]) -> bool:
    """Whether two stats are of one inode."""
    return a is not None and b is not None and (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def kind(st: os.stat_result) -> str:
    """'a symbolic link', 'a directory', ... for messages."""
    m = st.st_mode
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISREG, "a file"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket")):
        if test(m):
            return name
    return "a device"


def open_regular(name: str, dir_fd: Optional[int] = None, follow: bool = False) -> int:
    """A read descriptor of the regular file ``name``. ``O_NONBLOCK``: a FIFO put where a
    file was expected is refused instead of blocking; ``follow=False``: so is a link.
    Raises OSError (ELOOP for a link, EINVAL for a FIFO, socket or device)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | _CLOEXEC | (
        0 if follow else getattr(os, "O_NOFOLLOW", 0))
    fd = os.open(name, flags, dir_fd=dir_fd)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise OSError(errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL,
                      f"{kind(st)}, not a file", name)
    return fd


def read_small(fd: int, limit: int = 1 << 20) -> bytes:
    """Up to ``limit`` bytes from the start of ``fd``."""
    out = b""
    while len(out) < limit:
        chunk = os.pread(fd, limit - len(out), len(out))
        if not chunk:
            break
        out += chunk
    return out


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but brief)
    os.umask(mask)
    return mask


def _mount_points() -> Set[str]:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return set()
    # field 5 is the mount point, with space, tab, newline and backslash octal-escaped
    points = set()
    for line in lines:
        fields = line.split(" ")
        if len(fields) > 4:
            points.add(fields[4].encode("latin-1", "surrogateescape").decode(
                "unicode_escape").encode("latin-1").decode("utf-8", "surrogateescape"))
    return points


def is_mount_point(path: str, st: os.stat_result, parent_st: os.stat_result) -> bool:
    """Whether the directory ``path`` (``st``; its parent's ``parent_st``) is a mount point:
    another device than its parent's, or listed in /proc/self/mountinfo (a bind mount)."""
    if st.st_dev != parent_st.st_dev:
        return True
    return os.path.realpath(path) in _mount_points()


__all__ = ["require_posix", "DIR_FLAGS", "RENAME_NOREPLACE", "RENAME_EXCHANGE", "renameat2", "lstat_at", "same",
           "kind", "open_regular", "read_small", "current_umask", "is_mount_point"]

"""Helpers for the checkpoint writer's file-system tests: holding a writer's lock, running a
function as another user in a forked child, and snapshots of directory trees (names, bytes,
link targets, modes, owners) to prove that nothing outside a checkpoint changed."""

from __future__ import annotations

import contextlib
import os
import pickle
import stat
import traceback
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from fastinit.checkpoint._dir_lock import DirLock

NOBODY = 65534  # uid and gid of `nobody` / `nogroup` on Debian-like systems


@contextlib.contextmanager
def holding_lock(out: Any) -> Iterator[DirLock]:
    """Hold the writer's lock of ``out``, as a writer in another process would."""
    parent, base = os.path.split(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    pfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    lock = DirLock(pfd, parent, base, "test").acquire()
    try:
        yield lock
    finally:
        lock.release(clean=True)
        os.close(pfd)


def can_drop_privileges() -> Optional[str]:
    """None when this process can run code as ``nobody``; else why not."""
    if not hasattr(os, "fork") or not hasattr(os, "setuid"):
        return "needs os.fork and os.setuid"
    if os.geteuid() != 0:
        return "needs root, to act as another user and to own files as one"
    return None


def as_user(uid: Optional[int], fn: Callable[[], Any]) -> Tuple[str, Any]:
    """Run ``fn`` in a forked child as ``uid`` (None: as this user); ("ok", its result) or
    ("error", "ExceptionType: message") or ("signal", signum)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(r)
        try:
            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            out: Tuple[str, Any] = ("ok", fn())
        except BaseException as e:  # noqa: BLE001 - everything goes back to the parent
            out = ("error", f"{type(e).__name__}: {e}", traceback.format_exc())
        with os.fdopen(w, "wb") as f:
            pickle.dump(out, f)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return ("signal", os.WTERMSIG(status))
    result = pickle.loads(data)
    return result[0], result[1]


def tree(path: Any) -> Dict[str, Tuple]:
    """Everything under ``path`` (not following links): relative name -> (kind, mode, uid,
    gid, bytes or link target)."""
    path = os.fspath(path)
    out: Dict[str, Tuple] = {}
    st = os.lstat(path)
    out["."] = ("dir" if stat.S_ISDIR(st.st_mode) else "other", stat.S_IMODE(st.st_mode),
                st.st_uid, st.st_gid, None)
    if not stat.S_ISDIR(st.st_mode):
        return out
    for root, dirs, files in os.walk(path):
        for n in sorted(dirs + files):
            p = os.path.join(root, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, path)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0, st.st_uid, st.st_gid, os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    out[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, f.read())
            else:
                out[rel] = ("dir" if stat.S_ISDIR(st.st_mode) else "other",
                            stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, None)
    return out

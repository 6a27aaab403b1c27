"""What an interrupted writer leaves beside ``out_dir``, and how the next writer tells it from
what someone else put there.

A writer records what it is doing twice, in the same form (:class:`Record`): in its staging
directory, as the marker file ``.fastinit-staging`` it creates there first, and in its lock file
(the journal), with the inodes of the staging directory and of the ``out_dir`` it replaces and
the names of the files it may remove. A sibling named ``.NAME.fastinit-staging`` or
``-replaced`` is fastinit's only if it is a real directory (never a link) and either holds a
marker fastinit wrote (a regular file with one link, owned by this user, naming ``NAME``) or is
the inode the journal names. Only then are files removed from it, and only the ones the record
names or ones ``out_dir`` holds too (the user's files, hard-linked); anything else makes the
writer stop with one line that names the sibling, and nothing is touched.
"""

from __future__ import annotations

import json
import os
import stat
from typing import List, NamedTuple, Optional, Sequence, Tuple

from ._fs_at import DIR_FLAGS, RENAME_NOREPLACE, kind, lstat_at, open_regular, read_small, \
    renameat2, same
from ._out_dir import MARKER, sibling_name
from ._safetensors_read import parse_json


class Record(NamedTuple):
    """One write, as its marker and its journal hold it."""

    out: str  # out_dir's name in its parent
    token: str  # this write's; other ranks check it before they write
    writes: Tuple[str, ...]  # the names it creates in the staging directory (MARKER too)
    staging: Optional[int] = None  # the staging directory's inode (journal)
    old: Optional[int] = None  # the replaced out_dir's inode, None when there was none
    old_owner: Optional[Tuple[int, int]] = None
    old_files: Tuple[Tuple[str, int], ...] = ()  # the replaced checkpoint's files and inodes

    def dumps(self) -> bytes:
        return json.dumps({"fastinit_record": 1, **self._asdict()}).encode("utf-8")

    @classmethod
    def loads(cls, raw: bytes, out: str) -> Optional["Record"]:
        """The record in ``raw`` if it is one of a write of ``out``; else None."""
        try:
            d = parse_json(raw, "record")
            if d.pop("fastinit_record") != 1 or d["out"] != out:
                return None
            r = cls(**d)
            owner = None if r.old_owner is None else (int(r.old_owner[0]), int(r.old_owner[1]))
            return r._replace(writes=tuple(str(n) for n in r.writes), old_owner=owner,
                              old_files=tuple((str(n), int(i)) for n, i in r.old_files))
        except (ValueError, TypeError, KeyError, AttributeError, IndexError):
            return None


def foreign(fn: str, path: str, what: str) -> ValueError:
    """The one-line refusal for a sibling fastinit did not make."""
    return ValueError(f"{fn}: {path} is {what}, which fastinit did not leave there; it neither "
                      f"follows nor removes it: remove it yourself if it is not needed")


def read_marker(dir_fd: int, out: str) -> Optional[Record]:
    """The marker in the directory ``dir_fd``, if fastinit (this user) wrote it for ``out``."""
    st = lstat_at(dir_fd, MARKER)
    if st is None or not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() \
            or st.st_nlink != 1:
        return None
    try:
        fd = open_regular(MARKER, dir_fd)
    except OSError:
        return None
    try:
        return Record.loads(read_small(fd), out) if same(st, os.fstat(fd)) else None
    finally:
        os.close(fd)


def clean(dir_fd: int, names: Sequence[str], files: Sequence[Tuple[str, int]],
          twin_fd: int) -> List[str]:
    """Remove from ``dir_fd`` the entries ``names``, the entries ``files`` whose inode is still
    the one recorded, and entries that are the same inode as the entry of that name in
    ``twin_fd`` (-1: none). Returns the entries it left."""
    inodes = dict(files)
    kept = []
    for n in os.listdir(dir_fd):
        st = lstat_at(dir_fd, n)
        twin = lstat_at(twin_fd, n) if twin_fd >= 0 else None
        if st is not None and (n in names or inodes.get(n) == st.st_ino or same(st, twin)) \
                and not stat.S_ISDIR(st.st_mode):
            os.unlink(n, dir_fd=dir_fd)
        elif st is not None:
            kept.append(n)
    return kept


def remove_dir(parent_fd: int, name: str, dir_fd: int) -> None:
    """rmdir ``name`` if it is still the (empty) directory open as ``dir_fd``."""
    if same(lstat_at(parent_fd, name), os.fstat(dir_fd)):
        os.rmdir(name, dir_fd=parent_fd)


def open_dir(parent_fd: int, name: str, st: os.stat_result, fn: str, path: str) -> int:
    """``name`` (seen as ``st``) opened as a directory, never through a link."""
    if not stat.S_ISDIR(st.st_mode):
        raise foreign(fn, path, kind(st))
    fd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    if not same(st, os.fstat(fd)):
        os.close(fd)
        raise foreign(fn, path, "a directory that was replaced while fastinit looked at it")
    return fd


def recover(parent_fd: int, parent: str, base: str, journal: Optional[Record], fn: str) -> None:
    """Under the lock: put back a replaced ``out_dir`` a writer left without one, and remove
    the staging or replaced directories of earlier writes (see the module docstring)."""
    # the replaced directory first: put back, it is the out_dir a staging directory's links
    # are checked against
    names = {role: sibling_name(base, role) for role in ("replaced", "staging")}
    out_st = lstat_at(parent_fd, base)
    new_in_place = journal is not None and out_st is not None and stat.S_ISDIR(
        out_st.st_mode) and out_st.st_ino == journal.staging
    for role, name in names.items():
        st = lstat_at(parent_fd, name)
        if st is None:
            continue
        path = os.path.join(parent, name)
        fd = open_dir(parent_fd, name, st, fn, path)
        try:
            marker = read_marker(fd, base)
            is_old = (journal is not None and st.st_ino == journal.old
                      and (st.st_uid, st.st_gid) == journal.old_owner)
            if role == "replaced" and is_old and out_st is None:
                # the fallback swap was cut between its renames: the old out_dir goes back
                if not renameat2(parent_fd, name, parent_fd, base, RENAME_NOREPLACE):
                    os.rename(name, base, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
                out_st = lstat_at(parent_fd, base)
                continue
            if is_old and new_in_place:
                assert journal is not None
                drop, files = (), journal.old_files
            elif role == "staging" and marker is not None:
                drop, files = marker.writes, ()
            elif role == "staging" and journal is not None and st.st_ino == journal.staging:
                drop, files = journal.writes, ()
            else:
                raise foreign(fn, path, "a directory without fastinit's marker" if role ==
                              "staging" else "a directory fastinit's journal does not name")
            out_fd = os.open(base, DIR_FLAGS, dir_fd=parent_fd) if out_st is not None and \
                stat.S_ISDIR(out_st.st_mode) else -1
            try:
                kept = clean(fd, drop, files, out_fd)
            finally:
                if out_fd >= 0:
                    os.close(out_fd)
            if kept:
                listed = ", ".join(sorted(kept)[:5])
                raise ValueError(f"{fn}: {path}, left by an interrupted write, holds files "
                                 f"fastinit did not write ({listed}); move them and remove it")
            remove_dir(parent_fd, name, fd)
        finally:
            os.close(fd)


__all__ = ["Record", "foreign", "read_marker", "clean", "remove_dir", "open_dir", "recover"]

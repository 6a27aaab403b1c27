"""Reading what a checkpoint holds, defensively: every failure is a ValueError naming the file.

A loader trusts the 8-byte header length; a damaged or hostile file can claim 2**62 bytes (a
MemoryError) or hold nothing at all (a bare JSON error naming no file). Here the length is
checked against the file's size and safetensors' own limit before anything is read. JSON is
read as strict readers read it (safetensors' serde_json, a browser's JSON.parse): ``NaN`` and
``Infinity`` are not numbers of JSON, and nesting deep enough to exhaust Python's stack is an
error, not a RecursionError. A FIFO or device where a file belongs is refused, not waited on.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional, Tuple

from ._fs_at import open_regular

# safetensors refuses headers above 100 MB (MAX_HEADER_SIZE in its Rust reader)
MAX_HEADER = 100_000_000


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _infinity_only(name: str) -> Any:
    if name == "NaN":
        _no_constant(name)
    return float(name)


def parse_json(raw: Any, refusal: str, infinity: bool = False) -> Any:
    """``raw`` (str or bytes) as strict JSON; ValueError ``refusal (why)`` when it is not.
    ``infinity``: ``Infinity`` / ``-Infinity`` are numbers too, as in the config.json that
    transformers' ``save_pretrained`` writes (Mamba2's ``time_step_limit``); ``NaN`` never."""
    try:
        return json.loads(raw, parse_constant=_infinity_only if infinity else _no_constant)
    except RecursionError:
        raise ValueError(f"{refusal} (nested deeper than a reader can take)") from None
    except ValueError as e:  # JSONDecodeError, bad UTF-8, NaN / Infinity
        raise ValueError(f"{refusal} ({e})") from None


def read_header_fd(fd: int, name: str) -> Tuple[Dict[str, Any], int]:
    """(header dict, start of the data section) of the safetensors file open as ``fd``."""
    try:
        size = os.fstat(fd).st_size
        if size < 8:
            raise ValueError(f"{name}: {size} bytes, too short for a safetensors header")
        n = int.from_bytes(os.pread(fd, 8, 0), "little")
        if n < 2 or n > MAX_HEADER or 8 + n > size:
            raise ValueError(f"{name}: header length {n} is impossible for a file of "
                             f"{size} bytes")
        raw = os.pread(fd, n, 8)
    except OSError as e:
        raise ValueError(f"{name}: cannot be read ({e.strerror or e})") from None
    head = parse_json(raw, f"{name}: header is not JSON")
    if not isinstance(head, dict):
        raise ValueError(f"{name}: header is a JSON {type(head).__name__}, not an object")
    return head, 8 + n


def read_header(path: str, dir_fd: Optional[int] = None,
                follow: bool = True) -> Tuple[Dict[str, Any], int]:
    """:func:`read_header_fd` of ``path``. ``follow``: through a symbolic link, as loaders
    read (a hub cache's snapshot holds links); the writer passes False."""
    name = os.path.basename(path)
    try:
        fd = open_regular(path, dir_fd, follow)
    except OSError as e:
        raise ValueError(f"{name}: cannot be read ({e.strerror or e})") from None
    try:
        return read_header_fd(fd, name)
    finally:
        os.close(fd)


def written_by_fastinit(name: str, dir_fd: int) -> bool:
    """Whether the file ``name`` in ``dir_fd`` (not a link) is a safetensors file whose
    metadata says fastinit wrote it."""
    try:
        head, _ = read_header(name, dir_fd, follow=False)
    except ValueError:
        return False
    meta = head.get("__metadata__")
    return isinstance(meta, dict) and "fastinit_seed" in meta


__all__ = ["read_header", "read_header_fd", "written_by_fastinit", "parse_json", "MAX_HEADER"]

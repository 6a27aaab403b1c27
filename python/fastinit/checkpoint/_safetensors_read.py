"""Reading safetensors headers defensively: every failure is a ValueError naming the file.

A loader trusts the 8-byte header length; a damaged or hostile file can claim 2**62 bytes (a
MemoryError) or hold nothing at all (a bare JSON error naming no file). Here the length is
checked against the file's size and safetensors' own limit before anything is read.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Tuple

# safetensors refuses headers above 100 MB (MAX_HEADER_SIZE in its Rust reader)
MAX_HEADER = 100_000_000


def read_header(path: str) -> Tuple[Dict[str, Any], int]:
    """(header dict, start of the data section) of a safetensors file; ValueError if the file
    is too short, its header length impossible, or its header not a JSON object."""
    name = os.path.basename(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 8:
                raise ValueError(f"{name}: {size} bytes, too short for a safetensors header")
            n = int.from_bytes(f.read(8), "little")
            if n < 2 or n > MAX_HEADER or 8 + n > size:
                raise ValueError(f"{name}: header length {n} is impossible for a file of "
                                 f"{size} bytes")
            raw = f.read(n)
    except OSError as e:
        raise ValueError(f"{name}: cannot be read ({e.strerror or e})") from None
    try:
        head = json.loads(raw)
    except ValueError as e:  # JSONDecodeError, bad UTF-8
        raise ValueError(f"{name}: header is not JSON ({e})") from None
    if not isinstance(head, dict):
        raise ValueError(f"{name}: header is a JSON {type(head).__name__}, not an object")
    return head, 8 + n


def written_by_fastinit(path: str) -> bool:
    """Whether ``path`` is a safetensors file whose metadata says fastinit wrote it."""
    try:
        head, _ = read_header(path)
    except ValueError:
        return False
    meta = head.get("__metadata__")
    return isinstance(meta, dict) and "fastinit_seed" in meta


__all__ = ["read_header", "written_by_fastinit", "MAX_HEADER"]

"""Writing sharded safetensors checkpoints: headers first, data by ``pwrite``, atomically.

:class:`ShardedWriter` opens every shard under a ``.NAME.partial`` name, sizes it, writes its
header (8-byte little-endian length + JSON padded with spaces to a multiple of 8, as the
format asks), and then takes tensor bytes at any offset, from any thread, in any order.
``commit()`` fsyncs, renames the shards into place, and writes ``config.json`` (optional) and
``model.safetensors.index.json`` last, each atomically: the index marks a complete checkpoint.
Writing over an earlier checkpoint replaces it (its index and leftover shards are removed).
Leaving the ``with`` block without ``commit()`` (an exception, Ctrl-C) removes the partials.
Also here: the argument checks both checkpoint paths (config and module) share.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import threading
import time
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

_pwrite = os.pwrite  # module attribute: tests inject failures here
_SHARD_NAME = re.compile(r"model-\d{5}-of-\d{5}\.safetensors")

#: torch dtype name -> (safetensors code, bytes per element)
DTYPE_CODES = {
    "float64": ("F64", 8), "float32": ("F32", 4), "bfloat16": ("BF16", 2),
    "float16": ("F16", 2), "float8_e4m3fn": ("F8_E4M3", 1), "float8_e5m2": ("F8_E5M2", 1),
    "int64": ("I64", 8), "int32": ("I32", 4), "int16": ("I16", 2), "int8": ("I8", 1),
    "uint8": ("U8", 1), "bool": ("BOOL", 1),
}


class Entry(NamedTuple):
    """One tensor of the checkpoint: its key, shape and torch dtype name."""

    name: str
    shape: Tuple[int, ...]
    dtype: str

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * DTYPE_CODES[self.dtype][1]


def raw_bytes(t: Any) -> Any:
    """A torch tensor's data as it goes into the file: C order, a uint8 NumPy view (no copy
    when ``t`` is contiguous)."""
    import torch  # noqa: PLC0415

    return t.detach().contiguous().reshape(-1).view(torch.uint8).numpy()


def check_count(value: Any, name: str, fn: str) -> None:
    """workers, chunk_bytes, group_bytes: an int >= 1 (a bool is not a count)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{fn}: {name} must be an int >= 1, got {value!r}")


def check_sample(sample: Optional[int], fn: str) -> None:
    """``sample`` is None (check everything) or a positive int (0 would check nothing)."""
    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int)
                               or sample < 1):
        raise ValueError(f"{fn}: sample must be a positive int (or None: everything), got "
                         f"{sample!r}")


def parse_size(size: Union[int, str], fn: str = "fastinit.checkpoint") -> int:
    """'5GB' -> 5 * 10**9, '2GiB' -> 2 * 2**30 (as transformers), ints as they are."""
    value = None
    if isinstance(size, int) and not isinstance(size, bool):
        value = size
    elif isinstance(size, str):
        s = size.strip().upper()
        mult = 1
        for suffix, m in (("GIB", 2**30), ("MIB", 2**20), ("KIB", 2**10), ("GB", 10**9),
                          ("MB", 10**6), ("KB", 10**3), ("B", 1)):
            if s.endswith(suffix):
                s, mult = s[: -len(suffix)].strip(), m
                break
        try:
            value = int(float(s) * mult)
        except (ValueError, OverflowError):
            value = None
    if value is None or value < 1:
        raise ValueError(f"{fn}: max_shard_size must be a positive number of bytes or a size "
                         f"such as '5GB' or '500MiB', got {size!r}")
    return value


def plan_shards(entries: Sequence[Entry], max_shard: int) -> List[List[Entry]]:
    """Tensors in model order, a new shard whenever the next would pass ``max_shard`` bytes."""
    shards: List[List[Entry]] = [[]]
    size = 0
    for e in entries:
        if shards[-1] and size + e.nbytes > max_shard:
            shards.append([])
            size = 0
        shards[-1].append(e)
        size += e.nbytes
    return shards


def header_bytes(entries: Sequence[Entry], metadata: Dict[str, str]
                 ) -> Tuple[bytes, Dict[str, int]]:
    """The safetensors header and each tensor's start within the data section."""
    head: Dict[str, Any] = {"__metadata__": metadata}
    starts: Dict[str, int] = {}
    pos = 0
    for e in entries:
        head[e.name] = {"dtype": DTYPE_CODES[e.dtype][0], "shape": list(e.shape),
                        "data_offsets": [pos, pos + e.nbytes]}
        starts[e.name] = pos
        pos += e.nbytes
    text = json.dumps(head, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    return len(text).to_bytes(8, "little") + text, starts


class Progress:
    """bytes done / total, rate and ETA on stderr, redrawn at most every 0.25 s."""

    def __init__(self, total: int, enabled: bool, label: str = "") -> None:
        self.total, self.enabled, self.label = total, enabled, label
        self.done = 0
        self.start = time.perf_counter()
        self._last = 0.0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.done += n
            now = time.perf_counter()
            if self.enabled and (now - self._last > 0.25 or self.done >= self.total):
                self._last = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        el = max(now - self.start, 1e-9)
        rate = self.done / el
        frac = self.done / self.total if self.total else 1.0
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
        sys.stderr.write(f"\r{self.label}[{bar}] {self.done / 1e9:6.2f}/{self.total / 1e9:.2f} GB"
                         f" {rate / 1e9:5.2f} GB/s ETA {eta:5.0f}s ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.perf_counter())
            sys.stderr.write("\n")
            sys.stderr.flush()


def atomic_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a fsynced temporary and a rename."""
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".partial")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class ShardedWriter:
    """The files of one checkpoint; see the module docstring."""

    def __init__(self, out_dir: str, shards: List[List[Entry]], metadata: Dict[str, str]) -> None:
        self.out = out_dir
        n = len(shards)
        self.names = [f"model-{k + 1:05d}-of-{n:05d}.safetensors" for k in range(n)]
        self.shards = shards
        self.metadata = metadata
        self.total = sum(e.nbytes for shard in shards for e in shard)
        self._temps: List[str] = []
        self._fds: List[int] = []
        self._where: Dict[str, Tuple[int, int]] = {}  # name -> (fd, file offset of its data)

    def __enter__(self) -> "ShardedWriter":
        os.makedirs(self.out, exist_ok=True)
        for name, shard in zip(self.names, self.shards):
            tmp = os.path.join(self.out, "." + name + ".partial")
            self._temps.append(tmp)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            self._fds.append(fd)
            head, starts = header_bytes(shard, self.metadata)
            os.ftruncate(fd, len(head) + sum(e.nbytes for e in shard))
            self._write_at(fd, head, 0)
            for e in shard:
                self._where[e.name] = (fd, len(head) + starts[e.name])
        return self

    def write(self, name: str, data: Any, offset: int = 0) -> None:
        """Bytes ``data`` (any buffer) at byte ``offset`` within tensor ``name``'s data."""
        fd, start = self._where[name]
        self._write_at(fd, data, start + offset)

    @staticmethod
    def _write_at(fd: int, data: Any, offset: int) -> None:
        mv = memoryview(data).cast("B")
        while len(mv):
            n = _pwrite(fd, mv, offset)
            mv, offset = mv[n:], offset + n

    def commit(self, config_text: Optional[str] = None) -> Dict[str, Any]:
        """Make the checkpoint complete; returns the index dict. An earlier checkpoint in the
        same directory is replaced: its index goes first (so no moment has an index over a mix
        of old and new shards), its shards that this one does not overwrite go last."""
        for fd in self._fds:
            os.fsync(fd)
        self._close()
        index_path = os.path.join(self.out, "model.safetensors.index.json")
        if os.path.exists(index_path):
            os.unlink(index_path)
        for tmp, name in zip(self._temps, self.names):
            os.replace(tmp, os.path.join(self.out, name))
        self._temps.clear()
        index = {"metadata": {"total_size": self.total},
                 "weight_map": {e.name: self.names[k] for k, shard in enumerate(self.shards)
                                for e in shard}}
        if config_text is not None:
            atomic_text(os.path.join(self.out, "config.json"), config_text)
        atomic_text(index_path, json.dumps(index, indent=2) + "\n")
        for name in os.listdir(self.out):  # shards of an earlier checkpoint, named as ours
            if _SHARD_NAME.fullmatch(name) and name not in self.names:
                os.unlink(os.path.join(self.out, name))
        _fsync_dir(self.out)
        return index

    def _close(self) -> None:
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds.clear()

    def __exit__(self, *exc: Any) -> None:
        self._close()
        for tmp in self._temps:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        self._temps.clear()


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

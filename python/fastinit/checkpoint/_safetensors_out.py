"""Writing sharded safetensors checkpoints: headers first, data by ``pwrite``, atomically.

:class:`ShardedWriter` opens every shard in a staging directory (:mod:`._staged_dir`: locked,
ownership and free space checked first), sizes it, writes its header (8-byte little-endian
length + JSON padded with spaces to a multiple of 8, as the format asks), and then takes
tensor bytes at any offset, from any thread, in any order. ``commit()`` fsyncs the shards,
writes ``config.json`` (optional) and ``model.safetensors.index.json`` beside them and swaps
the whole directory in as ``out_dir``. Leaving the ``with`` block without ``commit()`` (an
exception, Ctrl-C) removes the staging directory; ``out_dir`` was never touched.
Also here: the argument checks both checkpoint paths (config and module) share.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

from ._out_dir import CONFIG, INDEX
from ._staged_dir import StagedDirectory
from ._units import human_bytes
from .._engine._version import STREAM_VERSION, __version__

_pwrite = os.pwrite  # module attributes: tests inject failures here
_fsync = os.fsync

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
        sys.stderr.write(f"\r{self.label}[{bar}] {human_bytes(self.done)} / "
                         f"{human_bytes(self.total)}, {human_bytes(rate)}/s, ETA {eta:.0f} s  ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.perf_counter())
            sys.stderr.write("\n")
            sys.stderr.flush()


# a new file in the staging directory, never through a link; every file of a checkpoint gets
# the mode open() gives (0o666 less the umask)
_NEW_FILE = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_CLOEXEC", 0))


def _write_synced(dir_fd: int, name: str, text: str) -> None:
    fd = os.open(name, _NEW_FILE, 0o666, dir_fd=dir_fd)
    try:
        ShardedWriter._write_at(fd, text.encode("utf-8"), 0)
        _fsync(fd)
    finally:
        os.close(fd)


class ShardedWriter:
    """The files of one checkpoint; see the module docstring."""

    def __init__(self, out_dir: str, shards: List[List[Entry]], metadata: Dict[str, str],
                 config_text: Optional[str] = None, *, overwrite: bool = False,
                 fn: str = "fastinit.checkpoint") -> None:
        n = len(shards)
        self.names = [f"model-{k + 1:05d}-of-{n:05d}.safetensors" for k in range(n)]
        self.shards = shards
        # which code wrote it: verify names a changed contract instead of reporting mismatches
        self.metadata = {**metadata, "fastinit_version": __version__,
                         "fastinit_stream_version": str(STREAM_VERSION)}
        self.config_text = config_text
        self.total = sum(e.nbytes for shard in shards for e in shard)
        self.heads = [header_bytes(shard, self.metadata) for shard in shards]
        writes = self.names + [INDEX] + ([CONFIG] if config_text is not None else [])
        need = self.total + sum(len(h) for h, _ in self.heads) + (64 << 10)  # + index
        self.stage = StagedDirectory(out_dir, writes, need, overwrite, fn)
        self._fds: List[int] = []
        self._where: Dict[str, Tuple[int, int]] = {}  # name -> (fd, file offset of its data)

    def __enter__(self) -> "ShardedWriter":
        self.stage.__enter__()
        try:
            for name, shard, (head, starts) in zip(self.names, self.shards, self.heads):
                fd = os.open(name, _NEW_FILE, 0o666, dir_fd=self.stage.fd)
                self._fds.append(fd)
                os.ftruncate(fd, len(head) + sum(e.nbytes for e in shard))
                self._write_at(fd, head, 0)
                for e in shard:
                    self._where[e.name] = (fd, len(head) + starts[e.name])
        except BaseException:
            self.__exit__()
            raise
        return self

    def attach(self, shards: Sequence[int], token: str) -> "ShardedWriter":
        """Another rank's view: open shards ``shards`` (made, with their headers, by the rank
        that entered the writer, whose staging directory's marker holds ``token``) to write
        their tensors; no staging, no commit here."""
        try:
            self.stage.attach(token)
            for k in shards:
                fd = os.open(self.names[k], os.O_WRONLY | os.O_NOFOLLOW, dir_fd=self.stage.fd)
                self._fds.append(fd)
                for e in self.shards[k]:
                    self._where[e.name] = (fd, len(self.heads[k][0]) + self.heads[k][1][e.name])
        except BaseException:
            self.detach()
            raise
        return self

    def detach(self) -> None:
        """Close what :meth:`attach` opened."""
        self._close()
        self.stage.close()

    def sync(self) -> None:
        """fsync and close the shards this process opened (their bytes are on disk)."""
        for fd in self._fds:
            _fsync(fd)
        self._close()

    def index(self) -> Dict[str, Any]:
        return {"metadata": {"total_size": self.total},
                "weight_map": {e.name: self.names[k] for k, shard in enumerate(self.shards)
                               for e in shard}}

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

    def commit(self) -> Dict[str, Any]:
        """Make the checkpoint complete and swap it in as ``out_dir``; returns the index."""
        self.sync()
        index = self.index()
        if self.config_text is not None:
            _write_synced(self.stage.fd, CONFIG, self.config_text)
        _write_synced(self.stage.fd, INDEX, json.dumps(index, indent=2) + "\n")
        self.stage.commit()
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
        self.stage.__exit__()

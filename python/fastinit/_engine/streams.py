"""Name-keyed streams: a parameter's values depend only on (seed, qualified name, index).

``stream_of(name)`` is the first 8 bytes, read little-endian, of the SHA-256 of the UTF-8
qualified name (``"model.layers.0.self_attn.q_proj.weight"``). A parameter filled with key
``seed`` on that stream gets the same values whatever the construction order, device, dtype
(bf16 = the float32 values rounded) or sharding (a shard filled with its global coordinates).

:func:`keyed` installs a resolver (see :func:`fastinit._engine._seeds.keyed_by`) that maps every
tensor sharing storage with a named parameter or buffer to ``(seed, stream_of(name))``; fills
that run inside it without ``seed=`` (module code under patch mode, or fastinit's own
initializers) are then name-keyed.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from . import _seeds

_U64 = 1 << 64


def stream_of(name: str) -> int:
    """The 64-bit stream of a qualified name: sha256(name.encode('utf-8'))[:8], little-endian."""
    if not isinstance(name, str):
        raise TypeError(f"fastinit.stream_of: name must be a str, got {type(name).__name__}")
    try:
        data = name.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate has no UTF-8 form
        raise ValueError(f"fastinit.stream_of: name is not valid Unicode ({e.reason} at "
                         f"position {e.start})") from None
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "little")


def storage_key(t: Any) -> Optional[int]:
    """An id shared by a torch tensor and all its views/aliases (``.data``, slices), or None."""
    try:
        return int(t.untyped_storage()._cdata)
    except Exception:  # noqa: BLE001 - not a plain torch tensor (NumPy, DTensor, ...)
        return None


def view_name(name: str, t: Any, whole: Any) -> str:
    """The key name of ``t``: ``name`` when ``t`` covers ``whole`` exactly, else
    ``name[offset:shape:stride]`` so a partial view gets its own stream."""
    if (t.storage_offset() == whole.storage_offset() and tuple(t.shape) == tuple(whole.shape)
            and tuple(t.stride()) == tuple(whole.stride())):
        return name
    return f"{name}[{t.storage_offset()}:{tuple(t.shape)}:{tuple(t.stride())}]"


@contextlib.contextmanager
def _resolving(resolver: Callable[[Any], Optional[Tuple[int, int]]]) -> Iterator[None]:
    # the ContextVar behind fastinit._engine._seeds.keyed_by, set directly
    token = _seeds._resolver.set(resolver)
    try:
        yield
    finally:
        _seeds._resolver.reset(token)


class NameKeys:
    """Maps tensors (by storage) to qualified names and (seed, stream) pairs.

    ``fallback``: the prefix used for fills of tensors that are no parameter's (e.g. the
    Gaussian temporary of ``orthogonal_``): they get ``stream_of(f"{fallback}#tmp{k}")``,
    k counting such fills, so they too are deterministic given the module's code.
    """

    def __init__(self, seed: int, named: Dict[str, Any]) -> None:
        self.key = _seeds.check_seed(seed, "init_module")
        self.by_storage: Dict[int, Tuple[str, Any]] = {}
        for name, t in named.items():
            k = storage_key(t)
            if k is not None and k not in self.by_storage:
                self.by_storage[k] = (name, t)
        self.touched: set = set()
        self.fallback: Optional[str] = None
        self._tmp = 0

    def name_of(self, t: Any) -> Optional[str]:
        k = storage_key(t)
        hit = self.by_storage.get(k) if k is not None else None
        if hit is None:
            return None
        return view_name(hit[0], t, hit[1])

    def __call__(self, t: Any) -> Optional[Tuple[int, int]]:
        name = self.name_of(t)
        if name is None:
            if self.fallback is None:
                return None
            name = f"{self.fallback}#tmp{self._tmp}"
            self._tmp += 1
        else:
            self.touched.add(self.by_storage[storage_key(t)][0])
        return self.key, stream_of(name)

    def enter_module(self, prefix: str) -> None:
        self.fallback, self._tmp = prefix or "<root>", 0


@contextlib.contextmanager
def keyed(seed: int, named: Dict[str, Any]) -> Iterator[NameKeys]:
    """Within the block, unseeded fills of the tensors in ``named`` (name -> tensor, views and
    aliases included) use key ``seed`` and stream ``stream_of(name)``."""
    keys = NameKeys(seed, named)
    with _resolving(keys):
        yield keys


__all__ = ["stream_of", "keyed", "NameKeys"]

"""Where a fill's key and stream come from (DESIGN.md section 3).

* ``seed=int``: key = seed mod 2**64, stream 0, so a value depends only on (seed, index).
* ``generator=``: a 64-bit key is drawn from that generator (torch.Generator or
  numpy.random.Generator), advancing it as one draw does.
* neither: torch tensors draw from torch's default CPU generator, exactly as if it had been
  passed (so ``torch.manual_seed(n)`` makes unseeded calls reproducible); NumPy arrays use
  fastinit's own global generator: key = its seed, stream = 1, 2, 3, ... one per call.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import secrets
import sys
import threading
from typing import Any, Callable, Iterator, Optional, Tuple

_U64 = 1 << 64
_lock = threading.Lock()
_global_seed: int = secrets.randbits(64)
_global_streams = itertools.count(1)
# Whole-model tools install a resolver: target tensor -> (key, stream) or None (not theirs).
Resolver = Callable[[Any], Optional[Tuple[int, int]]]
_resolver: contextvars.ContextVar[Optional[Resolver]] = contextvars.ContextVar(
    "fastinit_key_resolver", default=None
)


@contextlib.contextmanager
def keyed_by(resolver: Resolver) -> Iterator[None]:
    """Within the block, unseeded fills of the tensors ``resolver`` knows use its (key, stream)
    instead of a generator: how name-keyed whole-model init makes a parameter's values depend
    only on (seed, name, index). An explicit ``seed=`` still wins."""
    token = _resolver.set(resolver)
    try:
        yield
    finally:
        _resolver.reset(token)


def check_seed(seed: Any, fn: str, name: str = "seed") -> int:
    """Validate a seed the way torch.manual_seed does; return it as an unsigned 64-bit key."""
    if type(seed) is int and 0 <= seed < _U64:  # the common case, at once
        return seed
    if isinstance(seed, bool) or not hasattr(seed, "__index__"):
        raise TypeError(f"fastinit.{fn}: {name} must be an int, got {type(seed).__name__}")
    try:
        value = seed.__index__()
    except TypeError:  # a float torch tensor has __index__, and refuses it
        raise TypeError(f"fastinit.{fn}: {name} must be an int, got a "
                        f"{getattr(seed, 'dtype', type(seed).__name__)} "
                        f"{type(seed).__name__}") from None
    if not -(1 << 63) <= value < _U64:
        raise ValueError(f"fastinit.{fn}: {name} must be in [-2**63, 2**64), got {value}")
    return value % _U64


def manual_seed(seed: int) -> None:
    """Seed fastinit's global generator and, when torch is importable, torch's as well.

    After ``manual_seed(n)`` unseeded fills of NumPy arrays and of torch tensors are
    reproducible; each unseeded NumPy fill takes the next stream of key ``n``.
    """
    global _global_seed, _global_streams
    key = check_seed(seed, "manual_seed")
    with _lock:
        _global_seed = key
        _global_streams = itertools.count(1)
    torch = _torch_if_available()
    if torch is not None:
        torch.manual_seed(seed)


def _torch_if_available() -> Any:
    if "torch" in sys.modules:
        return sys.modules["torch"]
    try:
        import torch  # noqa: PLC0415 - optional dependency, imported on demand
    except ImportError:
        return None
    return torch


# One int64 scalar per thread and device to draw into (a new one each time was 1.7 of 3 us).
_scratch = threading.local()


def _draw_from_torch(generator: Any) -> int:
    torch = sys.modules["torch"]
    device = getattr(generator, "device", None) or "cpu"
    words = _scratch.__dict__
    word = words.get(device)
    if word is None:
        # a plain tensor, usable in and out of inference mode
        with torch.inference_mode(False):
            word = words[device] = torch.empty((), dtype=torch.int64, device=device)
    word.random_(generator=generator)
    return int(word.item()) % _U64


def key_and_stream(
    fn: str, seed: Optional[int], generator: Any, is_torch: bool, target: Any = None
) -> Tuple[int, int]:
    """The (key, stream) pair a fill uses; see the module docstring and :func:`keyed_by`."""
    if seed is not None:
        if generator is not None:
            raise ValueError(f"fastinit.{fn}: pass seed= or generator=, not both")
        return check_seed(seed, fn), 0
    resolver = _resolver.get()
    if resolver is not None and target is not None:
        keyed = resolver(target)
        if keyed is not None:
            return keyed
    if generator is not None:
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(generator, torch.Generator):
            return _draw_from_torch(generator), 0
        integers = getattr(generator, "integers", None)
        if integers is not None:  # numpy.random.Generator
            return int(integers(0, _U64, dtype="uint64")), 0
        raise TypeError(
            f"fastinit.{fn}: generator must be a torch.Generator or numpy.random.Generator, "
            f"got {type(generator).__name__}"
        )
    if is_torch:
        return _draw_from_torch(sys.modules["torch"].default_generator), 0
    with _lock:
        return _global_seed, next(_global_streams)

"""torch's random ops inside whole-model init, drawn from name-keyed fastinit streams.

Init code calls more than ``torch.nn.init``: transformers' Mamba2 draws ``dt_bias`` with
``torch.rand``, custom modules do ``w.copy_(torch.randn(...))``. Left to torch, those values
follow torch's global generator, so the same seed would not give the same bits. Inside
``init_module``, ``materialize`` and ``checkpoint_module`` every such op is keyed instead:

* the words come from the key and stream the scope gives the tensor the op writes (a model
  tensor: ``stream_of(name)``; a temporary: ``stream_of(f"{scope}#tmp{k}")``), element ``i``
  of the op's output (row-major) from word ``i`` (two words, ``2i`` and ``2i + 1``, where 32
  bits are not enough);
* ``rand`` / ``uniform_`` / ``randn`` / ``normal`` are fastinit's uniform and normal fills;
  the others are computed in float64 on the CPU from ``u = (w + 0.5) / 2**32``:
  ``exponential_`` ``-log(u) / lambd``, ``cauchy_`` ``median + sigma * tan(pi (u - 1/2))``,
  ``log_normal_`` ``exp(mean + std * ndtri(u))``, ``geometric_`` ``ceil(log(u) / log1p(-p))``,
  ``bernoulli`` ``u < p``, ``randint`` / ``random_`` ``low + floor(w * (high - low) / 2**32)``
  (a power-of-two range up to 2**63 from two words), ``randperm`` the stable argsort of
  63-bit words.

An explicit ``generator=`` other than torch's default one is the caller's choice and is kept;
a random op fastinit has no keyed version of (``multinomial``, ``poisson``, ...) is an error
naming it. Outside those scopes nothing changes.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional

from .._engine._fills import normal_ as _normal_fill, random_bits_, uniform_ as _uniform_fill

# ops that draw and have no keyed version: refused inside the scopes
_REFUSED = {"multinomial", "poisson", "_standard_gamma", "rrelu_with_noise",
            "rrelu_with_noise_", "rrelu_with_noise_functional"}
_INT_LIMIT = 1 << 32


class UnkeyedRandomOp(RuntimeError):
    """A random op in init code that fastinit cannot key (the same seed would not give the
    same bits)."""


# schema defaults given as enum numbers: left None, so torch's own defaults apply
_TORCH_DEFAULTS = {"dtype", "layout", "device", "pin_memory", "memory_format"}


def _bind(func: Any, args: tuple, kwargs: dict) -> Dict[str, Any]:
    """The op's arguments by schema name, defaults filled in."""
    out: Dict[str, Any] = {}
    for i, arg in enumerate(func._schema.arguments):
        if i < len(args) and not arg.kwarg_only:
            out[arg.name] = args[i]
        elif arg.name in kwargs:
            out[arg.name] = kwargs[arg.name]
        elif arg.has_default_value() and arg.name not in _TORCH_DEFAULTS:
            out[arg.name] = arg.default_value
        else:
            out[arg.name] = None
    return out


def _words(keys: Any, target: Any, per_element: int) -> Any:
    """uint32 words (as int64, shape (numel, per_element)) of the stream the scope gives
    ``target``, in ``target``'s row-major order."""
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    keyed = keys(target)
    if keyed is None:
        raise UnkeyedRandomOp("fastinit: a random op ran outside any init call, so no name "
                              "keys it")
    key, stream = keyed
    w = np.empty(target.numel() * per_element, np.uint32)
    random_bits_(w, seed=key, stream=stream)
    return torch.from_numpy(w.astype(np.int64)).reshape(target.numel(), per_element)


def _unit(keys: Any, target: Any) -> Any:
    """float64 uniforms in (0, 1), one per element of ``target``, shaped like it (CPU)."""
    return ((_words(keys, target, 1)[:, 0].double() + 0.5) * 2.0 ** -32).reshape(target.shape)


def _store(target: Any, values: Any) -> Any:
    target.copy_(values.to(device=target.device).to(target.dtype))
    return target


def _integers(keys: Any, target: Any, low: int, high: int, what: str) -> Any:
    import torch  # noqa: PLC0415

    span = high - low
    if span <= 0:
        raise ValueError(f"fastinit: {what}: empty range [{low}, {high})")
    if span <= _INT_LIMIT:
        w = _words(keys, target, 1)[:, 0]
        hi, lo = w >> 16, w & 0xFFFF  # w * span >> 32 without overflowing int64
        v = (hi * span + ((lo * span) >> 16)) >> 16
    elif span & (span - 1) == 0 and span <= 1 << 63:
        w = _words(keys, target, 2)
        v = ((w[:, 0] & ((span >> 32) - 1)) << 32) | w[:, 1]
    else:
        raise UnkeyedRandomOp(f"fastinit: {what}: a range of {span} values (more than 2**32 "
                              f"and not a power of two) has no keyed version")
    return _store(target, (v + low).reshape(target.shape).to(torch.float64
                                                             if target.is_floating_point()
                                                             else torch.int64))


def _random_range(t: Any, frm: Optional[int], to: Optional[int]) -> tuple:
    """``random_``'s [low, high): torch's defaults per dtype."""
    import torch  # noqa: PLC0415

    if to is None:
        if t.dtype == torch.bool:
            top = 1
        elif t.is_floating_point():
            top = 1 << round(1 - math.log2(torch.finfo(t.dtype).eps))  # 2**digits, exact
        else:
            top = torch.iinfo(t.dtype).max
        return (frm or 0), top + 1  # torch's top is included
    return (frm or 0), to


def _fresh(b: Dict[str, Any], like: Any = None, dtype: Any = None) -> Any:
    """The output a factory (or ``*_like``) op would allocate, left empty."""
    import torch  # noqa: PLC0415

    dtype = b.get("dtype") or dtype
    if like is not None:
        return torch.empty_like(like, dtype=dtype, device=b.get("device") or like.device)
    return torch.empty(tuple(b["size"]), dtype=dtype or torch.get_default_dtype(),
                       device=b.get("device") or "cpu")


def _inplace(op: str, t: Any, b: Dict[str, Any], keys: Any) -> Any:
    """The keyed value of an in-place random op (or of a fresh output ``t``)."""
    import torch  # noqa: PLC0415

    if op in ("uniform_", "uniform"):
        return _fastinit_fill(_uniform_fill, t, float(b.get("from", 0.0)),
                              float(b.get("to", 1.0)), keys)
    if op in ("normal_",):
        return _fastinit_fill(_normal_fill, t, float(b.get("mean", 0.0)),
                              float(b.get("std", 1.0)), keys)
    if op in ("exponential_", "exponential"):
        return _store(t, -torch.log(_unit(keys, t)) / float(b["lambd"]))
    if op in ("cauchy_", "cauchy"):
        u = _unit(keys, t)
        return _store(t, float(b["median"]) + float(b["sigma"]) * torch.tan(math.pi * (u - 0.5)))
    if op in ("log_normal_", "log_normal"):
        z = torch.special.ndtri(_unit(keys, t))
        return _store(t, torch.exp(float(b["mean"]) + float(b["std"]) * z))
    if op in ("geometric_", "geometric"):
        return _store(t, torch.ceil(torch.log(_unit(keys, t)) / math.log1p(-float(b["p"]))))
    if op == "random_":
        low, high = _random_range(t, b.get("from"), b.get("to"))
        return _integers(keys, t, low, high, "random_")
    raise UnkeyedRandomOp(f"fastinit: aten.{op} has no keyed version")


def _fastinit_fill(fill: Callable[..., Any], t: Any, p0: float, p1: float, keys: Any) -> Any:
    """fastinit's own fill where it takes the dtype; else the float64 route through words."""
    if t.is_floating_point():
        return fill(t, p0, p1)
    raise UnkeyedRandomOp(f"fastinit: a random fill of a {t.dtype} tensor has no keyed version")


def keyed_call(func: Any, args: tuple, kwargs: dict, keys: Any) -> Any:
    """Run the random aten op ``func`` keyed by ``keys`` (a NameKeys); None where the op is
    not a random one (the caller runs it as it is)."""
    import torch  # noqa: PLC0415

    op = func._schema.name.split("::")[-1]
    b = _bind(func, args, kwargs)
    gen = b.get("generator")
    if gen is not None and gen is not torch.default_generator:
        return None  # the caller's own generator: its semantics are kept
    if op in _REFUSED:
        raise UnkeyedRandomOp(f"fastinit: aten.{op} draws from torch's generator and has no "
                              f"keyed version, so the same seed would not give the same "
                              f"values; initialize that tensor another way")
    if op in ("rand", "randn"):
        out = _fresh(b)
        fill = _uniform_fill if op == "rand" else _normal_fill
        return _fastinit_fill(fill, out, 0.0, 1.0, keys)
    if op in ("rand_like", "randn_like"):
        out = _fresh(b, like=b["self"])
        fill = _uniform_fill if op == "rand_like" else _normal_fill
        return _fastinit_fill(fill, out, 0.0, 1.0, keys)
    if op in ("randint", "randint_like"):
        like = b.get("self")
        out = _fresh(b, like=like, dtype=None if like is not None else torch.int64)
        high = b.get("high")
        if isinstance(high, torch.Tensor):
            high = int(high.item())
        return _integers(keys, out, int(b.get("low") or 0), int(high), f"aten.{op}")
    if op == "randperm":
        n = int(b["n"])
        out = torch.empty(n, dtype=b.get("dtype") or torch.int64, device=b.get("device") or "cpu")
        w = _words(keys, out, 2)
        order = torch.argsort(((w[:, 0] >> 1) << 32) | w[:, 1], stable=True)
        return _store(out, order)
    if op == "normal":
        return _normal(b, keys)
    if op in ("bernoulli", "bernoulli_"):
        return _bernoulli(op, b, keys)
    if op.endswith("_") and op in _INPLACE:
        return _inplace(op, b["self"], b, keys)
    if op in _INPLACE_OUT:
        return _inplace(op, torch.empty_like(b["self"]), b, keys)
    return None


_INPLACE = {"uniform_", "normal_", "exponential_", "cauchy_", "log_normal_", "geometric_",
            "random_"}
_INPLACE_OUT = {"uniform", "exponential", "cauchy", "log_normal", "geometric"}


def _normal(b: Dict[str, Any], keys: Any) -> Any:
    import torch  # noqa: PLC0415

    mean, std = b["mean"], b["std"]
    if not isinstance(mean, torch.Tensor) and not isinstance(std, torch.Tensor):
        out = _fresh(b)
        return _fastinit_fill(_normal_fill, out, float(mean), float(std), keys)
    ref = mean if isinstance(mean, torch.Tensor) else std
    shape = torch.broadcast_shapes(*(x.shape for x in (mean, std) if isinstance(x, torch.Tensor)))
    out = torch.empty(shape, dtype=ref.dtype, device=ref.device)
    _fastinit_fill(_normal_fill, out, 0.0, 1.0, keys)
    return out.mul_(std).add_(mean)


def _bernoulli(op: str, b: Dict[str, Any], keys: Any) -> Any:
    import torch  # noqa: PLC0415

    self = b["self"]
    p = b.get("p")
    if p is None:  # bernoulli(self): self holds the probabilities
        p, out = self, torch.empty_like(self)
    else:
        out = self if op == "bernoulli_" else torch.empty_like(self)
    u = _unit(keys, out)
    prob = p.detach().to("cpu", torch.float64) if isinstance(p, torch.Tensor) else float(p)
    return _store(out, (u < prob).to(torch.float64))


def _on_meta(args: tuple, kwargs: dict) -> bool:
    """Meta tensors hold no values: their random ops stay torch's (no words to draw)."""
    import torch  # noqa: PLC0415

    return str(kwargs.get("device")) == "meta" or any(
        isinstance(a, torch.Tensor) and a.device.type == "meta" for a in args)


def is_keyed(op: str) -> bool:
    """True for the aten ops (by base name) that have a keyed version."""
    return op in _KEYED_NAMES and op not in _REFUSED


def transparent(mode: Any) -> bool:
    """True for fastinit's own dispatch modes, which patch mode does not treat as a foreign
    mode (its fills still run)."""
    return getattr(mode, "fastinit_transparent", False)


def keyed_random(keys: Any) -> Any:
    """A TorchDispatchMode that keys every random op on plain CPU/CUDA tensors by ``keys``."""
    import torch  # noqa: PLC0415
    from torch.utils._python_dispatch import TorchDispatchMode  # noqa: PLC0415

    class KeyedRandom(TorchDispatchMode):
        fastinit_transparent = True

        def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (),
                               kwargs: Optional[dict] = None) -> Any:
            kwargs = kwargs or {}
            if func.__name__.split(".")[0] in _KEYED_NAMES and all(
                    t is torch.Tensor or t is torch.nn.Parameter for t in types) \
                    and not _on_meta(args, kwargs):
                out = keyed_call(func, args, kwargs, keys)
                if out is not None:
                    return out
            return func(*args, **kwargs)

    return KeyedRandom()


_KEYED_NAMES = {"rand", "randn", "rand_like", "randn_like", "randint", "randint_like",
                "randperm", "normal", "bernoulli", "bernoulli_"} | _INPLACE | _INPLACE_OUT \
    | _REFUSED

__all__ = ["keyed_random", "keyed_call", "is_keyed", "transparent", "UnkeyedRandomOp"]

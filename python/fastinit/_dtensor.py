"""DTensor parameters: each rank fills its local shard at its global coordinates.

The values of a shard are exactly that block of the unsharded fill (docs/stream.md), so a
DTensor initialized here gathers, bit for bit, to the tensor one process would make, for any
mesh and Shard/Replicate placements.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Callable, Optional, Tuple

from ._init_tracing import init_function
from .streams import NameKeys, _resolving

#: random inits that can fill a shard alone (they take global_shape / global_offset)
_SHARDABLE = ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_",
              "kaiming_uniform_", "kaiming_normal_", "_no_grad_uniform_", "_no_grad_normal_",
              "_no_grad_trunc_normal_")
_CONSTANT = ("fill_", "zero_", "copy_", "constant_", "ones_", "zeros_", "_no_grad_fill_",
             "_no_grad_zero_")


def _is_dtensor(t: Any) -> bool:
    dt = sys.modules.get("torch.distributed.tensor")
    return dt is not None and isinstance(t, getattr(dt, "DTensor", ()))


def local_and_offset(dt: Any) -> Tuple[Any, Tuple[int, ...], Tuple[int, ...]]:
    """(local shard, global shape, global offset) of a DTensor with Shard/Replicate placements."""
    from torch.distributed.tensor import Replicate, Shard  # noqa: PLC0415
    from torch.distributed.tensor._utils import (  # noqa: PLC0415
        compute_local_shape_and_global_offset,
    )

    for p in dt.placements:
        if type(p) not in (Shard, Replicate):
            raise NotImplementedError(
                f"fastinit: DTensor placement {p!r} is not supported (Shard(dim) and Replicate)")
    shape = tuple(dt.shape)
    local = dt.to_local()
    _, offset = compute_local_shape_and_global_offset(shape, dt.device_mesh, dt.placements)
    return local, shape, tuple(int(o) for o in offset)


def _dtensor_call(kind: str, name: str, dt: Any, args: tuple, kwargs: dict,
                  call: Callable[[], Any], keys: Optional[NameKeys]) -> Any:
    from . import nn_init  # noqa: PLC0415

    if name in _CONSTANT:
        return call()  # DTensor fills constants itself
    local, shape, offset = local_and_offset(dt)
    if name in _SHARDABLE:
        fn = getattr(nn_init, name)
        if kind == "method":  # Tensor.uniform_(from, to) / normal_(mean, std)
            kwargs = {{"from": "a", "to": "b"}.get(k, k): v for k, v in kwargs.items()}
        with _resolving(keys) if keys is not None else contextlib.nullcontext():
            fn(local, *args, **kwargs, global_shape=shape, global_offset=offset)
        return dt
    if all(o == 0 for o in offset) and tuple(local.shape) == shape:  # replicated: whole tensor
        fn = init_function(name) if ":" in name else getattr(nn_init, name)
        with _resolving(keys) if keys is not None else contextlib.nullcontext():
            fn(local, *args, **kwargs)
        return dt
    raise NotImplementedError(f"fastinit: {name} needs the whole matrix; it cannot fill a "
                              f"sharded DTensor (placements {dt.placements})")


def init_dtensor_(dt: Any, init: str = "normal_", *args: Any, name: str, seed: int,
                  **kwargs: Any) -> Any:
    """Fill a DTensor in place with ``fastinit.nn_init.<init>(*args, **kwargs)``, each rank its
    own shard at its global coordinates, keyed by ``(seed, stream_of(name))``: gathered, the
    result equals ``init(full, ...)`` of the unsharded tensor under the same key, bit for bit.
    Shard(dim) and Replicate placements; ``init`` one of uniform_, normal_, trunc_normal_,
    xavier_*, kaiming_* (any init for fully replicated tensors), constant_, ones_, zeros_."""
    if not _is_dtensor(dt):
        raise TypeError(f"fastinit.init_dtensor_: expected a DTensor, got {type(dt).__name__}")
    keys = NameKeys(seed, {name: dt.to_local()})
    return _dtensor_call("init", init, dt, args, kwargs, lambda: _const(dt, init, args, kwargs),
                         keys)


def _const(dt: Any, init: str, args: tuple, kwargs: dict) -> Any:
    import torch  # noqa: PLC0415

    with torch.no_grad():
        return {"ones_": lambda: dt.fill_(1), "zeros_": lambda: dt.zero_(),
                "constant_": lambda: dt.fill_(*args, **kwargs)}[init]()

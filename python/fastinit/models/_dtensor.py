"""DTensor parameters: each rank fills its local shard at its global coordinates.

The values of a shard are exactly that block of the unsharded fill (docs/stream.md), so a
DTensor initialized here gathers, bit for bit, to the tensor one process would make, for any
mesh and Shard/Replicate placements.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

from ._init_tracing import init_function
from .._engine._seeds import key_and_stream
from .._engine._torch_required import require_torch
from .._engine.streams import NameKeys, _resolving, storage_key

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


def local_blocks(dt: Any) -> Tuple[Any, Tuple[int, ...], List[Tuple[Any, Tuple[int, ...]]]]:
    """(local shard, global shape, [(view of the shard, its global offset)]): one block for
    Shard/Replicate placements; for FSDP2 over tensor parallelism (_StridedShard) the shard's
    rows may come from several places of the global tensor, one block per contiguous run."""
    from torch.distributed.tensor import Replicate, Shard  # noqa: PLC0415

    if all(type(p) in (Shard, Replicate) for p in dt.placements):
        local, shape, offset = local_and_offset(dt)
        return local, shape, [(local, offset)]
    index = _strided_indices(dt)
    local, shape = dt.to_local(), tuple(dt.shape)
    runs = [_runs(index[d].tolist()) if d in index else [(0, 0, shape[d])]
            for d in range(len(shape))]
    blocks = []
    for combo in itertools.product(*runs):
        view = local[tuple(slice(lo, lo + n) for lo, _, n in combo)]
        blocks.append((view, tuple(g for _, g, _ in combo)))
    return local, shape, blocks


def _strided_indices(dt: Any) -> Dict[int, Any]:
    """{tensor dim: global indices of the local shard along it}, for placements that include
    _StridedShard (torch's own rule, as compute_local_shape_and_global_offset applies it)."""
    from torch.distributed.tensor import Replicate, Shard  # noqa: PLC0415

    try:
        from torch.distributed.tensor._utils import _get_shard_size_and_offsets  # noqa: PLC0415
        from torch.distributed.tensor.placement_types import _StridedShard  # noqa: PLC0415
    except ImportError as e:
        raise NotImplementedError(f"fastinit: DTensor placements {dt.placements} need torch's "
                                  f"strided-shard helpers, absent here ({e})") from None
    for p in dt.placements:
        if not isinstance(p, (Shard, Replicate, _StridedShard)):
            raise NotImplementedError(f"fastinit: DTensor placement {p!r} is not supported "
                                      f"(Shard(dim), Replicate and FSDP2's _StridedShard)")
    mesh, shape = dt.device_mesh, tuple(dt.shape)
    coordinate = mesh.get_coordinate()
    local_shape, index = list(shape), {}
    for mesh_dim, p in enumerate(dt.placements):
        if isinstance(p, (Shard, _StridedShard)):
            local_shape[p.dim], index[p.dim] = _get_shard_size_and_offsets(
                local_shape[p.dim], mesh.size(mesh_dim), coordinate[mesh_dim], p,
                index.get(p.dim), shape[p.dim], False)
    return {d: i for d, i in index.items() if local_shape[d] > 0}


def _runs(indices: List[int]) -> List[Tuple[int, int, int]]:
    """(local start, global start, length) of each run of consecutive global indices."""
    out: List[Tuple[int, int, int]] = []
    for pos, g in enumerate(indices):
        if out and g == out[-1][1] + out[-1][2]:
            out[-1] = (out[-1][0], out[-1][1], out[-1][2] + 1)
        else:
            out.append((pos, g, 1))
    return out


def _dtensor_call(kind: str, name: str, dt: Any, args: tuple, kwargs: dict,
                  call: Callable[[], Any], keys: Optional[NameKeys]) -> Any:
    from ..init import nn_init  # noqa: PLC0415

    if name in _CONSTANT:
        return call()  # DTensor fills constants itself
    local, shape, blocks = local_blocks(dt)
    fn = init_function(name) if ":" in name else getattr(nn_init, name)
    keyed = _resolving(keys) if keys is not None else contextlib.nullcontext()
    if kind == "method":  # Tensor.uniform_(from, to) / normal_(mean, std)
        kwargs = {{"from": "a", "to": "b"}.get(k, k): v for k, v in kwargs.items()}
    if name in _SHARDABLE and len(blocks) == 1:
        with keyed:
            fn(local, *args, **kwargs, global_shape=shape, global_offset=blocks[0][1])
    elif name in _SHARDABLE:  # one key for every block: drawn (or named) once
        rest = {k: v for k, v in kwargs.items() if k not in ("seed", "generator")}
        with keyed:
            pair = key_and_stream(name, kwargs.get("seed"), kwargs.get("generator"), True, local)
        with _resolving(lambda t: pair):
            for view, offset in blocks:
                fn(view, *args, **rest, global_shape=shape, global_offset=offset)
    elif len(blocks) == 1 and all(o == 0 for o in blocks[0][1]) and tuple(local.shape) == shape:
        with keyed:  # replicated: the whole tensor
            fn(local, *args, **kwargs)
    else:
        _whole_then_block(fn, local, shape, blocks, args, kwargs, keys)
    return dt


def _whole_then_block(fn: Callable[..., Any], local: Any, shape: Tuple[int, ...],
                      blocks: List[Tuple[Any, Tuple[int, ...]]], args: tuple, kwargs: dict,
                      keys: Optional[NameKeys]) -> None:
    """An init that needs the whole matrix (orthogonal_'s QR, sparse_'s per-column zeros, eye_,
    dirac_, timm's): every rank computes the whole tensor with the same key and keeps its
    blocks. No communication; each rank holds the whole tensor for the moment."""
    import torch  # noqa: PLC0415

    whole = torch.empty(shape, dtype=local.dtype, device=local.device)
    named = keys.by_storage.get(storage_key(local)) if keys is not None else None
    if named is not None:  # the whole tensor takes the parameter's stream
        keys.by_storage[storage_key(whole)] = (named[0], whole)
    try:
        with _resolving(keys) if keys is not None else contextlib.nullcontext():
            fn(whole, *args, **kwargs)
    finally:
        if named is not None:
            del keys.by_storage[storage_key(whole)]
    with torch.no_grad():
        for view, offset in blocks:
            view.copy_(whole[tuple(slice(o, o + n) for o, n in zip(offset, view.shape))])


def init_dtensor_(dt: Any, init: str = "normal_", *args: Any, name: str, seed: int,
                  **kwargs: Any) -> Any:
    """Fill a DTensor in place with ``fastinit.nn_init.<init>(*args, **kwargs)``, each rank its
    own shard at its global coordinates, keyed by ``(seed, stream_of(name))``: gathered, the
    result equals ``init(full, ...)`` of the unsharded tensor under the same key, bit for bit.
    Shard(dim) and Replicate placements; ``init`` any fastinit.nn_init function: uniform_,
    normal_, trunc_normal_, xavier_*, kaiming_* fill the shard alone; orthogonal_, sparse_,
    eye_, dirac_ compute the whole tensor on each rank (same key, no communication) and keep
    the shard's block; constant_, ones_, zeros_ as DTensor does."""
    require_torch("fastinit.init_dtensor_")
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

"""``checkpoint_module``: a model built on the meta device -> sharded safetensors, group by group.

Any architecture: the values are the ones :func:`fastinit.init_module` gives the eagerly built
model (its ``reset_parameters`` / transformers ``_init_weights``, name-keyed), bit for bit, but
the model never exists in memory as a whole. The module tree is cut into groups of at most
``group_bytes`` (whole subtrees where they fit; a module's own tensors alone otherwise; modules
sharing a tied parameter always together). For each group, in model order: its modules get
real, uninitialized memory (``to_empty``), the init code of those modules and of their
ancestors runs in the eager order (fills of tensors still on meta are no-ops), the group's
tensors go to the writer thread, and, once written, back to meta. Generation of one group
overlaps the writing of the previous one; peak memory is about two groups.

Written: the ``state_dict`` entries (persistent buffers included), a tied parameter once,
under its first name (as ``save_pretrained`` does). A tensor no init reached would hold
garbage: that is an error, and no file is left behind.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Set, Tuple, Union

from ._safetensors_out import DTYPE_CODES, Entry, Progress, ShardedWriter, parse_size, plan_shards
from .module_init import _init_calls, _Tracker, _untouched, named_tensors, tracing
from .streams import NameKeys, _resolving, storage_key

Unit = Tuple[str, bool]  # (module name, whole subtree?)


def _dtype_name(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


def _units(model: Any, sizes: Dict[str, int], group_bytes: int) -> List[Unit]:
    """Subtrees that fit ``group_bytes`` whole; bigger ones split into own tensors + children."""
    out: List[Unit] = []

    def visit(name: str, module: Any) -> None:
        children = list(module.named_children())
        subtree = sum(v for k, v in sizes.items() if _inside(k, name))
        if subtree <= group_bytes or not children:
            out.append((name, True))
            return
        if any(True for _ in module.parameters(recurse=False)) or \
                any(True for _ in module.buffers(recurse=False)):
            out.append((name, False))
        for child, sub in children:
            visit(f"{name}.{child}" if name else child, sub)

    visit("", model)
    return out


def _inside(module_name: str, root: str) -> bool:
    return root == "" or module_name == root or module_name.startswith(root + ".")


def _groups(units: List[Unit], sizes: Dict[str, int],
            ties: List[List[str]], group_bytes: int) -> List[List[Unit]]:
    """Consecutive units packed up to ``group_bytes``; groups sharing a tie merged."""
    def holds(unit: Unit, module_name: str) -> bool:
        return _inside(module_name, unit[0]) if unit[1] else module_name == unit[0]

    groups: List[List[Unit]] = []
    size = 0
    for u in units:
        n = sum(v for k, v in sizes.items() if holds(u, k))
        if groups and size + n <= group_bytes:
            groups[-1].append(u)
            size += n
        else:
            groups.append([u])
            size = n
    for tie in ties:  # put every owner of a tied parameter in the first owner's group
        owners = [n.rpartition(".")[0] for n in tie]
        where = [next(i for i, g in enumerate(groups) if any(holds(u, o) for u in g))
                 for o in owners]
        first = min(where)
        for i in sorted(set(where) - {first}, reverse=True):
            groups[first] += groups.pop(i)
    return groups


class _Arena:
    """Reusable memory for one group in flight. Fresh pages cost more to fault in than the
    fills cost (docs/api.md), so each group's tensors are carved out of one of two buffers
    that stay resident; each tensor still gets a storage of its own (streams are keyed by
    storage)."""

    def __init__(self, nbytes: int) -> None:
        import numpy as np  # noqa: PLC0415

        self.buf = np.empty(nbytes, np.uint8)
        self.pos = 0

    def take(self, t: Any) -> Any:
        import torch  # noqa: PLC0415

        n = t.numel() * t.element_size()
        out = torch.from_numpy(self.buf[self.pos:self.pos + n]).view(t.dtype).view(t.shape)
        self.pos += _aligned(n)
        return out


def _aligned(n: int) -> int:
    return (n + 63) // 64 * 64


def checkpoint_module(model: Any, out_dir: Union[str, os.PathLike], dtype: Any = None,
                      seed: int = 0, max_shard_size: Union[int, str] = "5GB", *,
                      group_bytes: int = 256 << 20, workers: int = 2,
                      progress: Optional[bool] = None) -> Dict[str, Any]:
    """Write ``model`` (built under ``torch.device("meta")``; left untouched) as sharded
    safetensors in ``out_dir``, its floating tensors in ``dtype`` (default: as they are), with
    the values ``init_module(eager model, seed)`` gives. Returns the index dict. With a
    transformers ``model.config``, ``config.json`` is written too."""
    import torch  # noqa: PLC0415

    from ._seeds import check_seed  # noqa: PLC0415
    from .patch import patch  # noqa: PLC0415

    seed = check_seed(seed, "checkpoint")
    work = _meta_copy(model, dtype)
    named = named_tensors(work)  # a tied parameter once, first name
    keep = [k for k in work.state_dict(keep_vars=True) if k in named]
    entries = [Entry(k, tuple(named[k].shape), _dtype_name(named[k].dtype)) for k in keep]
    plan = _Plan(work, named, group_bytes)
    keys = NameKeys(seed, named)
    tracker = _Tracker(keys, {})
    meta = {"format": "pt", "fastinit_seed": str(seed), "fastinit_source": type(model).__name__}
    arenas = [_Arena(plan.slot_bytes), _Arena(plan.slot_bytes)]
    with ShardedWriter(os.fspath(out_dir), plan_shards(entries, parse_size(max_shard_size)),
                       meta) as writer, ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        bar = Progress(writer.total, sys.stderr.isatty() if progress is None else progress,
                       "fastinit ")
        pending: List[Tuple[List[Unit], List[Future], List[Any]]] = []

        def finish() -> None:
            group, futures, storages = pending.pop(0)
            for f in futures:
                f.result()
            for k in storages:  # drop the references: the arena is reused
                keys.by_storage.pop(k, None)
            plan.place(group, lambda t: torch.empty_like(t, device="meta"))

        with patch(), tracing(tracker), _resolving(keys), torch.no_grad():
            for i, group in enumerate(plan.groups):
                arena = arenas[i % 2]
                arena.pos = 0
                now = plan.place(group, arena.take)
                for k, t in now.items():
                    keys.by_storage[storage_key(t)] = (k, t)
                plan.run_inits(group, keys)
                left = set(_untouched(now, tracker.touched, False, "checkpoint")) & set(keep)
                if left:
                    raise ValueError(f"fastinit.checkpoint: no init reached "
                                     f"{', '.join(sorted(left)[:8])}; their values would be "
                                     f"arbitrary")
                futures = [pool.submit(_write, writer, bar, k, now[k]) for k in keep if k in now]
                pending.append((group, futures, [storage_key(t) for t in now.values()]))
                del now
                if len(pending) > 1:  # one group is written while the next one is made
                    finish()
            while pending:
                finish()
        index = writer.commit(_config_text(model, dtype))
        bar.close()
        return index


def _meta_copy(model: Any, dtype: Any) -> Any:
    """A deep copy of the meta model, floating tensors in ``dtype``; errors for bad input."""
    import torch  # noqa: PLC0415

    fn = "fastinit.checkpoint"
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{fn}: expected a torch.nn.Module, got {type(model).__name__}")
    for n, t in named_tensors(model).items():
        if t.device.type != "meta":
            raise ValueError(f"{fn}: the model must be built on the meta device (under "
                             f"torch.device('meta')); {n} is on {t.device}")
        if _dtype_name(t.dtype) not in DTYPE_CODES:
            raise ValueError(f"{fn}: {n} has dtype {t.dtype}; safetensors files hold "
                             f"{', '.join(DTYPE_CODES)}")
    if isinstance(dtype, str):
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ValueError(f"{fn}: unknown dtype {dtype!r}")
        dtype = getattr(torch, dtype)
    if dtype is not None and (not isinstance(dtype, torch.dtype) or not dtype.is_floating_point
                              or _dtype_name(dtype) not in DTYPE_CODES):
        raise ValueError(f"{fn}: dtype must be a floating dtype safetensors holds, got {dtype!r}")
    work = copy.deepcopy(model)
    return work.to(dtype=dtype) if dtype is not None else work


class _Plan:
    """The groups of a meta model, and how to give a group memory and run its inits."""

    def __init__(self, work: Any, named: Dict[str, Any], group_bytes: int) -> None:
        from .deferred import _ties  # noqa: PLC0415

        self.work = work
        self.ties = _ties(work)
        self.modules = dict(work.named_modules())
        sizes: Dict[str, int] = {}  # owner module -> bytes of its tensors
        for k, t in named.items():
            owner = k.rpartition(".")[0]
            sizes[owner] = sizes.get(owner, 0) + t.numel() * t.element_size()
        self.groups = _groups(_units(work, sizes, group_bytes), sizes, self.ties, group_bytes)
        # _apply visits each module's own tensors, a tied one once per owner
        self.slot_bytes = max(sum(_aligned(t.numel() * t.element_size())
                                  for m in self.members(g) for t in self._own(m))
                              for g in self.groups)

    def _own(self, name: str) -> List[Any]:
        m = self.modules[name]
        return [t for t in m._parameters.values() if t is not None] + \
            [t for t in m._buffers.values() if t is not None]

    def members(self, group: List[Unit]) -> Set[str]:
        return {m for m in self.modules for (root, whole) in group
                if (_inside(m, root) if whole else m == root)}

    def place(self, group: List[Unit], make: Any) -> Dict[str, Any]:
        """Every tensor of the group replaced by ``make(t)`` (ties kept); name -> tensor."""
        from .deferred import _retie  # noqa: PLC0415

        mine = self.members(group)
        for root, whole in group:
            self.modules[root]._apply(make, recurse=whole)
        _retie(self.work, [t for t in self.ties if all(n.rpartition(".")[0] in mine for n in t)])
        return {k: t for k, t in named_tensors(self.work).items()
                if k.rpartition(".")[0] in mine}

    def run_inits(self, group: List[Unit], keys: NameKeys) -> None:
        """The init code of the group's modules and their ancestors, in eager order."""
        mine = self.members(group)
        run = mine | {a for m in mine for a in self.modules if _inside(m, a)}
        for where, init in _init_calls(self.work, ""):
            if where in run:
                keys.enter_module(where)
                init()


def _write(writer: ShardedWriter, bar: Progress, name: str, t: Any) -> None:
    import torch  # noqa: PLC0415

    data = t.detach().contiguous().reshape(-1).view(torch.uint8).numpy()
    writer.write(name, data)
    bar.add(data.nbytes)


def _config_text(model: Any, dtype: Any) -> Optional[str]:
    """transformers models: their config as save_pretrained writes it (dtype set)."""
    config = getattr(model, "config", None)
    if config is None or not callable(getattr(config, "to_dict", None)):
        return None
    d = config.to_dict()
    if not d.get("architectures"):
        d["architectures"] = [type(model).__name__]
    if dtype is not None:
        d["torch_dtype"] = _dtype_name(dtype)
        if "dtype" in d:
            d["dtype"] = _dtype_name(dtype)
    return json.dumps(d, indent=2, sort_keys=True, default=str) + "\n"


__all__ = ["checkpoint_module"]

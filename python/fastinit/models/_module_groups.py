"""How a meta model is made real a group at a time (checkpoints, init_module's law check).

The module tree is cut into groups of at most ``group_bytes``: whole subtrees where they fit,
a module's own tensors alone otherwise, modules sharing a tied parameter always together. For
each group, in model order, its modules get memory from one of two reused buffers
(``_Arena``), they get their values (the model's recorded construction replayed,
:mod:`fastinit.models._replay`; or, for a model of torch.nn modules or init_module's law check,
the init code of those modules and of their ancestors in eager order: fills of tensors still
on meta are no-ops), and a job is submitted for each of its tensors; once
those jobs are done the group goes back to meta. One group's jobs run while the next group is
made, so memory is about two groups.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Set, Tuple

from ._construction import Construction
from ._init_code import (_retie, _ties, _Tracker, _untouched, init_scope, named_tensors,
                         run_init_code)
from ._replay import _clear_hf_flags, make_real
from .._engine.streams import NameKeys, storage_key

Unit = Tuple[str, bool]  # (module name, whole subtree?)


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


class _Group(NamedTuple):
    units: List[Unit]
    members: Set[str]  # every module the units cover


class _Plan:
    """The groups of a meta model, and how to give a group memory and run its inits."""

    def __init__(self, work: Any, named: Dict[str, Any], group_bytes: int) -> None:
        self.work = work
        self.ties = _ties(work)
        self.modules = dict(work.named_modules())
        sizes: Dict[str, int] = {}  # owner module -> bytes of its tensors
        for k, t in named.items():
            owner = k.rpartition(".")[0]
            sizes[owner] = sizes.get(owner, 0) + t.numel() * t.element_size()
        self.groups = [_Group(units, self._members(units)) for units in
                       _groups(_units(work, sizes, group_bytes), sizes, self.ties, group_bytes)]
        # _apply visits each module's own tensors, a tied one once per owner
        self.slot_bytes = max(sum(_aligned(t.numel() * t.element_size())
                                  for m in g.members for t in self._own(m))
                              for g in self.groups)

    def _own(self, name: str) -> List[Any]:
        m = self.modules[name]
        return [t for t in m._parameters.values() if t is not None] + \
            [t for t in m._buffers.values() if t is not None]

    def _members(self, units: List[Unit]) -> Set[str]:
        return {m for m in self.modules for (root, whole) in units
                if (_inside(m, root) if whole else m == root)}

    def place(self, group: _Group, make: Any) -> None:
        """Every tensor of the group replaced by ``make(t)``, ties kept."""
        for root, whole in group.units:
            self.modules[root]._apply(make, recurse=whole)
        _retie(self.work, [t for t in self.ties
                           if all(n.rpartition(".")[0] in group.members for n in t)])

    def tensors(self, group: _Group) -> Dict[str, Any]:
        """The group's tensors by name (a tied one once, under its first name)."""
        return {k: t for k, t in named_tensors(self.work).items()
                if k.rpartition(".")[0] in group.members}

    def run_set(self, group: _Group) -> Set[str]:
        """The group's modules and their ancestors: whose init code a group runs."""
        return group.members | {a for m in group.members for a in self.modules if _inside(m, a)}


def run_groups(work: Any, named: Dict[str, Any], keep: List[str], seed: int,
               group_bytes: int, pool: ThreadPoolExecutor, job: Callable[[str, Any], None],
               fn: str, con: Optional[Construction] = None, only: Optional[Set[str]] = None,
               untouched_ok: bool = False) -> List[str]:
    """Give each group memory, give its tensors their values, and submit ``job(name, tensor)``
    for those in ``keep``; a group's memory goes back once its jobs are done, one group in
    flight. The values: ``con``'s construction replayed (``work`` is ``con.model``), else the
    model's init code (of the modules in ``only`` when given; a tensor it does not reach is an
    error, or with ``untouched_ok`` left out of the jobs). Returns the tensors that got their
    values from their modules' init code because their construction could not be replayed."""
    import torch  # noqa: PLC0415

    plan = _Plan(work, named, group_bytes)
    keys = NameKeys(seed, named)
    tracker = _Tracker(keys, {})
    arenas = [_Arena(plan.slot_bytes), _Arena(plan.slot_bytes)]
    pending: List[List[Future]] = []  # each group's jobs; its arena is free once they are done
    wanted = set(keep)
    fell_back: List[str] = []

    def finish() -> None:
        for f in pending.pop(0):
            f.result()

    # the replay opens its own scopes; the init code runs in one for the whole model
    with init_scope(keys, tracker) if con is None else contextlib.nullcontext():
        for i, group in enumerate(plan.groups):
            arena = arenas[i % 2]
            arena.pos = 0
            plan.place(group, arena.take)
            now = plan.tensors(group)
            for k, t in now.items():
                keys.by_storage[storage_key(t)] = (k, t)
            if con is not None:
                fell_back += make_real(con, now, keys, "cpu", plan.run_set(group), True, fn)
            else:
                _clear_hf_flags(now)  # as init_module: every init runs
                run = plan.run_set(group)
                run_init_code(work, keys, run if only is None else run & only)
                left = set(_untouched(now, tracker.touched, False, fn)) & wanted
                if left and not untouched_ok:
                    raise ValueError(f"{fn}: no init reached {', '.join(sorted(left)[:8])}; "
                                     f"their values would be arbitrary")
                wanted -= left  # untouched_ok: not given to the jobs
            pending.append([pool.submit(job, k, now[k]) for k in keep if k in now and k in wanted])
            # Back to meta at once (the jobs hold the real tensors): the next group runs its
            # ancestors' init code again, which must not reach this group's tensors (T5's
            # attention init writes its children's weights after they were final).
            plan.place(group, lambda t: torch.empty_like(t, device="meta"))
            for t in now.values():
                keys.by_storage.pop(storage_key(t), None)
            del now
            if len(pending) > 1:  # one group's jobs run while the next one is made
                finish()
        while pending:
            finish()
    return fell_back

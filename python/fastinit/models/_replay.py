"""A recorded construction replayed on real tensors: the whole model, or one group of it.

``materialize`` gives :func:`make_real` every tensor at once; the checkpoint path gives it one
group of modules at a time (the others are on meta, so their fills do nothing), and a tensor of
another group that this group's values read gets a temporary keyed by its name. Either way a
tensor gets the same bits:

1. a tensor whose history holds only init calls (*plain*): its recorded inits, in order, on
   its real memory, name-keyed;
2. a *computed* tensor: the events it depends on, in program order
   (:func:`fastinit.models._meta_replay.replay_computed`);
3. a transformers model: ``_init_weights`` of the modules (transformers skips it on meta; it
   runs at ``post_init`` on real tensors);
4. what none of that reached: its modules' own init code (``fallback_init``), with the
   names returned; what that does not reach either is a ValueError naming each tensor.

Every random op on the way is keyed (:mod:`fastinit.models._keyed_random`).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Set

from ._construction import Construction
from ._init_code import _Tracker, _untouched, init_scope, named_tensors, run_init_code
from ._init_tracing import init_function
from ._meta_replay import real_view, replay_computed
from .._engine.streams import NameKeys, storage_key

_NOTHING = "no init call or op gave it values while it was built"


def make_real(con: Construction, real: Dict[str, Any], keys: NameKeys, device: Any,
              modules: Optional[Set[str]], fallback_init: bool, fn: str) -> List[str]:
    """Give the tensors of ``real`` (name -> real tensor, in place in ``con.model``) the
    values their construction gives. ``modules``: whose transformers / fallback init code may
    run (None: all). Returns the names that got their values from their modules' init code
    (``fallback_init``); raises ValueError for those nothing can give values."""
    tracker = _Tracker(keys, {})
    with init_scope(keys):  # the records name their targets: no tracer
        for name, t in real.items():
            for rec in con.plain_records(name):
                # rec.view, not rec.target: a deep copy replays its template's records
                view = real_view(con.meta_named[name], t, *rec.view)
                keys.fallback, keys._tmp = keys.name_of(view), 0
                tracker.touched.add(name)
                if rec.kind == "init":
                    init_function(rec.name)(view, *rec.args, **rec.kwargs)
                else:
                    getattr(view, rec.name)(*rec.args, **rec.kwargs)
        failed = _replay_computed(con, real, keys, device)
    tracker.touched |= {n for n in real if _computed(con, n)} - set(failed)
    if con.is_transformers:
        with init_scope(keys, tracker):
            _clear_hf_flags(real)
            run_init_code(con.model, keys, modules, reset=False)
    untouched = _untouched(real, tracker.touched, False, fn)
    left = untouched
    if fallback_init and untouched:  # the owners' own init code, as init_module runs it
        fallback = _Tracker(keys, {})
        with init_scope(keys, fallback):
            _clear_hf_flags(real)
            run_init_code(con.model, keys, {n.rpartition(".")[0] for n in untouched})
        still = set(_untouched(real, fallback.touched, False, fn))
        left = [n for n in untouched if n in still]
    if left:
        why = "; ".join(f"{n}: {failed.get(n, _NOTHING)}" for n in left[:8])
        raise ValueError(f"{fn}: cannot give {len(left)} parameter(s)/buffer(s) the values "
                         f"their construction gives ({why}{' ...' if len(left) > 8 else ''}); "
                         f"they would hold uninitialized memory")
    return untouched


def _computed(con: Construction, name: str) -> bool:
    return storage_key(con.meta_named[name]) in con.computed_keys


def _replay_computed(con: Construction, real: Dict[str, Any], keys: NameKeys,
                     device: Any) -> Dict[str, str]:
    bound = {storage_key(con.meta_named[n]): (con.meta_named[n], t) for n, t in real.items()}
    targets = set(bound) & con.computed_keys
    if not targets:
        return {}
    dtypes = {n: t.dtype for n, t in named_tensors(con.model).items()}
    unbound = {storage_key(m): (n, m, dtypes[n]) for n, m in con.meta_named.items()
               if storage_key(m) not in bound}
    return replay_computed(con, targets, bound, unbound, device, keys)


def _clear_hf_flags(real: Dict[str, Any]) -> None:
    """transformers' init helpers skip a tensor flagged initialized: every init runs."""
    for t in real.values():
        if getattr(t, "_is_hf_initialized", False):
            t._is_hf_initialized = False


__all__ = ["make_real"]

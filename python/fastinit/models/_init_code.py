"""The init code of a built model, and how whole-model init runs it.

``_init_calls`` lists what eager construction runs, in its order: every submodule's
``reset_parameters()`` (or ``_reset_parameters()``), children before parents; the outermost
modules' ``init_weights()`` entry points; then, for transformers models, ``_init_weights(module)``
for every module, children first, by its nearest PreTrainedModel. ``_Tracker`` is the tracer's
callback that keys temporaries and marks what an init reached; ``untied`` keeps tied parameters
apart while inits run; ``named_tensors`` / ``_untouched`` name what there is and what nothing
reached. Used by ``init_module``, ``materialize`` and the checkpoint groups.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

from ._dtensor import _dtensor_call, _is_dtensor
from ._init_tracing import tracing
from ._keyed_random import keyed_random
from .._engine.streams import NameKeys, _resolving, storage_key


def named_tensors(model: Any, prefix: str = "") -> Dict[str, Any]:
    """Qualified name -> parameter or buffer (tied ones once, under their first name);
    DTensors by their local shard, so a shard's fills find its name."""
    out: Dict[str, Any] = {}
    for name, t in _named(model, prefix):
        out[name] = t.to_local() if _is_dtensor(t) else t
    return out


class _Tracker:
    """The on_call of init_module / materialize replay: keys temporaries by the init's target,
    marks what was touched, and sends DTensor fills to their shards."""

    def __init__(self, keys: NameKeys, dtensors: Dict[int, str]) -> None:
        self.keys = keys
        self.touched: set = set()
        self.dtensors = dtensors  # id(DTensor param) -> name

    def __call__(self, kind: str, name: str, target: Any, args: tuple, kwargs: dict,
                 call: Callable[[], Any]) -> Any:
        if _is_dtensor(target):
            pname = self.dtensors.get(id(target))
            if pname is None:
                return call()
            self.touched.add(pname)
            self.keys.fallback, self.keys._tmp = pname, 0
            return _dtensor_call(kind, name, target, args, kwargs, call, self.keys)
        tname = self.keys.name_of(target) if target is not None else None
        if tname is not None:
            self.touched.add(self.keys.by_storage[storage_key(target)][0])
            self.keys.fallback, self.keys._tmp = tname, 0
        return call()


def _post_order(model: Any, prefix: str) -> List[Tuple[str, Any]]:
    """Every module once, children before their parent (``named_modules``'s names), as eager
    construction finishes them and transformers' ``smart_apply`` visits them."""
    first = {id(m): n for n, m in model.named_modules(prefix=prefix)}
    out: List[Tuple[str, Any]] = []
    seen: set = set()

    def visit(module: Any) -> None:
        if id(module) in seen:
            return
        seen.add(id(module))
        for child in module.children():
            visit(child)
        out.append((first[id(module)], module))

    visit(model)
    return out


def _is_pretrained(module: Any) -> bool:
    return any(c.__name__ == "PreTrainedModel" for c in type(module).__mro__)


def _init_calls(model: Any, prefix: str, reset: bool = True
                ) -> Iterator[Tuple[str, Callable[[], Any]]]:
    """The init code eager construction runs, in its order: every module's
    ``reset_parameters()`` (or ``_reset_parameters()``), children first; the model-level
    ``init_weights()`` entry points; then ``_init_weights(module)`` for every module inside a
    transformers model, children first, each by its nearest PreTrainedModel (a sub-model
    brings its own, as ``smart_apply`` dispatches it)."""
    order = _post_order(model, prefix)
    for where, module in order if reset else ():
        for meth in ("reset_parameters", "_reset_parameters"):
            fn = getattr(module, meth, None)
            if callable(fn):
                yield where, fn
                break
    if reset:
        yield from _entry_points(model, prefix)
    owner: Dict[int, Any] = {}
    for _, module in reversed(order):  # parents before children: inherit the nearest owner
        if _is_pretrained(module) and callable(getattr(module, "_init_weights", None)):
            owner[id(module)] = module
        if id(module) in owner:
            for child in module.children():
                owner.setdefault(id(child), owner[id(module)])
    for where, module in order:  # modules outside any transformers model: none of this
        if id(module) not in owner:
            continue
        if getattr(module, "_is_hf_initialized", False):
            module._is_hf_initialized = False
        init_weights = owner[id(module)]._init_weights
        yield where, (lambda m=module, f=init_weights: f(m))


def _takes_no_arguments(fn: Any) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in params)


def _entry_points(model: Any, prefix: str) -> List[Tuple[str, Callable[[], Any]]]:
    """The outermost modules with a model-level ``init_weights()`` that takes no required
    argument (timm's models, torchtitan-style ``init_weights(buffer_device=None)``): each
    initializes its whole subtree, as its constructor did. transformers models are left to
    ``_init_weights`` (their ``init_weights`` re-ties and prunes)."""
    out: List[Tuple[str, Callable[[], Any]]] = []

    def visit(name: str, module: Any) -> None:
        fn = getattr(module, "init_weights", None)
        if callable(fn) and not _is_pretrained(module) and _takes_no_arguments(fn):
            out.append((name, fn))
            return
        for child_name, child in module.named_children():
            visit(f"{name}.{child_name}" if name else child_name, child)

    visit(prefix, model)
    return out


def _ties(model: Any) -> List[List[str]]:
    """Groups of qualified names that share one Parameter (tied weights)."""
    groups: Dict[int, List[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(p), []).append(name)
    return [g for g in groups.values() if len(g) > 1]


@contextlib.contextmanager
def untied(model: Any) -> Iterator[None]:
    """Tied parameters apart for the block, then tied again to their source: eager
    construction initializes each owner's own tensor and ties afterwards, so the source's
    values are the ones kept (a padding row zeroed by the embedding survives the output
    layer's init). The source is transformers' tie mapping's, else the first name."""
    import torch  # noqa: PLC0415

    mapping = getattr(model, "all_tied_weights_keys", None) or {}
    ties = []
    for names in _ties(model):
        source = next((mapping[n] for n in names if mapping.get(n) in names), names[0])
        shared = model.get_parameter(source)
        ties.append((shared, [n for n in names if n != source]))
    try:
        for shared, targets in ties:
            for name in targets:
                owner, _, attr = name.rpartition(".")
                stand_in = torch.nn.Parameter(torch.empty_like(shared), shared.requires_grad)
                setattr(model.get_submodule(owner), attr, stand_in)
        yield
    finally:
        for shared, targets in ties:
            for name in targets:
                owner, _, attr = name.rpartition(".")
                setattr(model.get_submodule(owner), attr, shared)


def _named(model: Any, prefix: str = "") -> List[Tuple[str, Any]]:
    return list(model.named_parameters(prefix)) + list(model.named_buffers(prefix))


def _untouched(named: Dict[str, Any], touched: set, warn: bool, fn: str) -> List[str]:
    seen = set()
    out = []
    for name, t in named.items():
        k = storage_key(t)
        if name in touched:
            seen.add(k)
    for name, t in named.items():
        if name not in touched and storage_key(t) not in seen and t.numel() > 0:
            out.append(name)
    if out and warn:
        warnings.warn(f"fastinit.{fn}: no init reached {len(out)} parameter(s)/buffer(s): "
                      f"{', '.join(out[:8])}{' ...' if len(out) > 8 else ''} (they keep their "
                      f"values; a value set only inside __init__ cannot be run again: "
                      f"fastinit.materialize(build) replays the construction)", stacklevel=3)
    return out



def _retie(model: Any, ties: List[List[str]]) -> None:
    """to_empty() gives each module its own copy of a shared parameter: share it again."""
    for group in ties:
        first = model.get_parameter(group[0])
        for name in group[1:]:
            owner, _, attr = name.rpartition(".")
            setattr(model.get_submodule(owner), attr, first)


@contextlib.contextmanager
def init_scope(keys: NameKeys, tracker: Optional["_Tracker"] = None) -> Iterator[None]:
    """Where whole-model init runs: patch mode, the tracer (when ``tracker`` is given),
    name-keyed fills and random ops, no autograd."""
    import torch  # noqa: PLC0415

    from .patch import patch  # noqa: PLC0415

    with contextlib.ExitStack() as stack:
        stack.enter_context(patch())
        if tracker is not None:
            stack.enter_context(tracing(tracker))
        stack.enter_context(_resolving(keys))
        stack.enter_context(keyed_random(keys))
        stack.enter_context(torch.no_grad())
        yield


def run_init_code(model: Any, keys: NameKeys, modules: Optional[Set[str]] = None,
                  reset: bool = True, prefix: str = "") -> None:
    """The model's init code (:func:`_init_calls`), of ``modules`` only when given, tied
    parameters apart meanwhile; inside :func:`init_scope`."""
    with untied(model):
        for where, fn in _init_calls(model, prefix, reset):
            if modules is not None and where not in modules:
                continue
            keys.enter_module(where)
            fn()

"""Whole-model init: ``init_module`` (name-keyed, under patch mode).

``init_module(model, seed=s)`` runs the model's own initialization code again, in the order
eager construction runs it — every submodule's ``reset_parameters()`` (and
``_reset_parameters()``), children before parents, then the model's own ``init_weights()``
entry point where it has one (timm, torchtitan-style models), then, for transformers models,
``_init_weights(module)`` for every module, children first, by each module's nearest
PreTrainedModel, with tied weights apart until the end (the tie's source keeps its values) —
under :func:`fastinit.patch`, with every fill of a parameter or buffer keyed by
``(s, stream_of(qualified name))``
(:mod:`fastinit.streams`). A parameter's values then depend only on (seed, name, index): not
on construction order, device, dtype or sharding.

A tracer sees every ``torch.nn.init.*`` call and every ``Tensor.uniform_ / normal_ / fill_ /
zero_ / copy_`` on a model tensor (views and ``.data`` aliases included): it records which tensors an
init reached (the rest are returned and warned about) and sends fills of DTensor parameters
to their local shard with global coordinates. Fills of tensors that are no model tensor (the
Gaussian temporary inside ``orthogonal_``) get the stream ``stream_of(f"{name}#tmp{k}")``,
``name`` the target of the init call that made them, ``k`` counting within that call.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ._dtensor import _dtensor_call, _is_dtensor, init_dtensor_
from ._init_tracing import tracing
from .._engine._torch_required import require_torch
from .._engine.streams import NameKeys, _resolving, storage_key, stream_of

# --- init_module ----------------------------------------------------------------------------

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


def init_module(model: Any, seed: int = 0, *, warn: bool = True, prefix: str = "",
                only: Optional[Any] = None, _reset: bool = True) -> List[str]:
    """Re-initialize ``model`` in place the way its own code does, name-keyed.

    Every submodule's ``reset_parameters()`` runs, children before parents (as construction
    finishes them), then the outermost modules' ``init_weights()`` that need no argument
    (timm's ViT / ResNet, torchtitan-style models: each for its subtree), then, for every
    module inside a transformers model, ``_init_weights(module)``, children first, by its
    nearest PreTrainedModel (as ``smart_apply``); tied parameters are
    apart meanwhile and tied again at the end, keeping the tie source's values (as
    transformers ties after init). All under patch mode; each fill of a
    parameter or buffer uses key ``seed`` and stream ``stream_of(qualified name)``. Works on
    the device the parameters live on (CPU, CUDA; DTensor parameters shard by shard).
    Returns the names of parameters and buffers no init reached (they keep their values), and
    warns about them unless ``warn=False``. ``prefix``: the qualified name of ``model`` inside
    a larger model, so a submodule re-initialized alone gets the streams it has in the whole.
    ``only``: a set of module names (as ``named_modules`` gives them): run those modules'
    inits only.
    """
    torch = require_torch("fastinit.init_module")

    from .patch import patch  # noqa: PLC0415

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"fastinit.init_module: model must be a torch.nn.Module, got "
                        f"{type(model).__name__}")
    named = named_tensors(model, prefix)
    keys = NameKeys(seed, named)
    dtensors = {id(t): n for n, t in _named(model, prefix) if _is_dtensor(t)}
    tracker = _Tracker(keys, dtensors)
    with patch(), tracing(tracker), _resolving(keys), torch.no_grad(), untied(model):
        for t in named.values():
            if getattr(t, "_is_hf_initialized", False):
                t._is_hf_initialized = False
        for where, fn in _init_calls(model, prefix, _reset):
            if only is not None and where not in only:
                continue
            keys.enter_module(where)
            fn()
    return _untouched(named, tracker.touched, warn, "init_module")


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


__all__ = ["init_module", "init_dtensor_", "tracing", "stream_of"]

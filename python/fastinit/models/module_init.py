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
on construction order, device, dtype or sharding. Before writing, the law of what it would
write is checked against what the model holds (:mod:`fastinit.models._law`): init code that
lives only in ``__init__`` cannot run again, and a changed law is an error, never silent.

A tracer sees every ``torch.nn.init.*`` call and every ``Tensor.uniform_ / normal_ / fill_ /
zero_ / copy_`` on a model tensor (views and ``.data`` aliases included): it records which tensors an
init reached (the rest are returned and warned about) and sends fills of DTensor parameters
to their local shard with global coordinates. Fills of tensors that are no model tensor (the
Gaussian temporary inside ``orthogonal_``) get the stream ``stream_of(f"{name}#tmp{k}")``,
``name`` the target of the init call that made them, ``k`` counting within that call.
"""

from __future__ import annotations

import copy
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional

from ._dtensor import _is_dtensor, init_dtensor_
from ._init_code import (_named, _Tracker, _untouched, init_scope, named_tensors,
                         run_init_code)
from ._init_tracing import tracing
from ._law import law_difference
from ._replay import _clear_hf_flags
from .._engine._torch_required import require_torch
from .._engine.streams import NameKeys, stream_of


def init_module(model: Any, seed: int = 0, *, warn: bool = True, prefix: str = "",
                only: Optional[Any] = None, check: bool = True,
                keep_constructed: bool = False) -> List[str]:
    """Re-initialize ``model`` in place the way its own code does, name-keyed.

    Every submodule's ``reset_parameters()`` runs, children before parents (as construction
    finishes them), then the outermost modules' ``init_weights()`` that need no argument
    (timm's ViT / ResNet, torchtitan-style models: each for its subtree), then, for every
    module inside a transformers model, ``_init_weights(module)``, children first, by its
    nearest PreTrainedModel (as ``smart_apply``); tied parameters are apart meanwhile and tied
    again at the end, keeping the tie source's values (as transformers ties after init). All
    under patch mode; each fill of a parameter or buffer uses key ``seed`` and stream
    ``stream_of(qualified name)``, and torch's random ops in that code (``torch.rand``, ...)
    draw from name-keyed streams too. Works on the device the parameters live on (CPU, CUDA;
    DTensor parameters shard by shard).

    ``check`` (default): the model holds the values its construction gave it, and nothing is
    written unless every tensor's new values follow the law of the ones it holds (constants
    equal, zero rows kept, std within 20%, mean within a few standard errors; see
    :mod:`fastinit.models._law`): init code that lives only in ``__init__`` (timm's
    EfficientNet, a zero-initialized last norm) cannot be run again, and is a ValueError naming
    each tensor, not a silent change of law. ``keep_constructed=True`` keeps such tensors as
    they are (their names are returned). ``check=False``: the model holds no values of its
    construction (after ``to_empty``, or loaded weights) and its init code is trusted as it
    is; ``fastinit.materialize(build)`` replays the construction instead. DTensor models are
    not checked (they are made on meta).

    Returns the names of parameters and buffers left as they were (no init reached them, or
    kept), and warns about them unless ``warn=False``. ``prefix``: the qualified name of
    ``model`` inside a larger model, so a submodule re-initialized alone gets the streams it
    has in the whole. ``only``: a set of module names (as ``named_modules`` gives them): run
    those modules' inits only.
    """
    torch = require_torch("fastinit.init_module")

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"fastinit.init_module: model must be a torch.nn.Module, got "
                        f"{type(model).__name__}")
    named = named_tensors(model, prefix)
    dtensors = {id(t): n for n, t in _named(model, prefix) if _is_dtensor(t)}
    kept: Dict[str, Any] = {}
    if check and not dtensors and any(t.device.type != "meta" for t in named.values()):
        differ = law_changes(model, seed, prefix, only)
        if differ and not keep_constructed:
            raise ValueError(_law_message(differ))
        kept = {n: named[n].detach().clone() for n in differ}
    keys = NameKeys(seed, named)
    tracker = _Tracker(keys, dtensors)
    with init_scope(keys, tracker):
        _clear_hf_flags(named)
        run_init_code(model, keys, None if only is None else set(only), prefix=prefix)
        for n, value in kept.items():
            named[n].copy_(value)
    left = [n for n in _untouched(named, tracker.touched, False, "init_module") if n not in kept]
    if (left or kept) and warn:
        said = [f"no init reached {len(left)} parameter(s)/buffer(s): {_names(left)}"] if left \
            else []
        said += [f"{len(kept)} keep the values their construction gave them: "
                 f"{_names(sorted(kept))}"] if kept else []
        warnings.warn(f"fastinit.init_module: {'; '.join(said)} (they keep their values; a "
                      f"value set only inside __init__ cannot be run again: "
                      f"fastinit.materialize(build) replays the construction)", stacklevel=2)
    return left + sorted(kept)


def _names(names: List[str]) -> str:
    return f"{', '.join(names[:8])}{' ...' if len(names) > 8 else ''}"


def law_changes(model: Any, seed: int, prefix: str = "",
                only: Optional[Any] = None) -> Dict[str, str]:
    """{name: how} for every tensor whose values ``init_module`` would give another law than
    the values it holds. Computed on a meta twin of the model made real a group at a time
    (about two groups of memory), as ``checkpoint_module`` does; the model is not touched."""
    from ._module_groups import run_groups  # noqa: PLC0415

    held = named_tensors(model, prefix)
    twin = meta_twin(model)
    tnamed = named_tensors(twin)
    out: Dict[str, str] = {}
    lock = threading.Lock()

    def compare(name: str, new: Any) -> None:
        how = law_difference(held[prefix + name], new)
        if how is not None:
            with lock:
                out[prefix + name] = how

    strip = len(prefix)
    modules = None if only is None else {m[strip:] if prefix and m.startswith(prefix) else m
                                         for m in only}
    with ThreadPoolExecutor(max_workers=2) as pool:
        run_groups(twin, tnamed, list(tnamed), seed, 256 << 20, pool, compare,
                   "fastinit.init_module", only=modules, untouched_ok=True)
    return dict(sorted(out.items()))


def meta_twin(model: Any) -> Any:
    """A copy of ``model`` with every parameter and buffer on meta (ties kept), made without
    copying their data."""
    import torch  # noqa: PLC0415

    memo: Dict[int, Any] = {}
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) not in memo:
            meta = torch.empty_like(t, device="meta")
            memo[id(t)] = (torch.nn.Parameter(meta, t.requires_grad)
                           if isinstance(t, torch.nn.Parameter) else meta)
    return copy.deepcopy(model, memo)


def _law_message(differ: Dict[str, str]) -> str:
    items = list(differ.items())
    shown = "; ".join(f"{n}: {how}" for n, how in items[:8])  # the first few, in model order
    return (f"fastinit.init_module: the model's init code would change the law of "
            f"{len(items)} parameter(s)/buffer(s) its construction gave them ({shown}"
            f"{' ...' if len(items) > 8 else ''}): their init lives in __init__, which cannot "
            f"run again. fastinit.materialize(build) replays the construction; "
            f"keep_constructed=True keeps these tensors as they are; check=False if the model "
            f"holds no values of its construction (after to_empty, or loaded weights)")


__all__ = ["init_module", "init_dtensor_", "tracing", "stream_of"]

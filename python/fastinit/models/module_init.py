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

from typing import Any, List, Optional

from ._dtensor import _is_dtensor, init_dtensor_
from ._init_code import _init_calls, _named, _Tracker, _untouched, named_tensors, untied
from ._init_tracing import tracing
from .._engine._torch_required import require_torch
from .._engine.streams import NameKeys, _resolving, stream_of


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


__all__ = ["init_module", "init_dtensor_", "tracing", "stream_of"]

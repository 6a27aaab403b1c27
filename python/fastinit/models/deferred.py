"""``materialize``: build a model on the meta device, allocate it, replay its inits for real.

1. ``build()`` runs under ``torch.device("meta")`` and patch mode, with the tracer of
   :mod:`fastinit.module_init` recording every init call (``torch.nn.init.*``, timm's, and
   ``Tensor.uniform_ / normal_ / fill_ / zero_``) whose target is a meta tensor (the call, its
   arguments, and the target as a view: storage offset, shape, strides), every deep copy of a
   meta tensor, and (:mod:`fastinit.models._meta_replay`) every other aten op on meta tensors.
2. ``model.to_empty(device=device)`` (and ``.to(dtype)`` for floating tensors when ``dtype``
   is given) allocates uninitialized memory.
3. A parameter or buffer whose history holds only init calls gets them again, in order, on its
   real memory, under patch mode with name-keyed streams: the values
   ``init_module(eager_model, seed)`` gives it, bit for bit, without the model ever existing
   on the CPU first. One whose value was computed (``1e-6 * torch.ones(n)``, a RoPE
   ``inv_freq``, an in-place rescale after an init) has its history run again on the device.

What cannot be replayed (a random op with no keyed fastinit version, a tensor nothing wrote) gets its module's own init code when ``fallback_init``
(the default), with a warning; whatever that leaves is a ValueError: never ``to_empty`` memory.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Dict

from ._construction import Recorder
from ._init_code import _is_pretrained, _retie, _Tracker, _ties, _untouched, named_tensors
from ._meta_replay import computed, meta_log, real_view, replay_computed
from .._engine._targets import torch_floating_dtype
from .._engine._torch_required import require_torch
from ._init_tracing import init_function, tracing
from .._engine.streams import NameKeys, _resolving, storage_key


def materialize(build: Callable[[], Any], device: Any = "cpu", dtype: Any = None,
                seed: int = 0, *, warn: bool = True, fallback_init: bool = True,
                return_untouched: bool = False) -> Any:
    """Build ``build()`` on the meta device, allocate it on ``device`` (in ``dtype`` for its
    floating tensors when given) and replay its recorded inits with name-keyed streams.

    Returns the model (and, with ``return_untouched=True``, ``(model, names)``: the tensors
    that got their values from ``fallback_init`` rather than from the replay). Tensors set by
    init calls equal, bit for bit, what ``init_module(eagerly built model, seed)`` gives;
    tensors computed by ops during the build get those ops again (exact where no randomness is
    involved). Raises ValueError for a tensor neither the replay nor (``fallback_init``) its
    module's init code can give values.
    """
    torch = require_torch("fastinit.materialize")

    from .module_init import init_module  # noqa: PLC0415
    from .patch import patch  # noqa: PLC0415

    fn = "fastinit.materialize"
    if not callable(build) or isinstance(build, torch.nn.Module):
        raise TypeError(f"{fn}: build must be a function that builds the model "
                        f"(lambda: MyModel()), got {type(build).__name__}")
    dtype = torch_floating_dtype(dtype, fn)
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as e:
        raise ValueError(f"{fn}: device {device!r} is not a torch device ({e})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{fn}: device {device} asked for, but torch has no usable CUDA "
                           f"device")
    recorder = Recorder()
    with torch.device("meta"), patch(), tracing(recorder), recorder.copies(), \
            meta_log(recorder.records, recorder.quiet):
        model = build()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{fn}: build() must return a torch.nn.Module, got "
                        f"{type(model).__name__}")
    # aliases: Module.to(dtype) below swaps a parameter's .data, and the log names the
    # storages the build made
    meta_named = {n: t.detach() for n, t in named_tensors(model).items()}
    names: Dict[int, str] = {}
    for name, t in meta_named.items():
        names.setdefault(storage_key(t), name)
    events = recorder.records
    needed, computed_keys = computed(events, names)
    inits = recorder.by_storage()
    plan = []  # (record, parameter name): each plain tensor's inits in order
    for name, t in meta_named.items():
        if storage_key(t) not in computed_keys:
            plan += [(rec, name) for rec in inits.get(storage_key(t), [])]

    ties = _ties(model)
    if dtype is not None:  # on meta: costs nothing; Module.to casts floating tensors only
        model = model.to(dtype=dtype)
    model = model.to_empty(device=device)
    _retie(model, ties)
    named = named_tensors(model)
    keys = NameKeys(seed, named)
    tracker = _Tracker(keys, {})
    with patch(), _resolving(keys), torch.no_grad():
        for rec, pname in plan:
            # rec.view, not rec.target: a deep copy replays its template's records
            real = real_view(meta_named[pname], named[pname], *rec.view)
            keys.fallback, keys._tmp = keys.name_of(real), 0
            tracker.touched.add(pname)
            if rec.kind == "init":
                init_function(rec.name)(real, *rec.args, **rec.kwargs)
            else:
                getattr(real, rec.name)(*rec.args, **rec.kwargs)
        bound = {storage_key(meta_named[n]): (meta_named[n], named[n]) for n in meta_named}
        failed = replay_computed(events, needed, computed_keys, bound, names, device, keys)
    tracker.touched |= {names[k] for k in computed_keys} - set(failed)
    del events[:], needed, bound
    untouched = _untouched(named, tracker.touched, False, "materialize")
    if any(_is_pretrained(m) for m in model.modules()):
        # transformers skips _init_weights on the meta device (it inits at from_pretrained /
        # post_init on real tensors): run it now, for every module, as eager construction did
        hf_left = set(init_module(model, seed, warn=False, _reset=False))
        untouched = [n for n in untouched if n in hf_left]
    left = untouched
    if fallback_init and untouched:  # the owners' own init code, as init_module runs it
        owners = {n.rpartition(".")[0] for n in untouched}
        still = set(init_module(model, seed, warn=False, only=owners))
        left = [n for n in untouched if n in still]
    if left:
        why = "; ".join(f"{n}: {failed.get(n, _NOTHING)}" for n in left[:8])
        raise ValueError(f"{fn}: cannot give {len(left)} parameter(s)/buffer(s) the values "
                         f"their construction gives ({why}{' ...' if len(left) > 8 else ''}); "
                         f"they would hold uninitialized memory")
    if untouched and warn:
        warnings.warn(f"{fn}: {', '.join(untouched[:8])}{' ...' if len(untouched) > 8 else ''}"
                      f" got their values from their modules' init code (reset_parameters), "
                      f"not from replaying their construction", stacklevel=2)
    return (model, untouched) if return_untouched else model


_NOTHING = "no init call or op gave it values while it was built"


__all__ = ["materialize"]

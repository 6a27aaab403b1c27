"""``materialize``: build a model on the meta device, allocate it, replay its inits for real.

1. ``build()`` runs under ``torch.device("meta")`` and patch mode, with the tracer of
   :mod:`fastinit.module_init` recording every ``torch.nn.init.*`` call and every
   ``Tensor.uniform_ / normal_ / fill_ / zero_`` whose target is a meta tensor (the call,
   its arguments, and the target as a view: storage offset, shape, strides).
2. ``model.to_empty(device=device)`` (and ``.to(dtype)`` for floating tensors when ``dtype``
   is given) allocates uninitialized memory.
3. The recorded calls whose target is one of the model's parameters or buffers run again, in
   order, on the real tensors, under patch mode with name-keyed streams: a parameter gets the
   values ``init_module(eager_model, seed)`` gives it, bit for bit, without the model ever
   existing on the CPU first.

What cannot be replayed: values computed in ``__init__`` from other tensors (e.g. a RoPE
``inv_freq`` buffer, or ``Parameter(torch.randn(n) * 2)``) — their targets are reported as
untouched (returned, and warned about), with ``init_module``'s rule: they hold ``to_empty``
garbage, unless ``fallback_init`` (the default): then the modules owning them run their own
init code (``reset_parameters`` / transformers ``_init_weights``) as :func:`init_module` does.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional

from ._targets import torch_floating_dtype
from .module_init import _Tracker, _ties, _untouched, init_function, named_tensors, tracing
from .streams import NameKeys, _resolving, storage_key


class _Record:
    __slots__ = ("kind", "name", "target", "view", "args", "kwargs")

    def __init__(self, kind: str, name: str, target: Any, args: tuple, kwargs: dict) -> None:
        self.kind, self.name, self.target = kind, name, target  # target kept alive (meta)
        self.view = (target.storage_offset(), tuple(target.shape), tuple(target.stride()))
        self.args, self.kwargs = args, kwargs


class Recorder:
    """on_call for the meta build: record inits of meta tensors, run every call through.
    A deep copy of a meta tensor is recorded too (kind "copy", args (source,)): modules
    cloned from a template (nn.TransformerEncoder's layers) inherit the template's inits."""

    def __init__(self) -> None:
        self.records: List[_Record] = []

    def __call__(self, kind: str, name: str, target: Any, args: tuple, kwargs: dict,
                 call: Callable[[], Any]) -> Any:
        import torch  # noqa: PLC0415

        if (isinstance(target, torch.Tensor) and target.device.type == "meta"
                and name != "copy_"):  # a copy's source is meta too: not replayable
            self.records.append(_Record(kind, name, target, args, kwargs))
        return call()

    @contextlib.contextmanager
    def copies(self) -> Iterator[None]:
        """Record deep copies of meta tensors and parameters for the block."""
        import torch  # noqa: PLC0415

        wrapped = []
        for cls in (torch.Tensor, torch.nn.Parameter):
            original = vars(cls)["__deepcopy__"]

            def traced(t: Any, memo: dict, _original: Any = original) -> Any:
                out = _original(t, memo)
                if t.device.type == "meta" and isinstance(out, torch.Tensor):
                    self.records.append(_Record("copy", "deepcopy", out, (t,), {}))
                return out

            setattr(cls, "__deepcopy__", traced)
            wrapped.append((cls, original))
        try:
            yield
        finally:
            for cls, original in wrapped:
                setattr(cls, "__deepcopy__", original)

    def by_storage(self) -> Dict[Optional[int], List[_Record]]:
        """Each storage's inits, in order; a deep copy starts with its source's so far."""
        out: Dict[Optional[int], List[_Record]] = {}
        for rec in self.records:
            if rec.kind == "copy":
                out[storage_key(rec.target)] = list(out.get(storage_key(rec.args[0]), []))
            else:
                out.setdefault(storage_key(rec.target), []).append(rec)
        return out


def _real_view(real: Any, rec: _Record, whole_meta: Any) -> Any:
    off, shape, stride = rec.view
    if (off, shape, stride) == (whole_meta.storage_offset(), tuple(whole_meta.shape),
                                tuple(whole_meta.stride())):
        return real
    return real.as_strided(shape, stride, off)


def materialize(build: Callable[[], Any], device: Any = "cpu", dtype: Any = None,
                seed: int = 0, *, warn: bool = True, fallback_init: bool = True,
                return_untouched: bool = False) -> Any:
    """Build ``build()`` on the meta device, allocate it on ``device`` (in ``dtype`` for its
    floating tensors when given) and replay its recorded inits with name-keyed streams.

    Returns the model (and, with ``return_untouched=True``, ``(model, untouched_names)``).
    Equal, bit for bit, to building eagerly and calling ``init_module(model, seed)``, for
    modules whose inits run in ``__init__`` / ``reset_parameters``.
    """
    import torch  # noqa: PLC0415

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
    with torch.device("meta"), patch(), tracing(recorder), recorder.copies():
        model = build()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{fn}: build() must return a torch.nn.Module, got "
                        f"{type(model).__name__}")
    meta_named = named_tensors(model)
    inits = recorder.by_storage()
    plan = []  # (record, parameter name, meta tensor): each tensor's inits in order
    for name, t in meta_named.items():
        plan += [(rec, name, t) for rec in inits.get(storage_key(t), [])]
    recorder.records.clear()

    ties = _ties(model)
    if dtype is not None:  # on meta: costs nothing; Module.to casts floating tensors only
        model = model.to(dtype=dtype)
    model = model.to_empty(device=device)
    _retie(model, ties)
    named = named_tensors(model)
    keys = NameKeys(seed, named)
    tracker = _Tracker(keys, {})
    with patch(), _resolving(keys), torch.no_grad():
        for rec, pname, _ in plan:
            real = _real_view(named[pname], rec, meta_named[pname])
            keys.fallback, keys._tmp = keys.name_of(real), 0
            tracker.touched.add(pname)
            if rec.kind == "init":
                init_function(rec.name)(real, *rec.args, **rec.kwargs)
            else:
                getattr(real, rec.name)(*rec.args, **rec.kwargs)
    untouched = _untouched(named, tracker.touched, False, "materialize")
    if callable(getattr(model, "_init_weights", None)):
        # transformers skips _init_weights on the meta device (it inits at from_pretrained /
        # post_init on real tensors): run it now, for every module, as eager construction did
        hf_left = set(init_module(model, seed, warn=False, _reset=False))
        untouched = [n for n in untouched if n in hf_left]
    if not fallback_init and untouched and warn:
        warnings.warn(f"fastinit.materialize: no init reached {', '.join(untouched[:8])}",
                      stacklevel=2)
    if fallback_init and untouched:
        owners = {n.rpartition(".")[0] for n in untouched}
        still = set(init_module(model, seed, warn=False, only=owners))
        untouched = [n for n in untouched if n in still]
        if untouched and warn:
            warnings.warn(f"fastinit.materialize: no init reached {', '.join(untouched[:8])}",
                          stacklevel=2)
    return (model, untouched) if return_untouched else model


def _retie(model: Any, ties: List[List[str]]) -> None:
    """to_empty() gives each module its own copy of a shared parameter: share it again."""
    for group in ties:
        first = model.get_parameter(group[0])
        for name in group[1:]:
            owner, _, attr = name.rpartition(".")
            setattr(model.get_submodule(owner), attr, first)


__all__ = ["materialize"]

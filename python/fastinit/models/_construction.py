"""The record of a model's construction on the meta device: the one source of truth.

:func:`record` runs ``build()`` under ``torch.device("meta")`` and patch mode while
``Recorder`` (the tracer's callback) records every init call whose target is a meta tensor (the
call, its arguments, and the target as a view: storage offset, shape, strides) and every deep
copy of a meta tensor (a module cloned from a template starts with the template's inits), and
:mod:`fastinit.models._meta_replay` logs the other aten ops into the same list, in program
order. Legacy constructors (``torch.Tensor(n)``, ``torch.FloatTensor(...)``), which ignore the
device context, make meta tensors too. Modules first imported during the build execute outside
all of it (:mod:`fastinit.models._import_guard`), so lazy and eager imports record the same
build. The :class:`Construction` is what ``materialize`` replays on the whole model and the
checkpoint path replays a group of modules at a time.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any, Callable, Dict, Iterator, List, Optional, Set

from ._import_guard import imports_outside
from ._legacy_constructors import LegacyConstructorsOnMeta
from ._init_code import _is_pretrained, named_tensors
from ._init_tracing import suspended as tracing_suspended, tracing
from ._meta_replay import computed, meta_log
from .._engine.streams import storage_key


class _Record:
    __slots__ = ("kind", "name", "target", "view", "args", "kwargs")

    def __init__(self, kind: str, name: str, target: Any, args: tuple, kwargs: dict) -> None:
        # an alias: Module.to / to_empty later swap a parameter's .data; this keeps the
        # meta storage the build wrote (and keeps it alive, so its id stays unique)
        self.kind, self.name, self.target = kind, name, target.detach()
        self.view = (target.storage_offset(), tuple(target.shape), tuple(target.stride()))
        self.args, self.kwargs = args, kwargs


class Recorder:
    """on_call for the meta build: record inits of meta tensors, run every call through.
    A deep copy of a meta tensor is recorded too (kind "copy", args (source,)): modules
    cloned from a template (nn.TransformerEncoder's layers) inherit the template's inits."""

    def __init__(self) -> None:
        self.records: List[Any] = []  # _Record, and the ops of _meta_replay's log, in order
        self._busy = 0  # inside a recorded init or a deep copy: its ops are not logged

    def quiet(self) -> bool:
        return self._busy > 0

    def __call__(self, kind: str, name: str, target: Any, args: tuple, kwargs: dict,
                 call: Callable[[], Any]) -> Any:
        import torch  # noqa: PLC0415

        if (not isinstance(target, torch.Tensor) or target.device.type != "meta"
                or name == "copy_"):  # a copy from a computed tensor: the op log has it
            return call()
        self._busy += 1
        try:
            self.records.append(_Record(kind, name, target, args, kwargs))
            return call()
        finally:
            self._busy -= 1

    @contextlib.contextmanager
    def copies(self) -> Iterator[None]:
        """Record deep copies of meta tensors and parameters for the block."""
        import torch  # noqa: PLC0415

        wrapped = []
        for cls in (torch.Tensor, torch.nn.Parameter):
            original = vars(cls)["__deepcopy__"]

            def traced(t: Any, memo: dict, _original: Any = original) -> Any:
                self._busy += 1  # the copy's own ops (clone) are this record, not the log's
                try:
                    out = _original(t, memo)
                    if t.device.type == "meta" and isinstance(out, torch.Tensor):
                        self.records.append(_Record("copy", "deepcopy", out, (t.detach(),),
                                                    {}))
                    return out
                finally:
                    self._busy -= 1

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
            if not isinstance(rec, _Record):
                continue
            if rec.kind == "copy":
                out[storage_key(rec.target)] = list(out.get(storage_key(rec.args[0]), []))
            else:
                out.setdefault(storage_key(rec.target), []).append(rec)
        return out


class Construction:
    """A model built on the meta device and what its build did.

    ``model``: the meta model. ``meta_named``: each tensor's meta alias by name (a tied one
    once). ``events``: the records and ops, in program order. ``needed``/``computed_keys``:
    the events each final value depends on, and the storages whose history holds an op
    (:func:`fastinit.models._meta_replay.computed`). ``ordinal[i]``: event ``i``'s place among
    the events whose first computed sink is the same tensor (it keys that event's temporaries
    whatever else is replayed with it)."""

    def __init__(self, model: Any, recorder: "Recorder") -> None:
        self.model = model
        # aliases: Module.to / to_empty later swap a parameter's .data, and the log names the
        # storages the build made
        self.meta_named = {n: t.detach() for n, t in named_tensors(model).items()}
        self.names: Dict[Optional[int], str] = {}
        for name, t in self.meta_named.items():
            self.names.setdefault(storage_key(t), name)
        self.events = recorder.records
        self.needed, self.computed_keys = computed(self.events, self.names)
        self.inits = recorder.by_storage()
        self.is_transformers = any(_is_pretrained(m) for m in model.modules())
        self.ordinal: Dict[int, int] = {}
        seen: Dict[str, int] = {}
        for i in sorted(self.needed):
            sinks = self.sinks(i)
            if sinks:
                self.ordinal[i] = seen.get(sinks[0], 0)
                seen[sinks[0]] = self.ordinal[i] + 1

    def sinks(self, i: int, among: Optional[Set[Optional[int]]] = None) -> List[str]:
        """The computed tensors event ``i`` feeds (those in ``among`` when given), by name."""
        keys = self.needed[i] & self.computed_keys
        return sorted(self.names[k] for k in (keys if among is None else keys & among))

    def plain_records(self, name: str) -> List[Any]:
        """The init records of a tensor whose history holds no op ([] for a computed one)."""
        k = storage_key(self.meta_named[name])
        return [] if k in self.computed_keys else self.inits.get(k, [])


def record(build: Callable[[], Any], fn: str) -> Construction:
    """Run ``build()`` on the meta device and record its construction."""
    import torch  # noqa: PLC0415

    from . import patch as patch_mode  # noqa: PLC0415

    recorder = Recorder()
    with torch.device("meta"), patch_mode.patch(), tracing(recorder), recorder.copies(), \
            meta_log(recorder.records, recorder.quiet), LegacyConstructorsOnMeta() as legacy:

        @contextlib.contextmanager
        def eager_import() -> Iterator[None]:  # what a module imported before the build sees
            with legacy.suspended(), tracing_suspended(), patch_mode.suspended():
                yield

        with imports_outside(eager_import):
            model = build()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{fn}: build() must return a torch.nn.Module, got "
                        f"{type(model).__name__}")
    return Construction(model, recorder)


def construction_of(model: Any, fn: str) -> Optional[Construction]:
    """What a checkpoint of ``model`` replays. A build function (``lambda: MyModel(cfg)``): its
    recorded construction. A model built on meta: a transformers model's class rebuilt from its
    config (it must give the same tensors); None for a model made of torch.nn modules only,
    whose init code is its construction; anything else is a ValueError, since its ``__init__``
    may set values no code a built model holds can give again."""
    import torch  # noqa: PLC0415

    if callable(model) and not isinstance(model, torch.nn.Module):
        return record(model, fn)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{fn}: expected a torch.nn.Module or a function that builds one, got "
                        f"{type(model).__name__}")
    if _is_pretrained(model) and getattr(model, "config", None) is not None:
        config = copy.deepcopy(model.config)
        con = record(lambda: type(model)(config), fn)
        _same_tensors(model, con.model, fn)
        return con
    foreign = sorted({type(m).__qualname__ for m in model.modules()
                      if not type(m).__module__.startswith("torch.nn.")})
    if foreign:
        raise ValueError(
            f"{fn}: the model was built on meta without a record of its construction, and "
            f"{', '.join(foreign[:4])}{' ...' if len(foreign) > 4 else ''} (not torch.nn's) may "
            f"set values in __init__ that no init code can give again; pass the function that "
            f"builds it instead (fastinit.checkpoint_module(lambda: {foreign[0]}(...), out_dir)),"
            f" whose construction is recorded and replayed")
    return None


def _same_tensors(given: Any, rebuilt: Any, fn: str) -> None:
    """The rebuilt model holds the given one's tensors (names, shapes) and takes its dtypes."""
    want = {n: t for n, t in named_tensors(given).items()}
    got = named_tensors(rebuilt)
    if list(want) != list(got) or any(tuple(want[n].shape) != tuple(got[n].shape) for n in want):
        diff = sorted(set(want) ^ set(got)) or [n for n in want if n in got and
                                               tuple(want[n].shape) != tuple(got[n].shape)]
        raise ValueError(f"{fn}: {type(given).__name__} rebuilt from its config does not hold "
                         f"the model's tensors ({', '.join(diff[:4])}): the model was changed "
                         f"after construction; pass the function that builds it instead")
    take_dtypes(rebuilt, {n: t.dtype for n, t in want.items()})


def take_dtypes(rebuilt: Any, want: Dict[str, Any]) -> None:
    """Each tensor of the meta model ``rebuilt`` named in ``want`` cast to that dtype."""
    for module_name, module in rebuilt.named_modules():
        for store in (module._parameters, module._buffers):
            for attr, t in store.items():
                name = f"{module_name}.{attr}" if module_name else attr
                if t is not None and name in want and t.dtype != want[name]:
                    t.data = t.data.to(want[name])

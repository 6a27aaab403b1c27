"""The record of a model's construction on the meta device.

``Recorder`` is the tracer's callback during a meta build: it records every init call whose
target is a meta tensor (the call, its arguments, and the target as a view: storage offset,
shape, strides) and every deep copy of a meta tensor (a module cloned from a template starts
with the template's inits); :mod:`fastinit.models._meta_replay` logs the other aten ops into
the same list, in program order.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Dict, Iterator, List, Optional

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

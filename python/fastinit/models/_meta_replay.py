"""What ``materialize`` replays beyond init calls: values computed while the model is built.

During the meta build a TorchDispatchMode logs every aten op that touches a meta tensor and
runs outside a recorded init call (those are replayed whole, by name). The log, the init
records and the deep copies form one event list, in program order. A backward pass over it
finds, for each parameter and buffer, the events its final value depends on; a tensor whose
events include an op (``1e-6 * torch.ones(dim)``, ``arange(...) * 2``, a RoPE ``inv_freq``,
``uniform_`` followed by ``erfinv_``, ``mul_``, ``clamp_``) is *computed*, and
:func:`replay_computed` runs those events again on the real tensors: ops as the same aten
calls on the target device, init calls through patch mode, random factory ops
(``randn``/``rand``/``normal``) as fastinit fills keyed by the tensor they flow into.

Data made into a tensor on the meta device (``nn.Parameter(torch.tensor(2.6592))``, CLIP's
``logit_scale``) passes through no op; a TorchFunctionMode sees the call and keeps the data.
What cannot be replayed is reported, never guessed: a random op fastinit has no keyed version
of (``bernoulli``, ``randint``, ``randperm``, ...), a tensor whose values came from nothing
fastinit saw, an op that fails on real data.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

from .._engine.streams import storage_key

# in-place ops whose result does not depend on the target's old values
_OVERWRITES = {"fill_", "zero_", "copy_"}
_ALLOC = {"empty", "empty_strided", "empty_like", "new_empty", "new_empty_strided"}
# random factory ops that have a keyed fastinit equivalent: (fastinit fill, its parameters)
_RANDOM_FRESH = {"randn": ("normal_", (0.0, 1.0)), "randn_like": ("normal_", (0.0, 1.0)),
                 "rand": ("uniform_", (0.0, 1.0)), "rand_like": ("uniform_", (0.0, 1.0))}


class OpEvent:
    """An aten op of the meta build: its call, the storages it writes (fully or in part) and
    the storages it reads."""

    __slots__ = ("func", "args", "kwargs", "out_tree", "outs", "writes", "reads", "op")

    def __init__(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        import torch  # noqa: PLC0415
        from torch.utils._pytree import tree_leaves, tree_map  # noqa: PLC0415

        def alias(t: Any) -> Any:  # Module.to / to_empty later swap a parameter's .data
            return t.detach() if isinstance(t, torch.Tensor) and t.device.type == "meta" else t

        args, kwargs, out = tree_map(alias, (args, kwargs, out))
        self.func, self.args, self.kwargs, self.out_tree = func, args, kwargs, out
        self.op = func._schema.name.split("::")[-1]
        inputs = [a for a in tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        in_keys = {storage_key(a) for a in inputs}
        self.reads = [storage_key(a) for a in inputs if a.device.type == "meta"]
        self.outs = [o for o in tree_leaves(out) if isinstance(o, torch.Tensor)
                     and o.device.type == "meta" and storage_key(o) not in in_keys]
        self.writes: List[Tuple[Optional[int], bool]] = [(storage_key(o), True)
                                                         for o in self.outs]
        for i, arg in enumerate(func._schema.arguments):
            a = args[i] if i < len(args) else kwargs.get(arg.name)
            if arg.alias_info is not None and arg.alias_info.is_write and \
                    isinstance(a, torch.Tensor) and a.device.type == "meta":
                full = (self.op in _OVERWRITES and _whole(a)
                        and self.reads.count(storage_key(a)) == 1)  # not also a source
                self.writes.append((storage_key(a), full))
                if full:  # its old values are not read
                    self.reads = [k for k in self.reads if k != storage_key(a)]

    @property
    def allocates(self) -> bool:
        return self.op in _ALLOC


def _whole(t: Any) -> bool:
    """True when ``t`` covers its whole storage."""
    return (t.storage_offset() == 0 and t.is_contiguous()
            and t.numel() * t.element_size() == t.untyped_storage().nbytes())


class LiteralEvent(OpEvent):
    """``torch.tensor(data)`` (or ``as_tensor``, ``asarray``, ``Tensor.new_tensor``) made on
    the meta device: no op carries its data, so the call is run again on the CPU to keep it."""

    def __init__(self, out: Any, data: Any) -> None:  # noqa: super().__init__ parses a schema
        self.func, self.args, self.kwargs, self.op = None, (), {}, "literal"
        self.out_tree = out.detach()
        self.outs = [self.out_tree]
        self.writes = [(storage_key(self.out_tree), True)]
        self.reads: List[Optional[int]] = []
        self.data = data


@contextlib.contextmanager
def meta_log(events: List[Any], quiet: Callable[[], bool]) -> Iterator[None]:
    """For the block: an :class:`OpEvent` in ``events`` for each aten op that touches a meta
    tensor, and a :class:`LiteralEvent` for each tensor made from data on meta, while
    ``quiet()`` is False. Enter it inside ``torch.device("meta")``."""
    import torch  # noqa: PLC0415
    from torch.overrides import TorchFunctionMode  # noqa: PLC0415

    literal_funcs = {torch.tensor, torch.as_tensor, torch.asarray, torch.Tensor.new_tensor}

    class _Literals(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: tuple = (),
                               kwargs: Optional[dict] = None) -> Any:
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if (func in literal_funcs and isinstance(out, torch.Tensor)
                    and out.device.type == "meta" and not quiet()):
                events.append(LiteralEvent(out, func(*args, **{**kwargs, "device": "cpu"})))
            return out

    with _Literals(), dispatch_logger(events, quiet):
        yield


def dispatch_logger(events: List[Any], quiet: Callable[[], bool]) -> Any:
    """A TorchDispatchMode appending an :class:`OpEvent` to ``events`` for each op that
    touches a meta tensor while ``quiet()`` is False."""
    import torch  # noqa: PLC0415
    from torch.utils._python_dispatch import TorchDispatchMode  # noqa: PLC0415
    from torch.utils._pytree import tree_leaves  # noqa: PLC0415

    class _Log(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (),
                               kwargs: Optional[dict] = None) -> Any:
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if not quiet() and any(isinstance(t, torch.Tensor) and t.device.type == "meta"
                                   for t in tree_leaves((args, kwargs, out))):
                events.append(OpEvent(func, args, kwargs, out))
            return out

    return _Log()


def _event_io(e: Any) -> Tuple[List[Tuple[Optional[int], bool]], List[Optional[int]]]:
    """(writes, reads) of an init record, a deep copy or an op."""
    if isinstance(e, OpEvent):
        return e.writes, e.reads
    if e.kind == "copy":
        return [(storage_key(e.target), True)], [storage_key(e.args[0])]
    full = e.name.rpartition(":")[2] in _FULL_INITS and _whole(e.target)
    return [(storage_key(e.target), full)], []


# inits whose result does not depend on the target's old values, when they cover the whole
# storage (sparse_ is left out, conservatively: its earlier history is then kept)
_FULL_INITS = {"uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
               "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
               "kaiming_normal_", "orthogonal_", "fill_", "zero_", "_no_grad_uniform_",
               "_no_grad_normal_", "_no_grad_trunc_normal_", "_no_grad_fill_",
               "_no_grad_zero_", "variance_scaling_", "lecun_normal_", "trunc_normal_tf_"}


def computed(events: List[Any], model_keys: Dict[int, str]) -> Tuple[Dict[int, Set[int]],
                                                                     Set[int]]:
    """Backward pass. Returns ({event index: the model storages it feeds} for every event a
    final value depends on, the model storages whose events include an op that is neither an
    allocation nor an init: the computed ones)."""
    live: Dict[int, Set[int]] = {k: {k} for k in model_keys}
    needed: Dict[int, Set[int]] = {}
    out: Set[int] = set()
    for i in range(len(events) - 1, -1, -1):
        writes, reads = _event_io(events[i])
        sinks: Set[int] = set()
        for k, _ in writes:
            sinks |= live.get(k, set())
        if not sinks:
            continue
        needed[i] = sinks
        e = events[i]
        if isinstance(e, OpEvent) and not e.allocates:
            out |= sinks
        for k, full in writes:
            if full and k in live:
                del live[k]
        for k in reads:
            live.setdefault(k, set()).update(sinks)
    return needed, out


def real_view(meta_ref: Any, real_ref: Any, offset: int, shape: Tuple[int, ...],
              stride: Tuple[int, ...]) -> Any:
    """The view of ``real_ref`` that the meta view (offset, shape, stride) is of ``meta_ref``:
    ``real_ref`` itself when it is the whole of it, else the same geometry at the same
    distance from the reference's own offset."""
    if (offset, shape, stride) == (meta_ref.storage_offset(), tuple(meta_ref.shape),
                                   tuple(meta_ref.stride())):
        return real_ref
    return real_ref.as_strided(shape, stride,
                               offset - meta_ref.storage_offset() + real_ref.storage_offset())


class Unreplayable(Exception):
    """An event of a computed tensor's history that cannot be run again exactly."""


class _Interpreter:
    """Runs events again on real tensors; meta storages map to real ones (the model's own,
    bound before the replay, or temporaries made by replayed ops)."""

    def __init__(self, bound: Dict[int, Tuple[Any, Any]], device: Any, keys: Any) -> None:
        self.bound = bound  # model storages: meta key -> (meta tensor, real tensor)
        self.temps: Dict[int, Tuple[Any, Any]] = {}
        self.device, self.keys = device, keys

    def view(self, meta: Any) -> Any:
        k = storage_key(meta)
        ref = self.bound.get(k) or self.temps.get(k)
        if ref is None:
            raise Unreplayable("its values came from no op fastinit could see (a torch.tensor"
                               "(...) made on the meta device keeps no data)")
        m, r = ref
        if tuple(r.stride()) != tuple(m.stride()):
            raise Unreplayable("a view of a tensor whose real strides differ from its meta "
                               "ones")
        return real_view(m, r, meta.storage_offset(), tuple(meta.shape), tuple(meta.stride()))

    def real(self, x: Any) -> Any:
        import torch  # noqa: PLC0415
        from torch.utils._pytree import tree_map  # noqa: PLC0415

        def one(a: Any) -> Any:
            if isinstance(a, torch.Tensor) and a.device.type == "meta":
                return self.view(a)
            if isinstance(a, torch.device) and a.type == "meta":
                return self.device
            return a

        return tree_map(one, x)

    def _result(self, meta: Any, real: Any) -> None:
        """A fresh meta output and its real value: the model's tensor takes the value."""
        k = storage_key(meta)
        if k in self.bound:
            self.view(meta).copy_(real)
        else:
            self.temps[k] = (meta, real)

    def run(self, e: Any) -> None:
        import torch  # noqa: PLC0415
        from torch.utils._pytree import tree_leaves  # noqa: PLC0415

        from ..init import nn_init  # noqa: PLC0415
        from ._init_tracing import init_function  # noqa: PLC0415

        if not isinstance(e, OpEvent):
            if e.kind == "copy":
                self._result(e.target, self.view(e.args[0]).clone())
            elif e.kind == "init":
                init_function(e.name)(self.view(e.target), *self.real(e.args),
                                      **self.real(e.kwargs))
            else:
                getattr(self.view(e.target), e.name)(*self.real(e.args), **self.real(e.kwargs))
            return
        if isinstance(e, LiteralEvent):
            self._result(e.outs[0], e.data.to(self.device))
            return
        if e.allocates:
            for o in e.outs:
                if storage_key(o) not in self.bound:
                    self.temps[storage_key(o)] = (o, torch.empty_strided(
                        tuple(o.shape), tuple(o.stride()), dtype=o.dtype, device=self.device))
            return
        if torch.Tag.nondeterministic_seeded in e.func.tags:
            self._random(e, nn_init)
            return
        try:
            out = e.func(*self.real(e.args), **self.real(e.kwargs))
        except Unreplayable:
            raise
        except Exception as err:  # noqa: BLE001 - any failure of the op on real data
            raise Unreplayable(f"aten.{e.op} failed on real data ({err})") from None
        fresh = {id(o) for o in e.outs}
        for m, r in zip(tree_leaves(e.out_tree), tree_leaves(out)):
            if id(m) in fresh:
                self._result(m, r)

    def _random(self, e: OpEvent, nn_init: Any) -> None:
        import torch  # noqa: PLC0415

        if e.op in _RANDOM_FRESH and len(e.outs) == 1 and e.outs[0].is_floating_point():
            fill, params = _RANDOM_FRESH[e.op]
            o = e.outs[0]
            t = torch.empty(tuple(o.shape), dtype=o.dtype, device=self.device)
            getattr(nn_init, fill)(t, *params)
            self._result(o, t)
        elif e.op in ("uniform_", "normal_") and not any(e.kwargs.values()):
            target = self.view(e.args[0])
            defaults = (0.0, 1.0)
            params = [float(a) for a in e.args[1:3]] + list(defaults[len(e.args) - 1:])
            getattr(nn_init, e.op)(target, *params)
        else:
            raise Unreplayable(f"aten.{e.op} draws random numbers fastinit has no keyed "
                               f"version of")


def replay_computed(events: List[Any], needed: Dict[int, Set[int]], targets: Set[int],
                    bound: Dict[int, Tuple[Any, Any]], names: Dict[int, str], device: Any,
                    keys: Any) -> Dict[str, str]:
    """Run again, in order, the events the ``targets`` (computed model storages) depend on.
    Temporary fills are keyed by the first target they flow into. Returns {name: why} for the
    targets that could not be replayed (their other events are skipped)."""
    run = _Interpreter(bound, device, keys)
    failed: Dict[str, str] = {}
    counters: Dict[str, int] = {}
    for i in sorted(needed):
        sinks = sorted(names[k] for k in needed[i] & targets)
        if not sinks or all(s in failed for s in sinks):
            continue
        keys.fallback, keys._tmp = sinks[0], counters.get(sinks[0], 0)
        try:
            run.run(events[i])
        except Unreplayable as why:
            for s in sinks:
                failed.setdefault(s, str(why))
        counters[sinks[0]] = keys._tmp
    return failed

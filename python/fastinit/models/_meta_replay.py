"""What ``materialize`` replays beyond init calls: values computed while the model is built.

During the meta build a TorchDispatchMode logs every aten op that touches a meta tensor and
runs outside a recorded init call (those are replayed whole, by name). The log, the init
records and the deep copies form one event list, in program order. A backward pass over it
finds, for each parameter and buffer, the events its final value depends on; a tensor whose
events include an op (``1e-6 * torch.ones(dim)``, ``arange(...) * 2``, a RoPE ``inv_freq``,
``uniform_`` followed by ``erfinv_``, ``mul_``, ``clamp_``) is *computed*, and
:func:`replay_computed` runs those events again on the real tensors: ops as the same aten
calls on the target device, init calls through patch mode, random ops (``randn``, ``rand``,
``normal``, ``randint``, ``bernoulli``, ``exponential_``, ...) keyed as
:mod:`fastinit.models._keyed_random` keys them, by the tensor they flow into.

Data made into a tensor on the meta device (``nn.Parameter(torch.tensor(2.6592))``, CLIP's
``logit_scale``) passes through no op; a TorchFunctionMode sees the call and keeps the data.
What cannot be replayed is reported, never guessed: a random op fastinit has no keyed version
of (``multinomial``, ``poisson``, dropout, ...), a tensor whose values came from nothing
fastinit saw, an op that fails on real data.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

from ._keyed_random import UnkeyedRandomOp, is_keyed, keyed_call
from .._engine.streams import storage_key

# random ops the tag does not mark (torch leaves random_ untagged)
RANDOM_OPS = {"random_"}

# in-place ops whose result does not depend on the target's old values
_OVERWRITES = {"fill_", "zero_", "copy_"}
_ALLOC = {"empty", "empty_strided", "empty_like", "new_empty", "new_empty_strided"}

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
            if func is torch.normal and kwargs.get("device") is None and not any(
                    isinstance(a, torch.Tensor) for a in (*args, *kwargs.values())):
                # normal(mean, std, size) is a factory torch.device() does not reach: its
                # values would come from torch's generator, on the CPU
                kwargs = {**kwargs, "device": "meta"}
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
    bound before the replay, or temporaries made by replayed ops). A model storage that is not
    bound (another group's tensor that this group's values read) gets a temporary of its own on
    first use, keyed by its name, so its replayed history gives it the values it has."""

    def __init__(self, bound: Dict[int, Tuple[Any, Any]], device: Any, keys: Any,
                 unbound: Dict[int, Tuple[str, Any, Any]]) -> None:
        self.bound = bound  # model storages: meta key -> (meta tensor, real tensor)
        self.unbound = unbound  # meta key -> (name, meta tensor, dtype) of other model storages
        self.temps: Dict[int, Tuple[Any, Any]] = {}
        self.device, self.keys = device, keys

    def view(self, meta: Any) -> Any:
        import torch  # noqa: PLC0415

        k = storage_key(meta)
        ref = self.bound.get(k) or self.temps.get(k)
        if ref is None and k in self.unbound:
            name, m, dtype = self.unbound[k]
            real = torch.empty_strided(tuple(m.shape), tuple(m.stride()), dtype=dtype,
                                       device=self.device)
            self.keys.by_storage[storage_key(real)] = (name, real)
            ref = self.temps[k] = (m, real)
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
        if k in self.bound or k in self.unbound:
            self.view(meta).copy_(real)
        else:
            self.temps[k] = (meta, real)

    def run(self, e: Any) -> None:
        import torch  # noqa: PLC0415
        from torch.utils._pytree import tree_leaves  # noqa: PLC0415

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
        random = e.op in RANDOM_OPS or torch.Tag.nondeterministic_seeded in e.func.tags
        try:
            if random:
                out = keyed_call(e.func, self.real(e.args), self.real(e.kwargs), self.keys)
                if out is None:
                    raise Unreplayable(
                        f"aten.{e.op} draws from a generator the build passed explicitly, "
                        f"whose state at that point is gone" if is_keyed(e.op) else
                        f"aten.{e.op} draws random numbers fastinit has no keyed version of")
            else:
                out = e.func(*self.real(e.args), **self.real(e.kwargs))
        except Unreplayable:
            raise
        except UnkeyedRandomOp as err:
            raise Unreplayable(str(err).replace("fastinit: ", "")) from None
        except Exception as err:  # noqa: BLE001 - any failure of the op on real data
            raise Unreplayable(f"aten.{e.op} failed on real data ({err})") from None
        fresh = {id(o) for o in e.outs}
        for m, r in zip(tree_leaves(e.out_tree), tree_leaves(out)):
            if id(m) in fresh:
                self._result(m, r)

    def release(self) -> None:
        """Forget the temporaries (and their keys) once the replay is done."""
        for k, (_, real) in self.temps.items():
            if k in self.unbound:
                self.keys.by_storage.pop(storage_key(real), None)
        self.temps.clear()


def replay_computed(con: Any, targets: Set[Optional[int]], bound: Dict[int, Tuple[Any, Any]],
                    unbound: Dict[int, Tuple[str, Any, Any]], device: Any,
                    keys: Any) -> Dict[str, str]:
    """Run again, in order, the events of ``con`` (a Construction) that the ``targets``
    (computed model storages, bound to real tensors) depend on. The temporaries of an event are
    keyed ``f"{name}@{n}#tmp{k}"``: ``name`` the first computed tensor the event feeds, ``n``
    its place among that tensor's events, ``k`` counting within the event. Returns {name: why}
    for the targets that could not be replayed (their other events are skipped)."""
    run = _Interpreter(bound, device, keys, unbound)
    failed: Dict[str, str] = {}
    try:
        for i in sorted(con.needed):
            mine = con.sinks(i, targets)
            if not mine or all(s in failed for s in mine):
                continue
            keys.fallback, keys._tmp = f"{con.sinks(i)[0]}@{con.ordinal[i]}", 0
            try:
                run.run(con.events[i])
            except Unreplayable as why:
                for s in mine:
                    failed.setdefault(s, str(why))
    finally:
        run.release()
    return failed

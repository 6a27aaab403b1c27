"""The init tracer: every initializer call and Tensor init method, seen on its way through.

:func:`tracing` routes ``torch.nn.init``'s in-place functions (and their module-level copies,
``from torch.nn.init import ...``), timm's own initializers when timm is imported, and
``Tensor.uniform_ / normal_ / fill_ / zero_ / copy_`` through a callback for the duration of a
block. ``init_module`` uses it to key fills by name and to see what an init reached;
``materialize`` to record the inits of a meta build. An init called inside another init is not
traced again (it is the outer call's business).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Any, Callable, Iterator, List, Tuple

from ._bindings import SITES

#: torch.nn.init functions the tracer wraps (the public in-place ones).
INIT_NAMES: Tuple[str, ...] = (
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
    "orthogonal_", "sparse_",
    # the helpers torch's own inits call by global name (patch mode routes them to fastinit)
    "_no_grad_uniform_", "_no_grad_normal_", "_no_grad_trunc_normal_", "_no_grad_fill_",
    "_no_grad_zero_",
)
#: Tensor methods the tracer wraps (copy_ only marks its target as initialized).
METHOD_NAMES: Tuple[str, ...] = ("uniform_", "normal_", "fill_", "zero_", "copy_")
# on_call(kind, name, target, args, kwargs, call) -> result; kind is "init" or "method"
OnCall = Callable[[str, str, Any, tuple, dict, Callable[[], Any]], Any]
_state = threading.local()


def _target(args: tuple, kwargs: dict) -> Any:
    return args[0] if args else kwargs.get("tensor", kwargs.get("self"))


# the callbacks of the tracing blocks now open, innermost last; a traced function reached
# through a reference taken during an earlier block (a module imported then keeps its copy)
# reports to the current one, or to none
_active: List[OnCall] = []


def _wrap(kind: str, name: str, original: Callable[..., Any]) -> Any:
    def traced(*args: Any, **kwargs: Any) -> Any:
        if getattr(_state, "depth", 0) > 0 or not _active:  # an init inside an init
            return original(*args, **kwargs)
        _state.depth = 1
        try:
            call = lambda: original(*args, **kwargs)  # noqa: E731
            return _active[-1](kind, name, _target(args, kwargs), args[1:], kwargs, call)
        finally:
            _state.depth = 0

    traced.__wrapped__ = original  # type: ignore[attr-defined]
    traced.__doc__ = getattr(original, "__doc__", None)
    return traced


def init_sources() -> List[Tuple[Any, str, str]]:
    """(module, function name, traced name) of every initializer the tracer wraps:
    torch.nn.init's, and timm's own (``timm.layers.weight_init``) when timm is imported,
    traced as ``"timm.layers.weight_init:trunc_normal_"``."""
    import torch.nn.init  # noqa: PLC0415

    from ._timm_compat import MODULE, NAMES  # noqa: PLC0415

    out = [(torch.nn.init, n, n) for n in INIT_NAMES]
    timm_init = sys.modules.get(MODULE)
    if timm_init is not None:
        out += [(timm_init, n, f"{MODULE}:{n}") for n in NAMES if hasattr(timm_init, n)]
    return out


def init_function(traced_name: str) -> Callable[..., Any]:
    """The function a traced init name stands for now (patch mode's version while patched)."""
    import torch.nn.init  # noqa: PLC0415

    module, _, name = traced_name.rpartition(":")
    return getattr(sys.modules[module] if module else torch.nn.init, name)


class _Installed:
    """One tracing block's replacements: Tensor methods and module-global bindings."""

    def __init__(self) -> None:
        self.methods: List[Tuple[Any, str, Any, Any, bool]] = []  # (owner, name, old, new, had)
        self.dicts: List[Tuple[dict, str, Any, Any]] = []

    def install(self) -> None:
        import torch  # noqa: PLC0415

        for owner, name, traced_name in init_sources():
            old = getattr(owner, name)
            new = _wrap("init", traced_name, old)
            SITES.watch([(name, old)])
            for d, bound_name in SITES.bound(old):
                d[bound_name] = new
                self.dicts.append((d, bound_name, old, new))
        for name in METHOD_NAMES:
            had = name in vars(torch.Tensor)
            old = getattr(torch.Tensor, name)
            new = _wrap("method", name, old)
            setattr(torch.Tensor, name, new)
            self.methods.append((torch.Tensor, name, old, new, had))

    def uninstall(self) -> None:
        for owner, name, old, new, had in reversed(self.methods):
            if vars(owner).get(name) is new:
                if had:
                    setattr(owner, name, old)
                else:
                    delattr(owner, name)
        for d, name, old, new in self.dicts:
            if d.get(name) is new:
                d[name] = old
        self.methods, self.dicts = [], []


_installed: List[_Installed] = []  # the open blocks' replacements, outermost first


@contextlib.contextmanager
def tracing(on_call: OnCall) -> Iterator[None]:
    """Route the initializers of :func:`init_sources` (and their module-level copies, such as
    ``from torch.nn.init import ...``) and the Tensor init methods through ``on_call`` for the
    duration of the block; restores them after."""
    mine = _Installed()
    try:
        mine.install()
        _installed.append(mine)
        _active.append(on_call)
        yield
    finally:
        if on_call in _active:
            _active.remove(on_call)
        if mine in _installed:
            _installed.remove(mine)
        mine.uninstall()


@contextlib.contextmanager
def suspended() -> Iterator[None]:
    """torch's functions as they were before the open tracing blocks, for a while (a module
    imported meanwhile binds those); then the blocks install again, seeing its bindings."""
    for block in reversed(_installed):
        block.uninstall()
    try:
        yield
    finally:
        for block in _installed:
            block.install()

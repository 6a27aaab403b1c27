"""Patch mode: run unmodified torch code (``nn.Linear(...)``, whole models) on fastinit.

``with fastinit.patch():`` (also a decorator) routes

* ``torch.nn.init``'s public functions, the private helpers other libraries import
  (``_no_grad_*``, ``_calculate_fan_in_and_fan_out``, ``_calculate_correct_fan``) and the
  deprecated aliases to their :mod:`fastinit.nn_init` equivalents, including the copies
  modules bound with ``from torch.nn.init import xavier_uniform_`` (MultiheadAttention does);
* timm's own initializers (``trunc_normal_``, ``trunc_normal_tf_``, ``variance_scaling_``,
  ``lecun_normal_`` of ``timm.layers.weight_init``, and their copies), whole, to exact fastinit
  fills of the same distributions (:mod:`fastinit.models._timm_compat`), also when timm is first
  imported inside the block;
* ``torch.Tensor.uniform_(from=0, to=1, *, generator=None)`` and
  ``torch.Tensor.normal_(mean=0, std=1, *, generator=None)`` to fastinit's fills;
* and, for DTensor parameters (FSDP2, tensor parallel), each of these inits to the rank's local
  shard at its global coordinates (:mod:`fastinit.models._dtensor`), so the gathered values do not
  depend on the mesh.

fastinit handles a call when the tensor is a plain ``torch.Tensor`` / ``nn.Parameter`` of a
float dtype the engine fills (float32/64, float16, bfloat16, float8), on the CPU, on CUDA when
:func:`fastinit.cuda_available`, or on the meta device (a no-op, as torch); and no torch
dispatch mode, non-device torch-function mode, functorch transform or ``torch.compile`` trace
is active. Anything else (int or complex dtypes, other devices, tensor subclasses, arguments
torch would reject, a leaf that requires grad outside ``no_grad`` for the Tensor methods)
goes to the original torch function, so torch's behaviour and error messages are kept.

Seeds: with no ``generator=``, a fill draws its 64-bit key from torch's default CPU generator
(one draw per call, for CUDA tensors too), so ``torch.manual_seed(n)`` makes model
construction under patch reproducible; ``generator=g`` draws from ``g``. The values differ
from torch's own (another engine), not their distribution.

Exit restores every patched name to the identical original object, also when an exception
escapes; a routed function reached after exit through a reference taken while patched (e.g.
transformers' ``TORCH_INIT_FUNCTIONS``, built at its import) checks at call time and runs
torch's own. Entering and leaving cost well under a millisecond: the module-level copies are
found once (:mod:`fastinit.models._bindings`) and only modules imported since are scanned; nesting, re-entry and threads share one reference count. ``patch_enable()`` /
``patch_disable()`` hold one reference for a whole program; ``FASTINIT_PATCH=1`` in the
environment calls ``patch_enable()`` at ``import fastinit``. Patching is process-wide: other
threads see it while it is on.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.abc
import importlib.machinery
import math
import os
import sys
import threading
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from .. import _core
from ._bindings import SITES
from ._dtensor import _dtensor_call, _is_dtensor
from ._init_tracing import INIT_NAMES
from ._keyed_random import transparent
from .._engine._fills import _fill
from .._engine._targets import _FLOAT_NAMES, dtype_name
from .._engine._torch_required import TorchNotInstalledError, require_torch, torch_missing_message

#: torch.nn.init names routed to fastinit.nn_init (those both modules define).
NN_INIT_NAMES: Tuple[str, ...] = (
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
    "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
    "kaiming_normal_", "orthogonal_", "sparse_",
    "_no_grad_uniform_", "_no_grad_normal_", "_no_grad_trunc_normal_", "_no_grad_fill_",
    "_no_grad_zero_", "_calculate_fan_in_and_fan_out", "_calculate_correct_fan",
    "uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "xavier_normal",
    "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse",
)
_METHODS = ("uniform_", "normal_")
_MISSING = object()

_lock = threading.RLock()
_holders = 0  # live patch() contexts + 1 while patch_enable() is on
_enabled = False


# --- which calls fastinit takes -------------------------------------------------------------

def _handles(t: Any) -> bool:
    """True when fastinit can fill ``t`` exactly as torch would, only faster."""
    torch = sys.modules["torch"]
    if type(t) is not torch.Tensor and type(t) is not torch.nn.Parameter:
        return False
    device = t.device.type
    if device == "cuda":
        if not _core.cuda_available():
            return False
    elif device not in ("cpu", "meta"):
        return False
    if dtype_name(t) not in _FLOAT_NAMES or t.layout != torch.strided or t.is_neg():
        return False
    if t.is_inference() and not torch.is_inference_mode_enabled():
        return False
    return not (_modes_active(torch) or torch._C._functorch.is_functorch_wrapped_tensor(t)
                or torch._is_functional_tensor(t))


def _modes_active(torch: Any) -> bool:
    compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None)
    if compiling is not None and compiling():
        return True
    if torch._C._len_torch_dispatch_stack() > 0:
        from torch.utils._python_dispatch import _get_current_dispatch_mode_stack  # noqa: PLC0415

        # fastinit's own modes (keyed random ops in whole-model init) leave the fills to us
        if not all(transparent(m) for m in _get_current_dispatch_mode_stack()):
            return True
    if not torch._C._is_torch_function_mode_enabled():
        return False
    from torch.overrides import _get_current_function_mode_stack  # noqa: PLC0415
    from torch.utils._device import DeviceContext  # noqa: PLC0415

    # `with torch.device(...)` is a mode that only sets factory devices: harmless here
    return any(not isinstance(m, DeviceContext) for m in _get_current_function_mode_stack())


def _route(name: str, fast: Callable[..., Any],
           original: Callable[..., Any]) -> Callable[..., Any]:
    """torch.nn.init.<name> (or timm's, ``name`` then "module:function") under patch: fastinit's
    version when patch mode is on and fastinit handles the tensor, a DTensor's shards included.
    The check runs at call time, so a reference captured while patched (transformers'
    TORCH_INIT_FUNCTIONS) is torch's own function again after exit."""

    fills = name in INIT_NAMES or ":" in name  # not calculate_gain or the fan helpers

    @functools.wraps(fast)
    def routed(*args: Any, **kwargs: Any) -> Any:
        t = args[0] if args else kwargs.get("tensor")
        if _holders == 0:
            return original(*args, **kwargs)
        if fills and _is_dtensor(t):
            rest = {k: v for k, v in kwargs.items() if k != "tensor"}
            return _dtensor_init("init", name, t, args[1:], rest,
                                 lambda: original(*args, **kwargs))
        torch = sys.modules["torch"]
        if isinstance(t, torch.Tensor) and not _handles(t):
            return original(*args, **kwargs)
        return fast(*args, **kwargs)

    routed.__fastinit_original__ = original  # type: ignore[attr-defined]
    return routed


def _dtensor_init(kind: str, name: str, dt: Any, args: tuple, kwargs: dict,
                  original: Callable[[], Any]) -> Any:
    """An init of a DTensor under patch mode: each rank fills its local shard at its global
    coordinates (fans from the global shape), the key drawn from torch's default generator,
    once per call and so the same on every rank of SPMD code. Placements other than Shard,
    Replicate and FSDP2's _StridedShard: torch's own path (a warning says which)."""
    try:
        return _dtensor_call(kind, name, dt, args, kwargs, original, None)
    except NotImplementedError as e:  # raised before anything is written
        warnings.warn(f"fastinit.patch: {e}; {name} runs torch's own DTensor init",
                      stacklevel=3)
        return original()


# --- the Tensor methods ---------------------------------------------------------------------

_NUMBER_TYPES: Tuple[type, ...] = (int, float)


def _parse(args: Tuple[Any, ...], kwargs: Dict[str, Any], names: Tuple[str, str],
           defaults: Tuple[float, float]) -> Optional[Tuple[float, float, Any]]:
    """(p0, p1, generator) of a call ``t.method(p0, p1, *, generator)``; None: let torch do it."""
    if len(args) > 2 or not set(kwargs) <= {*names, "generator"}:
        return None
    values = list(args) + [_MISSING] * (2 - len(args))
    for i, name in enumerate(names):
        if name in kwargs:
            if values[i] is not _MISSING:
                return None
            values[i] = kwargs[name]
        if values[i] is _MISSING:
            values[i] = defaults[i]
        if not isinstance(values[i], _NUMBER_TYPES) and type(values[i]).__module__ != "numpy":
            return None
        try:
            values[i] = float(values[i])
        except (TypeError, ValueError):
            return None
        if not math.isfinite(values[i]):
            return None
    return values[0], values[1], kwargs.get("generator")


def _method_ok(t: Any, generator: Any) -> bool:
    torch = sys.modules["torch"]
    if not _handles(t) or (t.requires_grad and torch.is_grad_enabled()):
        return False
    if generator is None or t.device.type == "meta":
        return True
    return isinstance(generator, torch.Generator) and generator.device.type == t.device.type


def _fill_or(original: Callable[..., Any], fn: str, t: Any, kind: int, params: List[float],
             generator: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    """fastinit's fill; where fastinit refuses the target (e.g. an expand()ed view, whose
    memory overlaps), torch's own method runs and raises or fills as torch does."""
    try:
        return _fill(fn, t, kind, params, generator, None, None, None)
    except (ValueError, TypeError, RuntimeError):
        return original(t, *args, **kwargs)


def _dtensor_method(name: str, t: Any, args: tuple, kwargs: dict,
                    original: Callable[..., Any]) -> Any:
    torch = sys.modules["torch"]
    call = lambda: original(t, *args, **kwargs)  # noqa: E731
    if t.requires_grad and torch.is_grad_enabled():
        return call()  # torch's error for an in-place op on a leaf that requires grad
    return _dtensor_init("method", name, t, args, kwargs, call)


def _make_uniform(original: Callable[..., Any]) -> Callable[..., Any]:
    def uniform_(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _holders and _is_dtensor(self):
            return _dtensor_method("uniform_", self, args, kwargs, original)
        p = _parse(args, kwargs, ("from", "to"), (0.0, 1.0))
        if _holders == 0 or p is None or not _method_ok(self, p[2]):
            return original(self, *args, **kwargs)
        lo, hi, generator = p
        big = float(sys.modules["torch"].finfo(self.dtype).max)
        if not lo < hi or max(abs(lo), abs(hi), hi - lo) > big:  # torch's errors, or from == to
            return original(self, *args, **kwargs)
        return _fill_or(original, "uniform_", self, _core.KIND_UNIFORM, [lo, hi], generator,
                        args, kwargs)

    uniform_.__doc__ = original.__doc__
    uniform_.__fastinit_original__ = original  # type: ignore[attr-defined]
    return uniform_


def _make_normal(original: Callable[..., Any]) -> Callable[..., Any]:
    def normal_(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _holders and _is_dtensor(self):
            return _dtensor_method("normal_", self, args, kwargs, original)
        p = _parse(args, kwargs, ("mean", "std"), (0.0, 1.0))
        if _holders == 0 or p is None or p[1] < 0 or not _method_ok(self, p[2]):
            return original(self, *args, **kwargs)
        mean, std, generator = p
        return _fill_or(original, "normal_", self, _core.KIND_NORMAL, [mean, std], generator,
                        args, kwargs)

    normal_.__doc__ = original.__doc__
    normal_.__fastinit_original__ = original  # type: ignore[attr-defined]
    return normal_


# --- install / uninstall --------------------------------------------------------------------
# Replacements are made once per original and kept, so the binding sites found once (in
# _bindings.SITES) stay valid: entering and leaving patch mode only rebinds known sites and
# scans the modules imported since.

_routes: Dict[Tuple[str, str], Tuple[Any, Any]] = {}  # (module, name) -> (original, routed)
_methods: Dict[str, Tuple[Any, Any, bool]] = {}  # Tensor method -> (original, new, had own)


def _routed(module: str, name: str, original: Any, fast: Callable[..., Any]) -> Any:
    known = _routes.get((module, name))
    if known is None or known[0] is not original:
        traced = name if module == "torch.nn.init" else f"{module}:{name}"
        known = _routes[(module, name)] = (original, _route(traced, fast, original))
    return known[1]


def _route_module(owner: Any) -> Dict[int, Any]:
    """{id(original): routed} for the initializers ``owner`` (torch.nn.init or timm's
    weight_init) defines; empty for a module patch mode does not route."""
    from . import _timm_compat  # noqa: PLC0415
    from ..init import nn_init  # noqa: PLC0415

    swaps: Dict[int, Any] = {}
    if owner.__name__ == "torch.nn.init":
        pairs = [(n, getattr(nn_init, n, None)) for n in NN_INIT_NAMES]
    elif owner.__name__ == _timm_compat.MODULE:
        pairs = [(n, None) for n in _timm_compat.NAMES]
    else:
        return swaps
    for name, fast in pairs:
        original = getattr(owner, name, None)
        if getattr(original, "__fastinit_original__", None) is not None:
            original = original.__fastinit_original__  # routed already (import hook)
        if not callable(original) or fast is original:
            continue
        if fast is None:
            fast = _timm_compat.FACTORIES[name](original)
        routed = _routed(owner.__name__, name, original, fast)
        SITES.watch([(name, original), (name, routed)])
        swaps[id(original)] = routed
    return swaps


class _TimmHook(importlib.abc.MetaPathFinder):
    """Routes timm's initializers when timm is first imported inside a patch block."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        from ._timm_compat import MODULE  # noqa: PLC0415

        if fullname != MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: Any) -> None:
            run(module)
            with _lock:
                if _holders > 0:
                    swaps = _route_module(module)
                    vars(module).update({n: swaps[id(f)] for n, f in vars(module).items()
                                         if callable(f) and id(f) in swaps})

        loader.exec_module = exec_module
        return spec


_hook = _TimmHook()


def _install() -> None:
    import torch  # noqa: PLC0415
    import torch.nn.init  # noqa: PLC0415

    from ._timm_compat import MODULE  # noqa: PLC0415

    swaps = _route_module(torch.nn.init)
    if MODULE in sys.modules:
        swaps.update(_route_module(sys.modules[MODULE]))
    elif _hook not in sys.meta_path:
        sys.meta_path.insert(0, _hook)
    SITES.replace(swaps)  # torch.nn.init itself and every `from torch.nn.init import` copy
    for name, make in zip(_METHODS, (_make_uniform, _make_normal)):
        original = getattr(torch.Tensor, name)
        known = _methods.get(name)
        if known is None or known[0] is not original:
            known = _methods[name] = (original, make(original), name in vars(torch.Tensor))
        setattr(torch.Tensor, name, known[1])


def _uninstall() -> None:
    import torch  # noqa: PLC0415

    if _hook in sys.meta_path:
        sys.meta_path.remove(_hook)
    SITES.replace({id(routed): original for original, routed in _routes.values()})
    for name, (original, new, had) in _methods.items():
        if vars(torch.Tensor).get(name) is new:
            if had:
                setattr(torch.Tensor, name, original)
            else:
                delattr(torch.Tensor, name)


def _acquire() -> None:
    global _holders
    with _lock:
        if _holders == 0:
            try:
                _install()
            except BaseException:
                _uninstall()
                raise
        _holders += 1


def _release() -> None:
    global _holders
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0:
            _uninstall()


@contextlib.contextmanager
def suspended() -> Iterator[None]:
    """torch's own functions for a while, if patch mode is on (a module imported meanwhile
    binds those, as one imported before patch mode does); then patch mode installs again."""
    with _lock:
        if _holders > 0:
            _uninstall()
    try:
        yield
    finally:
        with _lock:
            if _holders > 0:
                _install()


class patch(contextlib.ContextDecorator):  # noqa: N801 - used like contextlib.suppress
    """Context manager (and decorator) that runs torch's initializers on fastinit.

    See the module docstring for what is routed and when torch's own code runs instead.
    Re-entrant and nestable; everything is restored when the outermost context exits.
    ``@fastinit.patch`` and ``@fastinit.patch()`` both decorate a function, which then runs
    patched on each call.
    """

    def __new__(cls, func: Optional[Callable[..., Any]] = None) -> Any:
        self = super().__new__(cls)
        if func is None:
            return self
        if not callable(func):
            raise TypeError(f"fastinit.patch: takes no argument, or a function to decorate; "
                            f"got {type(func).__name__}")
        return self(func)  # @fastinit.patch without parentheses: the wrapped function

    def __enter__(self) -> "patch":
        require_torch("fastinit.patch")
        _acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        _release()


def patch_enable() -> None:
    """Turn patch mode on for the whole program (idempotent), until :func:`patch_disable`."""
    global _enabled
    require_torch("fastinit.patch_enable")
    with _lock:
        if not _enabled:
            _acquire()
            _enabled = True


def patch_disable() -> None:
    """Undo :func:`patch_enable` (idempotent); ``with patch():`` blocks still running stay on."""
    global _enabled
    with _lock:
        if _enabled:
            _enabled = False
            _release()


def is_patched() -> bool:
    """True while patch mode is on (from ``patch()``, ``patch_enable()`` or the environment)."""
    return _holders > 0


def _enable_from_environment() -> None:
    """``FASTINIT_PATCH=1`` (or true/yes/on) at ``import fastinit``: :func:`patch_enable`."""
    if os.environ.get("FASTINIT_PATCH", "").strip().lower() in ("1", "true", "yes", "on"):
        try:
            patch_enable()
        except TorchNotInstalledError:
            # stacklevel 3 names the line that imported fastinit (import frames are skipped)
            warnings.warn(f"FASTINIT_PATCH={os.environ['FASTINIT_PATCH']} ignored: "
                          f"{torch_missing_message('patch mode')}", RuntimeWarning, stacklevel=3)

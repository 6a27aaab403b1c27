"""Patch mode: run unmodified torch code (``nn.Linear(...)``, whole models) on fastinit.

``with fastinit.patch():`` (also a decorator) routes

* ``torch.nn.init``'s public functions, the private helpers other libraries import
  (``_no_grad_*``, ``_calculate_fan_in_and_fan_out``, ``_calculate_correct_fan``) and the
  deprecated aliases to their :mod:`fastinit.nn_init` equivalents, including the copies
  modules bound with ``from torch.nn.init import xavier_uniform_`` (MultiheadAttention does);
* ``torch.Tensor.uniform_(from=0, to=1, *, generator=None)`` and
  ``torch.Tensor.normal_(mean=0, std=1, *, generator=None)`` to fastinit's fills.

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
escapes; nesting, re-entry and threads share one reference count. ``patch_enable()`` /
``patch_disable()`` hold one reference for a whole program; ``FASTINIT_PATCH=1`` in the
environment calls ``patch_enable()`` at ``import fastinit``. Patching is process-wide: other
threads see it while it is on.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _core
from ._fills import _fill
from ._targets import _FLOAT_NAMES, dtype_name

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
# (owner, name, original, replacement, owner had its own attribute)
_installed: List[Tuple[Any, str, Any, Any, bool]] = []


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
    if torch._C._len_torch_dispatch_stack() > 0 or (compiling is not None and compiling()):
        return True
    if not torch._C._is_torch_function_mode_enabled():
        return False
    from torch.overrides import _get_current_function_mode_stack  # noqa: PLC0415
    from torch.utils._device import DeviceContext  # noqa: PLC0415

    # `with torch.device(...)` is a mode that only sets factory devices: harmless here
    return any(not isinstance(m, DeviceContext) for m in _get_current_function_mode_stack())


def _route(fast: Callable[..., Any], original: Callable[..., Any]) -> Callable[..., Any]:
    """torch.nn.init.<name> under patch: fastinit's version when it handles the tensor."""

    @functools.wraps(fast)
    def routed(*args: Any, **kwargs: Any) -> Any:
        t = args[0] if args else kwargs.get("tensor")
        torch = sys.modules["torch"]
        if isinstance(t, torch.Tensor) and not _handles(t):
            return original(*args, **kwargs)
        return fast(*args, **kwargs)

    routed.__fastinit_original__ = original  # type: ignore[attr-defined]
    return routed


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


def _make_uniform(original: Callable[..., Any]) -> Callable[..., Any]:
    def uniform_(self: Any, *args: Any, **kwargs: Any) -> Any:
        p = _parse(args, kwargs, ("from", "to"), (0.0, 1.0))
        if p is None or not _method_ok(self, p[2]):
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
        p = _parse(args, kwargs, ("mean", "std"), (0.0, 1.0))
        if p is None or p[1] < 0 or not _method_ok(self, p[2]):
            return original(self, *args, **kwargs)
        mean, std, generator = p
        return _fill_or(original, "normal_", self, _core.KIND_NORMAL, [mean, std], generator,
                        args, kwargs)

    normal_.__doc__ = original.__doc__
    normal_.__fastinit_original__ = original  # type: ignore[attr-defined]
    return normal_


# --- install / uninstall --------------------------------------------------------------------

def _module_dicts() -> List[Dict[str, Any]]:
    out = []
    for name, module in list(sys.modules.items()):
        if module is None or name == "fastinit" or name.startswith("fastinit."):
            continue
        try:
            d = vars(module)
        except TypeError:
            continue
        if isinstance(d, dict):
            out.append(d)
    return out


def _install() -> None:
    import torch  # noqa: PLC0415
    import torch.nn.init  # noqa: PLC0415

    from . import nn_init  # noqa: PLC0415

    originals: Dict[str, Tuple[Any, Any]] = {}
    for name in NN_INIT_NAMES:
        original = getattr(torch.nn.init, name, None)
        fast = getattr(nn_init, name, None)
        if callable(original) and callable(fast) and fast is not original:
            originals[name] = (original, _route(fast, original))
    for name, (original, replacement) in originals.items():
        _installed.append((torch.nn.init, name, original, replacement, True))
    for d in _module_dicts():  # torch.nn.init and every `from torch.nn.init import ...` copy
        for name, (original, replacement) in originals.items():
            if d.get(name) is original:
                d[name] = replacement
    for name, make in zip(_METHODS, (_make_uniform, _make_normal)):
        had = name in vars(torch.Tensor)
        original = getattr(torch.Tensor, name)
        replacement = make(original)
        _installed.append((torch.Tensor, name, original, replacement, had))
        setattr(torch.Tensor, name, replacement)


def _uninstall() -> None:
    import torch  # noqa: PLC0415

    routed = [(n, o, r) for owner, n, o, r, _ in _installed if owner is not torch.Tensor]
    for d in _module_dicts():  # also the copies bound while patched
        for name, original, replacement in routed:
            if d.get(name) is replacement:
                d[name] = original
    for owner, name, original, replacement, had in reversed(_installed):
        if owner is torch.Tensor and vars(owner).get(name) is replacement:
            if had:
                setattr(owner, name, original)
            else:
                delattr(owner, name)
    _installed.clear()


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


class patch(contextlib.ContextDecorator):  # noqa: N801 - used like contextlib.suppress
    """Context manager (and decorator) that runs torch's initializers on fastinit.

    See the module docstring for what is routed and when torch's own code runs instead.
    Re-entrant and nestable; everything is restored when the outermost context exits.
    """

    def __enter__(self) -> "patch":
        _acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        _release()


def patch_enable() -> None:
    """Turn patch mode on for the whole program (idempotent), until :func:`patch_disable`."""
    global _enabled
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
        patch_enable()

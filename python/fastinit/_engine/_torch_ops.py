"""fastinit's initializers under torch.compile: one torch custom op, ``fastinit::init_``.

Every public initializer is wrapped by :func:`traceable`. Outside a torch.compile (or export)
trace the wrapper calls the function. Inside one, a call on a plain torch tensor (or
Parameter) becomes one call of the op (``torch.library.custom_op``, ``mutates_args=
("tensor",)``, a fake implementation that writes nothing), which holds the function's name
and arguments; when the compiled code runs, the op calls the function eagerly on the real
tensor. So a compiled function gives eager's bits, ``fullgraph=True`` included, and Dynamo
never traces fastinit's own code (its checks call the compiled core, which it cannot trace).

Arguments: floats (as a float64 tensor) and ints (tuples of ints too, as an int list) are op
inputs, so values that change between calls (Dynamo makes them symbolic, ints also past
int64) need no recompile; None, bools and strs go in a constant string. Anything else (a
``torch.Generator``, a NumPy target, a tensor subclass, a tensor or NumPy scalar as a
parameter) makes the call run eagerly outside the graph: a graph break whose reason
``fullgraph=True`` reports.

Seeds: ``seed=`` draws nothing. Without it the key comes from torch's default generator (or
init_module's names) when the op runs, and the op is an ordered effect (EffectType.ORDERED),
so unseeded fills keep their program order and each draws once, as in eager: the same bits
and the same generator state after. (Torch's own random ops in the same compiled graph draw
otherwise than in eager, so an unseeded fill after one of them gets another key; pass seed=
where that matters.) Where torch has no ordered effects for custom ops, unseeded fills break
the graph instead. vmap / grad / functionalize wrap their tensors, which have no memory to
fill: :func:`fastinit._engine._targets.check_writable` refuses them with a clear error.
"""

from __future__ import annotations

import ast
import functools
import inspect
import sys
from typing import Any, Callable, Dict, List, Tuple, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: name -> (the function, its parameters after the target, how many of them are positional)
_FUNCTIONS: Dict[str, Tuple[Callable[..., Any], Tuple[str, ...], int]] = {}
#: filled by _register(): "op" (the custom op, or None where torch lacks custom_op), "ordered"
#: (whether it is an ordered effect), and the eager runners by reason
_REGISTERED: Dict[str, Any] = {}
_WORD = 1 << 32
_SPLIT_LIMIT = 1 << 95  # x // 2**32 still fits the op's int64

_REASONS = {
    "argument": "fastinit: an argument that is no Python number, str, None or tuple of ints "
                "(a torch.Generator, a tensor or NumPy scalar as a parameter) cannot enter a "
                "compiled graph; the call runs eagerly. Pass seed= and Python numbers to "
                "trace it",
    "target": "fastinit: only plain torch tensors and Parameters are filled inside a "
              "compiled graph (not NumPy arrays or tensor subclasses); the call runs eagerly",
    "unseeded": "fastinit: an unseeded fill draws its key from torch's default generator when "
                "it runs; this torch has no ordered effects for custom ops, so the call runs "
                "eagerly to keep eager's order. Pass seed= to trace it",
    "no_custom_op": "fastinit: this torch has no torch.library.custom_op (torch >= 2.4); the "
                    "call runs eagerly",
}


def traceable(fn: F) -> F:
    """``fn(tensor, ...)`` as is, or as the op ``fastinit::init_`` inside a compile trace.

    The wrapper is one more frame between the user and ``fn``: a warning ``fn`` gives with
    ``stacklevel=n`` for its caller takes ``n + 1``."""
    name = f"{fn.__module__}.{fn.__qualname__}"
    signature = list(inspect.signature(fn).parameters.values())[1:]  # after the target
    positional = sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in signature)
    _FUNCTIONS[name] = (fn, tuple(p.name for p in signature), positional)

    @functools.wraps(fn)
    def wrapper(tensor: Any, *args: Any, **kwargs: Any) -> Any:
        # inline, not a helper: this runs on every eager call (about 0.3 us). A stand-in
        # module under the name (or None, which blocks the import) is no torch.
        torch = _modules.get("torch")
        if (torch is not None
                and getattr(getattr(torch, "compiler", None), "is_compiling", _never)()):
            return _traced(name, tensor, args, kwargs)
        return fn(tensor, *args, **kwargs)
    return wrapper  # type: ignore[return-value]


_modules = sys.modules


def _never() -> bool:  # torch before torch.compiler.is_compiling (2.3)
    return False


def _traced(name: str, tensor: Any, args: tuple, kwargs: dict) -> Any:
    """Inside a trace: Dynamo runs this symbolically, except the functions it is told to run
    as they are (_register, _encode)."""
    _register()
    torch = sys.modules["torch"]
    _, params, positional = _FUNCTIONS[name]
    if len(args) > positional or any(key not in params for key in kwargs):
        return _REGISTERED["argument"](name, tensor, args, kwargs)  # raises eager's TypeError
    if _REGISTERED["op"] is None:
        return _REGISTERED["no_custom_op"](name, tensor, args, kwargs)
    if type(tensor) is not torch.Tensor and type(tensor) is not torch.nn.Parameter:
        return _REGISTERED["target"](name, tensor, args, kwargs)
    bound = dict(zip(params, args))
    bound.update(kwargs)
    if "seed" in params and bound.get("seed") is None and not _REGISTERED["ordered"]:
        return _REGISTERED["unseeded"](name, tensor, args, kwargs)
    floats: List[float] = []
    ints: List[int] = []  # each int as (x // 2**32, x % 2**32): a seed may pass 2**63
    static = []  # (parameter, "value" | "float" | "int" | "tuple" | "list", value or count)
    for key, value in bound.items():
        if value is None or isinstance(value, (bool, str)):
            static.append((key, "value", value))
        elif isinstance(value, float):
            static.append((key, "float", 1))
            floats.append(value)
        elif isinstance(value, int) and -_SPLIT_LIMIT <= value < _SPLIT_LIMIT:
            static.append((key, "int", 1))
            ints.extend((value // _WORD, value % _WORD))
        elif isinstance(value, (tuple, list)) and all(
                isinstance(v, int) and not isinstance(v, bool)
                and -_SPLIT_LIMIT <= v < _SPLIT_LIMIT for v in value):
            static.append((key, "tuple" if isinstance(value, tuple) else "list", len(value)))
            for v in value:
                ints.extend((v // _WORD, v % _WORD))
        else:
            return _REGISTERED["argument"](name, tensor, args, kwargs)
    with torch.no_grad():  # as in eager: fills are not recorded by autograd
        _REGISTERED["op"](tensor, name, _encode(static), _float_tensor(torch, floats), ints)
    return tensor


def _float_tensor(torch: Any, floats: List[float]) -> Any:
    """The floats as a float64 tensor, exactly. Dynamo keeps a float symbolic only in tensor
    arithmetic (a float argument, torch.tensor or torch.full specialize it: one recompile per
    value), so each is added to -0.0, which keeps every value and the sign of zero."""
    if not floats:
        return torch.zeros(0, dtype=torch.float64)
    return torch.stack([torch.full((), -0.0, dtype=torch.float64) + f for f in floats])


def _encode(static: list) -> str:
    return repr(tuple(static))


def _register() -> bool:
    """Registers the op and the eager runners once (run as is at trace time)."""
    if _REGISTERED:
        return True
    torch = sys.modules["torch"]
    for reason, text in _REASONS.items():
        _REGISTERED[reason] = _disabled(torch, _run_eagerly, text)
    custom_op = getattr(torch.library, "custom_op", None)
    _REGISTERED["op"], _REGISTERED["ordered"] = None, False
    if custom_op is None:
        return True

    @custom_op("fastinit::init_", mutates_args=("tensor",), schema="(Tensor(a!) tensor, "
               "str fn, str static, Tensor floats, SymInt[] ints) -> ()")
    def init_(tensor: Any, fn: str, static: str, floats: Any, ints: List[int]) -> None:
        """Calls the initializer ``fn`` eagerly on ``tensor`` with its arguments."""
        _run_eagerly(fn, tensor, (), _decode(static, floats.tolist(), ints))

    @init_.register_fake
    def _(tensor: Any, fn: str, static: str, floats: Any, ints: List[int]) -> None:
        return None  # the op writes in place and returns nothing

    try:
        from torch._library.effects import EffectType  # noqa: PLC0415 - torch >= 2.10
        init_.register_effect(EffectType.ORDERED)
        _REGISTERED["ordered"] = True
    except (ImportError, AttributeError):
        pass
    _REGISTERED["op"] = init_
    return True


# run as is at trace time: Dynamo calls them with the constants and keeps their results
_register._dynamo_marked_constant = True  # type: ignore[attr-defined]
_encode._dynamo_marked_constant = True  # type: ignore[attr-defined]


def _disabled(torch: Any, fn: Callable[..., Any], reason: str) -> Callable[..., Any]:
    try:
        return torch.compiler.disable(fn, reason=reason)
    except TypeError:  # torch before the reason= keyword
        return torch.compiler.disable(fn)


def _run_eagerly(name: str, tensor: Any, args: tuple, kwargs: dict) -> Any:
    return _FUNCTIONS[name][0](tensor, *args, **kwargs)


@functools.lru_cache(maxsize=1024)
def _static(static: str) -> tuple:
    return ast.literal_eval(static)


def _decode(static: str, floats: List[float], ints: List[int]) -> dict:
    """The keyword arguments :func:`_traced` encoded."""
    next_float, words = iter(floats), iter(ints)

    def next_int() -> int:
        return next(words) * _WORD + next(words)

    out = {}
    for key, kind, value in _static(static):
        if kind == "value":
            out[key] = value
        elif kind == "float":
            out[key] = next(next_float)
        elif kind == "int":
            out[key] = next_int()
        else:
            items = [next_int() for _ in range(value)]
            out[key] = tuple(items) if kind == "tuple" else items
    return out

"""fastinit.nn_init against the installed torch.nn.init: signatures, exceptions (type and
text), warnings, exact results of the deterministic initializers, and the documented
differences."""

from __future__ import annotations

import inspect
import math
import warnings
from typing import Any, Callable, List, Tuple

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.init as torch_init  # noqa: E402

from fastinit import nn_init  # noqa: E402

EXTRA = ("seed", "global_shape", "global_offset")
PRIVATE = ("_calculate_fan_in_and_fan_out", "_calculate_correct_fan", "_no_grad_uniform_",
           "_no_grad_normal_", "_no_grad_trunc_normal_", "_no_grad_fill_", "_no_grad_zero_")
RANDOM = ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_",
          "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_",
          "_no_grad_uniform_", "_no_grad_normal_", "_no_grad_trunc_normal_")


def public_names() -> List[str]:
    names = [n for n, f in vars(torch_init).items()
             if not n.startswith("_") and callable(f)
             and getattr(f, "__module__", None) == "torch.nn.init"]
    assert set(torch_init.__all__) <= set(names)
    return sorted(names)


def test_all_matches_torch() -> None:
    assert nn_init.__all__ == torch_init.__all__
    assert set(public_names()) == set(torch_init.__all__)


@pytest.mark.parametrize("name", public_names() + list(PRIVATE))
def test_signature(name: str) -> None:
    """Parameter names, kinds and defaults equal torch's; fastinit only adds keyword-only
    seed= (every random function) and global_shape= / global_offset= (where a shard can be
    filled alone)."""
    theirs = inspect.signature(getattr(torch_init, name)).parameters.values()
    ours = inspect.signature(getattr(nn_init, name)).parameters.values()
    extra = [p for p in ours if p.name in EXTRA]
    assert [(p.name, p.kind, p.default) for p in ours if p.name not in EXTRA] == \
        [(p.name, p.kind, p.default) for p in theirs]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is None for p in extra)
    if name in RANDOM:
        assert "seed" in {p.name for p in extra}, name
    if name in ("orthogonal_", "sparse_"):
        assert [p.name for p in extra] == ["seed"]


# --- the same bad (or odd) input to both: same exception type and text, same warnings --------

def E(*shape: int, dtype: Any = None, device: str = "cpu") -> Any:
    return torch.full(shape, math.nan, dtype=dtype or torch.float32, device=device) \
        if device == "cpu" and (dtype is None or dtype.is_floating_point) else \
        torch.zeros(shape, dtype=dtype or torch.float32, device=device)


CASES: List[Tuple[str, Callable[[Any], Any]]] = [
    # uniform_ (Tensor.uniform_'s checks)
    ("uniform a>b", lambda I: I.uniform_(E(3), 1, 0)),
    ("uniform a==b", lambda I: I.uniform_(E(3), 1, 1)),
    ("uniform inf", lambda I: I.uniform_(E(3), 0, math.inf)),
    ("uniform -inf", lambda I: I.uniform_(E(3), -math.inf, 0)),
    ("uniform nan a", lambda I: I.uniform_(E(3), math.nan, 1)),
    ("uniform nan b", lambda I: I.uniform_(E(3), 0, math.nan)),
    ("uniform f32 out of range", lambda I: I.uniform_(E(3), -1e39, 1e39)),
    ("uniform f32 range too wide", lambda I: I.uniform_(E(3), -3e38, 3e38)),
    ("uniform f64 range too wide", lambda I: I.uniform_(E(3, dtype=torch.float64),
                                                       -1.7e308, 1.7e308)),
    ("uniform f64 a>b", lambda I: I.uniform_(E(3, dtype=torch.float64), 0.1, -1 / 3)),
    ("uniform half from", lambda I: I.uniform_(E(3, dtype=torch.half), -1e5, 1e5)),
    ("uniform half to", lambda I: I.uniform_(E(3, dtype=torch.half), 0, 1e5)),
    ("uniform bf16", lambda I: I.uniform_(E(3, dtype=torch.bfloat16), -1e39, 1e39)),
    ("uniform int64", lambda I: I.uniform_(E(3, dtype=torch.int64))),
    ("uniform int32", lambda I: I.uniform_(E(3, dtype=torch.int32))),
    ("uniform bool", lambda I: I.uniform_(E(3, dtype=torch.bool))),
    ("uniform str", lambda I: I.uniform_(E(3), "a", 1)),
    ("uniform None", lambda I: I.uniform_(E(3), None, 1)),
    ("uniform complex bound", lambda I: I.uniform_(E(3), 1j, 2)),
    ("uniform 1-element tensor bound", lambda I: I.uniform_(E(3), torch.tensor([0.5]), 2)),
    ("uniform big int", lambda I: I.uniform_(E(3), 10**400, 2)),
    # normal_
    ("normal std<0", lambda I: I.normal_(E(3), 0, -1)),
    ("normal std nan", lambda I: I.normal_(E(3), 0, math.nan)),
    ("normal mean str", lambda I: I.normal_(E(3), "x", 1)),
    ("normal std str", lambda I: I.normal_(E(3), 0, "x")),
    ("normal int", lambda I: I.normal_(E(3, dtype=torch.int64))),
    ("normal std=0", lambda I: I.normal_(E(3), 2, 0)),
    # trunc_normal_ (torch 2.13)
    ("trunc std=0", lambda I: I.trunc_normal_(E(3), 0, 0)),
    ("trunc std=0 empty", lambda I: I.trunc_normal_(E(0), 0, 0)),
    ("trunc std<0", lambda I: I.trunc_normal_(E(3), 0, -1)),
    ("trunc a>b", lambda I: I.trunc_normal_(E(3), 0, 1, 2, -2)),
    ("trunc a>b std<0", lambda I: I.trunc_normal_(E(3), 0, -1, 2, -2)),
    ("trunc a==b", lambda I: I.trunc_normal_(E(3), 0, 1, 1, 1)),
    ("trunc far interval", lambda I: I.trunc_normal_(E(3), 0, 1, 5, 6)),
    ("trunc far mean", lambda I: I.trunc_normal_(E(3), 10, 1, -2, 2)),
    ("trunc far mean empty", lambda I: I.trunc_normal_(E(0), 0, 1, 5, 6)),
    ("trunc -inf, far", lambda I: I.trunc_normal_(E(3), 0, 1, -math.inf, -3)),
    ("trunc inf b", lambda I: I.trunc_normal_(E(3), 0, 1, -2, math.inf)),
    ("trunc half b out of range", lambda I: I.trunc_normal_(E(3, dtype=torch.half), 0, 1,
                                                           -2, 1e6)),
    ("trunc half far bounds", lambda I: I.trunc_normal_(E(3, dtype=torch.half), 0, 1,
                                                        1e5, 1e6)),
    ("trunc int", lambda I: I.trunc_normal_(E(3, dtype=torch.int64))),
    ("trunc int far", lambda I: I.trunc_normal_(E(3, dtype=torch.int64), 0, 1, 5, 6)),
    ("trunc meta std=0", lambda I: I.trunc_normal_(E(3, device="meta"), 0, 0)),
    ("trunc str", lambda I: I.trunc_normal_(E(3), "x")),
    # constant_ / ones_ / zeros_
    ("constant nan", lambda I: I.constant_(E(3), math.nan)),
    ("constant inf", lambda I: I.constant_(E(3), -math.inf)),
    ("constant half overflow", lambda I: I.constant_(E(3, dtype=torch.half), 1e6)),
    ("constant half 65519", lambda I: I.constant_(E(3, dtype=torch.half), 65519.0)),
    ("constant bf16 overflow", lambda I: I.constant_(E(3, dtype=torch.bfloat16), 1e39)),
    ("constant f32 overflow", lambda I: I.constant_(E(3), 1e39)),
    ("constant e4m3 overflow", lambda I: I.constant_(E(3, dtype=torch.float8_e4m3fn), 1000)),
    ("constant e4m3 inf", lambda I: I.constant_(E(3, dtype=torch.float8_e4m3fn), math.inf)),
    ("constant e5m2 inf", lambda I: I.constant_(E(3, dtype=torch.float8_e5m2), math.inf)),
    ("constant str", lambda I: I.constant_(E(3), "x")),
    ("constant None", lambda I: I.constant_(E(3), None)),
    ("constant complex", lambda I: I.constant_(E(3), 1j)),
    ("constant int dtype", lambda I: I.constant_(E(3, dtype=torch.int64), 2.7)),
    ("constant bool", lambda I: I.constant_(E(3), True)),
    ("constant 0-d tensor", lambda I: I.constant_(E(3), torch.tensor(2.5))),
    ("ones int", lambda I: I.ones_(E(3, dtype=torch.int64))),
    # eye_ / dirac_
    ("eye 3d", lambda I: I.eye_(E(3, 3, 3))),
    ("eye 1d", lambda I: I.eye_(E(3))),
    ("dirac 2d", lambda I: I.dirac_(E(3, 3))),
    ("dirac 6d", lambda I: I.dirac_(E(1, 1, 1, 1, 1, 1))),
    ("dirac groups", lambda I: I.dirac_(E(4, 3, 3), 3)),
    ("dirac groups float", lambda I: I.dirac_(E(4, 3, 3), 2.0)),
    ("dirac groups 1.5", lambda I: I.dirac_(E(6, 3, 3), 1.5)),
    ("dirac meta", lambda I: I.dirac_(E(4, 3, 3, device="meta"))),
    ("dirac meta bad groups", lambda I: I.dirac_(E(4, 3, 3, device="meta"), 3)),
    ("dirac empty", lambda I: I.dirac_(E(0, 3, 3))),
    ("dirac empty kernel", lambda I: I.dirac_(E(3, 3, 0))),
    ("dirac empty kernel 4d", lambda I: I.dirac_(E(3, 3, 2, 0))),
    # fans, xavier, kaiming
    ("xavier 1d", lambda I: I.xavier_uniform_(E(3))),
    ("xavier 0d", lambda I: I.xavier_uniform_(E())),
    ("xavier (0, 0)", lambda I: I.xavier_uniform_(E(0, 0))),
    ("xavier normal (0, 0)", lambda I: I.xavier_normal_(E(0, 0))),
    ("xavier (0, 3)", lambda I: I.xavier_uniform_(E(0, 3))),
    ("xavier int", lambda I: I.xavier_uniform_(E(3, 3, dtype=torch.int64))),
    ("xavier negative gain", lambda I: I.xavier_uniform_(E(3, 3), -1)),
    ("xavier normal negative gain", lambda I: I.xavier_normal_(E(3, 3), -1)),
    ("kaiming 1d", lambda I: I.kaiming_uniform_(E(3))),
    ("kaiming normal 0d", lambda I: I.kaiming_normal_(E())),
    ("kaiming bad mode", lambda I: I.kaiming_uniform_(E(3, 4), mode="bad")),
    ("kaiming bad mode 1d", lambda I: I.kaiming_uniform_(E(3), mode="bad")),
    ("kaiming upper-case mode", lambda I: I.kaiming_normal_(E(3, 4), mode="FAN_OUT")),
    ("kaiming bad nonlinearity", lambda I: I.kaiming_uniform_(E(3, 4), nonlinearity="gelu")),
    ("kaiming a bool", lambda I: I.kaiming_uniform_(E(3, 4), a=True)),
    ("kaiming a str", lambda I: I.kaiming_normal_(E(3, 4), a="x")),
    ("kaiming a None", lambda I: I.kaiming_uniform_(E(3, 4), a=None)),
    ("kaiming zero-element", lambda I: I.kaiming_uniform_(E(0, 3))),
    ("kaiming normal zero-element", lambda I: I.kaiming_normal_(E(0, 3))),
    ("kaiming zero-element 1d", lambda I: I.kaiming_uniform_(E(0))),
    ("kaiming zero-element bad mode", lambda I: I.kaiming_uniform_(E(0, 3), mode="bad")),
    ("kaiming int", lambda I: I.kaiming_uniform_(E(3, 3, dtype=torch.int64))),
    ("kaiming normal int", lambda I: I.kaiming_normal_(E(3, 3, dtype=torch.int64))),
    ("fans 1d", lambda I: I._calculate_fan_in_and_fan_out(E(3))),
    ("correct fan bad", lambda I: I._calculate_correct_fan(E(3, 4), "bad")),
    ("correct fan None", lambda I: I._calculate_correct_fan(E(3, 4), None)),
    ("gain bad", lambda I: I.calculate_gain("gelu")),
    ("gain None", lambda I: I.calculate_gain(None)),
    ("gain bool", lambda I: I.calculate_gain("leaky_relu", True)),
    ("gain str param", lambda I: I.calculate_gain("leaky_relu", "x")),
    ("gain numpy float32 param", lambda I: I.calculate_gain("leaky_relu", np.float32(0.2))),
    ("gain tensor param", lambda I: I.calculate_gain("leaky_relu", torch.tensor(0.2))),
    # orthogonal_ / sparse_
    ("orthogonal 1d", lambda I: I.orthogonal_(E(3))),
    ("orthogonal 0d", lambda I: I.orthogonal_(E())),
    ("orthogonal empty", lambda I: I.orthogonal_(E(0, 3))),
    ("orthogonal empty 1d", lambda I: I.orthogonal_(E(0))),
    ("orthogonal int", lambda I: I.orthogonal_(E(3, 3, dtype=torch.int64))),
    ("orthogonal complex", lambda I: I.orthogonal_(E(3, 3, dtype=torch.complex64))),
    ("orthogonal gain str", lambda I: I.orthogonal_(E(3, 3), "x")),
    ("orthogonal meta", lambda I: I.orthogonal_(E(3, 3, device="meta"))),
    ("sparse 3d", lambda I: I.sparse_(E(3, 3, 3), 0.1)),
    ("sparse 1d", lambda I: I.sparse_(E(3), 0.1)),
    ("sparse std<0", lambda I: I.sparse_(E(10, 4), 0.1, -1)),
    ("sparse int", lambda I: I.sparse_(E(10, 4, dtype=torch.int64), 0.1)),
    ("sparse meta", lambda I: I.sparse_(E(10, 4, device="meta"), 0.1)),
    ("sparse empty", lambda I: I.sparse_(E(0, 4), 0.1)),
    ("sparse nan", lambda I: I.sparse_(E(4, 4), math.nan)),
    ("sparse str", lambda I: I.sparse_(E(4, 4), "x")),
    # deprecated aliases and private helpers
    ("alias uniform", lambda I: I.uniform(E(3))),
    ("alias eye", lambda I: I.eye(E(3, 3))),
    ("alias dirac error", lambda I: I.dirac(E(3, 3))),
    ("alias sparse", lambda I: I.sparse(E(4, 4), 0.5)),
    ("no_grad uniform a>b", lambda I: I._no_grad_uniform_(E(3), 1, 0)),
    ("no_grad normal std<0", lambda I: I._no_grad_normal_(E(3), 0, -1)),
    ("no_grad trunc far mean", lambda I: I._no_grad_trunc_normal_(E(3), 10, 1, -2, 2)),
    ("no_grad fill overflow", lambda I: I._no_grad_fill_(E(3, dtype=torch.half), 1e6)),
]


def outcome(call: Callable[[Any], Any], module: Any) -> Tuple[str, list]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call(module)
            result = "returned"
        except Exception as e:  # noqa: BLE001 - the exception is what is compared
            result = f"{type(e).__name__}: {e}"
    return result, [(w.category.__name__, str(w.message)) for w in caught]


@pytest.mark.parametrize(("label", "call"), CASES, ids=[c[0] for c in CASES])
def test_same_outcome_as_torch(label: str, call: Callable[[Any], Any]) -> None:
    """Same exception type and text (or both return), same warnings, category and text."""
    torch.manual_seed(0)
    theirs = outcome(call, torch_init)
    torch.manual_seed(0)
    ours = outcome(call, nn_init)
    assert ours == theirs


# --- where torch's text says little: torch's exception type, with a fastinit line ----------

CLEARER: List[Tuple[str, Callable[[Any], Any], str]] = [
    ("dirac groups=0", lambda I: I.dirac_(E(4, 3, 3), 0),
     "fastinit.dirac_: groups must be >= 1, got 0"),  # torch: "integer modulo by zero"
    ("dirac groups=0.0", lambda I: I.dirac_(E(4, 3, 3), 0.0),
     "fastinit.dirac_: groups must be >= 1, got 0.0"),
    ("kaiming mode None", lambda I: I.kaiming_uniform_(E(3, 4), mode=None),
     "fastinit.kaiming_uniform_: mode must be a str, 'fan_in' or 'fan_out' (any case), got "
     "None"),  # torch: "'NoneType' object has no attribute 'lower'"
    ("kaiming mode int", lambda I: I.kaiming_uniform_(E(3, 4), mode=3),
     "fastinit.kaiming_uniform_: mode must be a str, 'fan_in' or 'fan_out' (any case), got 3"),
    ("kaiming normal mode None 1d", lambda I: I.kaiming_normal_(E(3), mode=None),
     "fastinit.kaiming_normal_: mode must be a str, 'fan_in' or 'fan_out' (any case), got "
     "None"),  # the mode is checked before the fans, as torch does
]


@pytest.mark.parametrize(("label", "call", "text"), CLEARER, ids=[c[0] for c in CLEARER])
def test_clearer_error_keeps_torchs_type(label: str, call: Callable[[Any], Any],
                                         text: str) -> None:
    with pytest.raises(Exception) as theirs:
        call(torch_init)
    with pytest.raises(type(theirs.value)) as ours:
        call(nn_init)
    assert str(ours.value) == text
    assert type(ours.value) is type(theirs.value)


def test_negative_groups_refused_where_torch_fills_zeros() -> None:
    t = E(4, 3, 3)
    torch_init.dirac_(t, -2)  # torch: 4 % -2 == 0, no group, all zeros
    assert (t == 0).all()
    t = E(4, 3, 3)
    with pytest.raises(ValueError, match=r"^fastinit\.dirac_: groups must be >= 1, got -2$"):
        nn_init.dirac_(t, -2)
    assert t.isnan().all()


@pytest.mark.parametrize("name", ["kaiming_uniform_", "kaiming_normal_"])
def test_infinite_slope_refused_where_torch_fills_zeros(name: str) -> None:
    t = E(3, 4)
    getattr(torch_init, name)(t, math.inf)  # gain sqrt(2 / (1 + inf)) = 0
    assert (t == 0).all()
    t = E(3, 4)
    with pytest.raises(ValueError, match=rf"^fastinit\.{name}: a \(leaky_relu's negative "
                                         r"slope\) must be finite, got inf"):
        getattr(nn_init, name)(t, math.inf)
    assert t.isnan().all()


UNTOUCHED: List[Tuple[str, Callable[[], Any], Callable[[Any], Any]]] = [
    ("uniform a>b", lambda: E(3), lambda t: nn_init.uniform_(t, 1, 0)),
    ("uniform half", lambda: E(3, dtype=torch.half), lambda t: nn_init.uniform_(t, 0, 1e5)),
    ("normal std<0", lambda: E(3), lambda t: nn_init.normal_(t, 0, -1)),
    ("trunc a>b", lambda: E(3), lambda t: nn_init.trunc_normal_(t, 0, 1, 2, -2)),
    ("trunc std=0", lambda: E(3), lambda t: nn_init.trunc_normal_(t, 0, 0)),
    ("constant overflow", lambda: E(3, dtype=torch.half), lambda t: nn_init.constant_(t, 1e6)),
    ("xavier gain<0", lambda: E(3, 3), lambda t: nn_init.xavier_uniform_(t, -1)),
    ("kaiming bad mode", lambda: E(3, 3), lambda t: nn_init.kaiming_normal_(t, mode="x")),
    ("dirac groups", lambda: E(4, 3, 3), lambda t: nn_init.dirac_(t, 3)),
    ("dirac groups float", lambda: E(4, 3, 3), lambda t: nn_init.dirac_(t, 2.0)),
    ("dirac groups=0", lambda: E(4, 3, 3), lambda t: nn_init.dirac_(t, 0)),
    ("kaiming mode None", lambda: E(3, 3), lambda t: nn_init.kaiming_uniform_(t, mode=None)),
    ("orthogonal gain nan", lambda: E(3, 3), lambda t: nn_init.orthogonal_(t, math.nan)),
    ("dirac empty kernel", lambda: E(3, 3, 0, 2), lambda t: nn_init.dirac_(t)),
    ("sparse std<0", lambda: E(4, 4), lambda t: nn_init.sparse_(t, 0.5, -1)),
    ("orthogonal seed and generator", lambda: E(4, 4),
     lambda t: nn_init.orthogonal_(t, generator=torch.Generator(), seed=1)),
    ("numpy uniform a>b", lambda: np.full(3, np.nan), lambda t: nn_init.uniform_(t, 1, 0)),
]


@pytest.mark.parametrize(("label", "make", "call"), UNTOUCHED, ids=[u[0] for u in UNTOUCHED])
def test_failed_call_leaves_buffer_untouched(label: str, make: Callable[[], Any],
                                             call: Callable[[Any], Any]) -> None:
    """fastinit checks before it writes (torch's dirac_ zeroes the tensor, then raises)."""
    t = make()
    with pytest.raises((ValueError, RuntimeError, TypeError, ZeroDivisionError, IndexError,
                        AttributeError)):
        call(t)
    assert np.isnan(np.asarray(t, dtype=np.float64)).all()


# --- exact results of the deterministic initializers ----------------------------------------

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.float8_e4m3fn,
          torch.float8_e5m2, torch.int64, torch.int8, torch.bool, torch.complex64]


def bits(t: Any) -> Any:
    t = t.detach().contiguous()
    return t.view(torch.uint8) if t.dtype != torch.bool else t


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_deterministic_initializers_equal_torch(dtype: Any) -> None:
    calls: List[Tuple[Tuple[int, ...], Callable[[Any, Any], Any]]] = [
        ((5, 7), lambda I, t: I.eye_(t)),
        ((7, 5), lambda I, t: I.eye_(t)),
        ((6, 4, 3), lambda I, t: I.dirac_(t)),
        ((6, 4, 3, 2), lambda I, t: I.dirac_(t, 2)),
        ((9, 3, 3, 4, 5), lambda I, t: I.dirac_(t, 3)),
        ((4, 9, 3), lambda I, t: I.dirac_(t)),
        ((3, 4), lambda I, t: I.ones_(t)),
        ((3, 4), lambda I, t: I.zeros_(t)),
        ((3, 4), lambda I, t: I.constant_(t, 1)),
    ]
    if dtype.is_floating_point or dtype.is_complex:
        calls.append(((3, 4), lambda I, t: I.constant_(t, 0.3)))
        # just past a rounding tie of e5m2 / e4m3 / bfloat16 / float16: torch rounds the
        # double to float first (ties to even there), a direct rounding would round up
        for k in (3, 4, 8, 11):
            calls.append(((3, 4), lambda I, t, k=k: I.constant_(t, -(1 + 2.0**-k + 2.0**-30))))
    for shape, call in calls:
        for transpose in (False, True):
            def make() -> Any:
                t = torch.ones(shape[::-1] if transpose and len(shape) == 2 else shape,
                               dtype=dtype)
                return t.t() if transpose and len(shape) == 2 else t
            theirs, ours = make(), make()
            call(torch_init, theirs)
            assert call(nn_init, ours) is ours
            assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
            assert torch.equal(bits(ours), bits(theirs)), (shape, dtype, transpose)


def test_requires_grad_kept_like_torch() -> None:
    for name, args in (("eye_", ()), ("dirac_", ()), ("constant_", (2.0,)), ("ones_", ()),
                       ("zeros_", ()), ("orthogonal_", ()), ("normal_", ())):
        shape = (4, 4) if name == "eye_" else (4, 4, 3)
        p = torch.nn.Parameter(torch.empty(shape))
        q = torch.nn.Parameter(torch.empty(shape))
        getattr(torch_init, name)(p, *args)
        getattr(nn_init, name)(q, *args)
        assert q.requires_grad == p.requires_grad and q.grad_fn is None and p.grad_fn is None


# --- __torch_function__: the same four entry points dispatch, with the same arguments ------

TORCH_FUNCS = {id(f) for f in vars(torch_init).values() if callable(f)}
OUR_FUNCS = {id(f) for f in vars(nn_init).values() if callable(f)}


class Logged(torch.Tensor):
    """A subclass that records the init-level calls it is offered, then lets them run."""

    seen: List[Tuple[str, List[str]]] = []
    answer: Any = None

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if id(func) in TORCH_FUNCS or id(func) in OUR_FUNCS:
            cls.seen.append((func.__name__, sorted(kwargs or {})))
            if cls.answer is not None:
                return cls.answer
        return super().__torch_function__(func, types, args, kwargs)


@pytest.mark.parametrize(("name", "args"), [
    ("uniform_", ()), ("normal_", ()), ("constant_", (0.5,)), ("kaiming_uniform_", ()),
    ("kaiming_normal_", ()), ("xavier_uniform_", ()), ("xavier_normal_", ()),
    ("trunc_normal_", ()), ("ones_", ()), ("zeros_", ()), ("eye_", ()), ("orthogonal_", ()),
    ("sparse_", (0.5,)), ("_no_grad_uniform_", (0, 1)), ("_no_grad_normal_", (0, 1)),
    ("_no_grad_fill_", (2.0,)),
])
def test_torch_function_dispatch_like_torch(name: str, args: tuple) -> None:
    """torch.nn.init's uniform_, normal_, constant_ and kaiming_uniform_ (only these) offer the
    call to a tensor subclass's __torch_function__ (the legacy ShardedTensor relies on it);
    fastinit's do the same, with the same keyword arguments, and return the override's
    answer; when the override defers, the fill runs and the subclass instance is returned."""
    outcomes = []
    for module in (torch_init, nn_init):
        Logged.seen, Logged.answer = [], None
        t = torch.zeros(6, 4).as_subclass(Logged)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = getattr(module, name)(t, *args)
        assert out is t
        outcomes.append(Logged.seen)
    assert outcomes[0] == outcomes[1]
    if outcomes[0]:
        Logged.seen, Logged.answer = [], "overridden"
        try:
            t = torch.zeros(6, 4).as_subclass(Logged)
            assert getattr(nn_init, name)(t, *args) == "overridden"
            if name != "constant_":  # fastinit's own arguments go along when given
                getattr(nn_init, name)(t, *args, seed=3)
                assert "seed" in Logged.seen[-1][1]
        finally:
            Logged.answer = None


# --- what fastinit does differently, on purpose (nn_init's module docstring) ---------------

def test_documented_differences() -> None:
    for dtype in (torch.bfloat16, torch.float16):  # torch: "geqrf_cpu" not implemented
        with pytest.raises(NotImplementedError, match="geqrf_cpu"):
            torch_init.orthogonal_(torch.empty(4, 4, dtype=dtype))
        nn_init.orthogonal_(torch.empty(4, 4, dtype=dtype))
    for name in ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "orthogonal_"):
        t = torch.empty(4, 4, dtype=torch.float8_e4m3fn)  # torch: not implemented for fp8
        with pytest.raises(NotImplementedError):
            getattr(torch_init, name)(t)
        getattr(nn_init, name)(t, seed=1)
        assert t.float().isfinite().all()
    for call in (lambda I: I.normal_(torch.empty(3), math.inf, 1),
                 lambda I: I.normal_(torch.empty(3), 0, math.inf),
                 lambda I: I.trunc_normal_(torch.empty(3), math.nan, 1)):
        call(torch_init)  # torch fills inf / NaN (or U(a, b))
        with pytest.raises(ValueError, match="must be finite"):
            call(nn_init)
    # an interval with no value of the dtype: torch writes bf16(0.1), outside [a, b]
    with pytest.raises(ValueError, match="holds no value"):
        nn_init.trunc_normal_(torch.empty(3, dtype=torch.bfloat16), 0, 1, 0.1, 0.1)
    # complex trunc_normal_: torch and fastinit both raise NotImplementedError (other texts)
    for module in (torch_init, nn_init):
        with pytest.raises(NotImplementedError):
            module.trunc_normal_(torch.empty(3, dtype=torch.complex64))
    # torch.Generator only in torch; a numpy Generator works in fastinit
    with pytest.raises(TypeError):
        torch_init.uniform_(torch.empty(3), generator=np.random.default_rng(0))
    nn_init.uniform_(torch.empty(3), generator=np.random.default_rng(0))


def test_sparse_mask_follows_generator_unlike_torch() -> None:
    def twice(module: Any) -> bool:
        a = module.sparse_(torch.empty(50, 40), 0.5, generator=torch.Generator().manual_seed(1))
        b = module.sparse_(torch.empty(50, 40), 0.5, generator=torch.Generator().manual_seed(1))
        return torch.equal(a == 0, b == 0)
    assert twice(nn_init)
    assert not twice(torch_init)  # torch.randperm draws from the global generator


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_orthogonal_matches_torch_up_to_the_sample(dtype: Any) -> None:
    """Given the same Gaussian matrix, fastinit's orthogonal_ is torch's: rebuild torch's
    output from fastinit's sample and compare."""
    rows, cols = 6, 10
    sample = torch.empty(rows, cols, dtype=dtype)
    from fastinit import normal_  # the sample orthogonal_ draws: a (min, max) fill, transposed
    normal_(sample, seed=5)  # (6, 10): rows < cols, so QR of its transpose
    q, r = torch.linalg.qr(sample.t())
    expected = (q * torch.diag(r).sign()).t() * 1.5
    got = nn_init.orthogonal_(torch.empty(rows, cols, dtype=dtype), 1.5, seed=5)
    torch.testing.assert_close(got, expected, atol=1e-6 if dtype == torch.float32 else 1e-12,
                               rtol=0)

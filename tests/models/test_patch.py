"""Patch mode (fastinit.patch): routing, fallbacks, seeds, restoration, and torch's
test_init-style assertions run through torch.nn.init while patched."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
import types
from typing import Any, Callable, Dict, Iterator, Tuple

import numpy as np
import pytest

import fastinit

torch = pytest.importorskip("torch")
nn_init = pytest.importorskip("fastinit.nn_init")
stats = pytest.importorskip("scipy.stats")

import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torch.nn.init as init  # noqa: E402

from fastinit.patch import (  # noqa: E402
    NN_INIT_NAMES,
    is_patched,
    patch,
    patch_disable,
    patch_enable,
)

COPIES = [  # module-level `from torch.nn.init import ...` copies inside torch
    ("torch.nn.modules.activation", "xavier_uniform_"),
    ("torch.nn.modules.activation", "xavier_normal_"),
    ("torch.nn.modules.activation", "constant_"),
    ("torch.nn.modules.transformer", "xavier_uniform_"),
]
ROUTED = [n for n in NN_INIT_NAMES if hasattr(init, n) and hasattr(nn_init, n)]


@pytest.fixture(autouse=True)
def _unpatched() -> Iterator[None]:
    assert not is_patched()
    yield
    patch_disable()
    assert not is_patched(), "a test left patch mode on"


def snapshot() -> Dict[Any, Any]:
    snap: Dict[Any, Any] = {("init", n): getattr(init, n)
                            for n in NN_INIT_NAMES if hasattr(init, n)}
    snap.update({c: getattr(sys.modules[c[0]], c[1]) for c in COPIES})
    for m in ("uniform_", "normal_"):
        snap[("Tensor", m)] = getattr(torch.Tensor, m)
        snap[("own", m)] = m in vars(torch.Tensor)
    return snap


def assert_identical(a: Dict[Any, Any], b: Dict[Any, Any]) -> None:
    assert a.keys() == b.keys()
    changed = [k for k in a if a[k] is not b[k]]
    assert not changed, f"not restored: {changed}"


def g(seed: int) -> Any:
    return torch.Generator().manual_seed(seed)


# --- restoration ----------------------------------------------------------------------------

def test_names_routed_and_restored() -> None:
    assert len(ROUTED) >= 15, f"nn_init lacks names: {set(NN_INIT_NAMES) - set(ROUTED)}"
    before = snapshot()
    with patch():
        assert is_patched()
        inside = snapshot()
        for n in ROUTED:
            assert inside[("init", n)] is not before[("init", n)], n
        for c in COPIES:
            assert inside[c] is not before[c], c
        assert torch.Tensor.uniform_ is not before[("Tensor", "uniform_")]
        assert torch.Tensor.normal_ is not before[("Tensor", "normal_")]
    assert_identical(before, snapshot())
    assert torch.Tensor.uniform_ is torch._C.TensorBase.uniform_
    assert "uniform_" not in vars(torch.Tensor) and "normal_" not in vars(torch.Tensor)


def test_restored_after_exception() -> None:
    before = snapshot()
    with pytest.raises(KeyError, match="boom"), patch():
        nn.Linear(8, 8)
        raise KeyError("boom")
    assert_identical(before, snapshot())


def test_nested_reentrant_and_decorator() -> None:
    before = snapshot()
    p = patch()
    with p:
        patched = snapshot()
        with p, patch():
            assert_identical(patched, snapshot())  # re-entry installs nothing new
        assert is_patched()
        assert_identical(patched, snapshot())  # inner exits keep the outer patch

        @patch()
        def build() -> Any:
            return nn.Linear(4, 4)

        build()
        assert is_patched()
    assert_identical(before, snapshot())
    assert build().weight.shape == (4, 4) and not is_patched()


def test_enable_disable() -> None:
    before = snapshot()
    patch_enable()
    patch_enable()  # idempotent
    assert is_patched()
    with patch():
        patch_disable()  # the with block still holds it
        assert is_patched()
    assert_identical(before, snapshot())
    patch_disable()  # no-op
    patch_enable()
    with patch():
        pass
    assert is_patched()
    patch_disable()
    assert_identical(before, snapshot())


def test_copies_made_while_patched_are_restored() -> None:
    original = init.xavier_uniform_
    mod = types.ModuleType("_fastinit_test_late_import")
    try:
        with patch():  # a module imported inside the block binds the routed function
            sys.modules[mod.__name__] = mod
            exec("from torch.nn.init import xavier_uniform_", vars(mod))  # noqa: S102
            assert mod.xavier_uniform_ is not original
        assert mod.xavier_uniform_ is original
    finally:
        del sys.modules[mod.__name__]


def test_references_captured_while_patched_are_torchs_after_exit() -> None:
    # transformers keeps TORCH_INIT_FUNCTIONS, a dict of torch.nn.init functions taken at
    # import; imported inside a patch block, it holds the routed ones after the block
    original = init.normal_
    with patch():
        captured = {"normal_": init.normal_, "uniform_": torch.Tensor.uniform_}
        assert captured["normal_"] is not original
    w = torch.empty(64, 64)
    torch.manual_seed(3)
    captured["normal_"](w, 0.0, 1.0)
    torch.manual_seed(3)
    assert torch.equal(w, original(torch.empty(64, 64), 0.0, 1.0))  # torch's numbers
    torch.manual_seed(4)
    captured["uniform_"](w)
    torch.manual_seed(4)
    assert torch.equal(w, torch.empty(64, 64).uniform_())


def test_environment_variable() -> None:
    code = ("import fastinit, torch, torch.nn.init as I\n"
            "assert fastinit.is_patched()\n"
            "assert I.kaiming_uniform_.__module__.startswith('fastinit')\n"
            "fastinit.patch_disable()\n"
            "assert not fastinit.is_patched()\n"
            "assert I.kaiming_uniform_.__module__ == 'torch.nn.init'\n"
            "print('ok')\n")
    env = dict(os.environ, FASTINIT_PATCH="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    env["FASTINIT_PATCH"] = "0"
    out = subprocess.run([sys.executable, "-c", "import fastinit; print(fastinit.is_patched())"],
                         env=env, capture_output=True, text=True, check=False)
    assert out.stdout.strip() == "False", out.stderr


# --- Tensor.uniform_ / Tensor.normal_ -------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16",
                                   "float8_e4m3fn", "float8_e5m2"])
def test_tensor_methods_use_fastinit(dtype: str) -> None:
    dt = getattr(torch, dtype)
    a, b = torch.empty(50, 30, dtype=dt), torch.empty(50, 30, dtype=dt)
    with patch():
        a.uniform_(-2, 3, generator=g(1))
    fastinit.uniform_(b, -2, 3, generator=g(1))
    assert torch.equal(a.view(torch.uint8), b.view(torch.uint8))
    with patch():
        a.uniform_(**{"from": -1, "to": 0.5}, generator=g(2))
    fastinit.uniform_(b, -1, 0.5, generator=g(2))
    assert torch.equal(a.view(torch.uint8), b.view(torch.uint8))
    with patch():
        a.normal_(1.5, std=0.25, generator=g(3))
    fastinit.normal_(b, 1.5, 0.25, generator=g(3))
    assert torch.equal(a.view(torch.uint8), b.view(torch.uint8))
    with patch():
        torch.manual_seed(4)
        a.normal_()  # default generator, exactly as if passed
    fastinit.normal_(b, generator=g(4))
    assert torch.equal(a.view(torch.uint8), b.view(torch.uint8))


def test_float8_works_only_under_patch() -> None:
    t = torch.empty(10, dtype=torch.float8_e4m3fn)
    with pytest.raises(NotImplementedError):
        t.uniform_()
    with patch():
        t.uniform_(-1, 1, generator=g(0))
    assert t.float().abs().max() <= 1


def same_as_torch(make: Callable[[], Any], call: Callable[[Any], Any]) -> None:
    """Under patch, ``call`` on ``make()`` gives exactly what unpatched torch gives."""
    torch.manual_seed(11)
    expected = call(make())
    with patch():
        torch.manual_seed(11)
        got = call(make())
    assert torch.equal(got, expected)


def test_tensor_method_fallbacks_are_torch() -> None:
    same_as_torch(lambda: torch.empty(20, dtype=torch.int64), lambda t: t.random_())
    same_as_torch(lambda: torch.empty(20, dtype=torch.int32), lambda t: t.random_(0, 10))
    same_as_torch(lambda: torch.empty(20, dtype=torch.complex64), lambda t: t.normal_())
    same_as_torch(lambda: torch.empty(20, dtype=torch.complex64), lambda t: t.uniform_())

    class Sub(torch.Tensor):
        pass

    same_as_torch(lambda: torch.empty(20).as_subclass(Sub), lambda t: t.uniform_(0, 2))
    same_as_torch(lambda: torch.empty(4), lambda t: t.uniform_(torch.tensor(0.0), 2))


@pytest.mark.parametrize(("call", "exc", "text"), [
    (lambda: torch.empty(3, dtype=torch.int64).uniform_(), NotImplementedError,
     '"check_uniform_bounds" not implemented for \'Long\''),
    (lambda: torch.empty(3, dtype=torch.int64).normal_(), NotImplementedError,
     '"normal_kernel_cpu" not implemented for \'Long\''),
    (lambda: torch.empty(3).uniform_(1, 0), RuntimeError,
     "uniform_ expects to return a [from, to) range, but found from=1 > to=0"),
    (lambda: torch.empty(3).normal_(0, -1), RuntimeError, "normal expects std >= 0.0"),
    (lambda: torch.empty(3, dtype=torch.half).uniform_(-1e5, 1e5), RuntimeError,
     "from is out of bounds"),
    (lambda: torch.empty(3, requires_grad=True).uniform_(), RuntimeError,
     "a leaf Variable that requires grad is being used in an in-place operation"),
    (lambda: torch.empty(3).expand(2, 3).uniform_(), RuntimeError,
     "more than one element of the written-to tensor refers to a single memory location"),
    (lambda: torch.empty(3).uniform_(0, 1, 2), TypeError, "positional argument"),
])
def test_tensor_method_errors_are_torchs(call: Callable[[], Any], exc: type, text: str) -> None:
    with patch(), pytest.raises(exc) as info:
        call()
    assert text in str(info.value)


def test_tensor_methods_no_grad_meta_and_views() -> None:
    w = torch.empty(6, 5, requires_grad=True)
    with patch(), torch.no_grad():
        w.uniform_(-1, 1, generator=g(5))
    ref = fastinit.uniform_(torch.empty(6, 5), -1, 1, generator=g(5))
    assert torch.equal(w.detach(), ref) and w.requires_grad and w.grad_fn is None
    m = torch.empty(4, 4, device="meta")
    with patch():
        assert m.uniform_() is m and m.normal_() is m
    base = torch.zeros(8, 6)
    with patch():
        base.t().normal_(generator=g(6))  # non-contiguous view: its own logical indices
    assert torch.equal(base.t(), fastinit.normal_(torch.empty(6, 8), generator=g(6)))


def test_modes_fall_back_to_torch_and_device_context_does_not() -> None:
    from torch.utils._python_dispatch import TorchDispatchMode

    seen = []

    class Log(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                               kwargs: Any = None) -> Any:
            seen.append(str(func))
            return func(*args, **(kwargs or {}))

    with patch():
        with Log():
            torch.empty(3).uniform_()
            init.normal_(torch.empty(3))
        assert "aten.uniform_.default" in seen and "aten.normal_.default" in seen
        with torch.device("cpu"):  # a torch-function mode that only sets devices
            torch.manual_seed(0)
            a = nn.Linear(16, 16).weight
        assert torch.equal(a, fastinit.uniform_(torch.empty(16, 16), -0.25, 0.25,
                                                generator=g(0)))
        with torch.device("meta"):
            assert nn.Linear(1 << 16, 1 << 16).weight.is_meta


# --- model construction ---------------------------------------------------------------------

def build(kind: str) -> nn.Module:
    if kind == "linear":
        return nn.Linear(4096, 4096)
    if kind == "conv2d":
        return nn.Conv2d(128, 256, 3)
    if kind == "embedding":
        return nn.Embedding(2000, 500, padding_idx=3)
    if kind == "layernorm":
        return nn.LayerNorm(512)
    return nn.MultiheadAttention(256, 8, add_bias_kv=True)


@pytest.mark.parametrize("kind", ["linear", "conv2d", "embedding", "layernorm", "mha"])
def test_construction_reproducible_and_fastinit(kind: str) -> None:
    with patch():
        torch.manual_seed(1)
        a = build(kind).state_dict()
        torch.manual_seed(1)
        b = build(kind).state_dict()
    torch.manual_seed(1)
    plain = build(kind).state_dict()
    assert a.keys() == b.keys() == plain.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
        if plain[k].min() != plain[k].max():  # random: fastinit's values, not torch's
            assert not torch.equal(a[k], plain[k]), k


def test_linear_is_exactly_fastinit() -> None:
    with patch():
        torch.manual_seed(7)
        lin = nn.Linear(300, 200)
    torch.manual_seed(7)  # kaiming_uniform_(a=sqrt(5)) then uniform_(bias), one draw each
    gain = math.sqrt(2.0 / (1 + 5))
    w = fastinit.uniform_(torch.empty(200, 300), -math.sqrt(3.0) * gain / math.sqrt(300),
                          math.sqrt(3.0) * gain / math.sqrt(300))
    bias = fastinit.uniform_(torch.empty(200), -1 / math.sqrt(300), 1 / math.sqrt(300))
    torch.testing.assert_close(lin.weight.detach(), w, rtol=0, atol=1e-7)
    torch.testing.assert_close(lin.bias.detach(), bias, rtol=0, atol=1e-7)


def test_module_distributions() -> None:
    with patch():
        torch.manual_seed(0)
        lin, conv, emb = build("linear"), build("conv2d"), build("embedding")
        ln, mha = build("layernorm"), build("mha")
    for w, fan_in in ((lin.weight, 4096), (lin.bias, 4096), (conv.weight, 128 * 9),
                      (conv.bias, 128 * 9)):
        x, bound = w.detach().double(), 1 / math.sqrt(fan_in)
        assert x.abs().max() < bound and x.abs().max() > 0.99 * bound  # U(±1/sqrt(fan_in))
        if x.numel() > 10**5:
            assert abs(x.std().item() / (bound / math.sqrt(3)) - 1) < 0.01
    e = emb.weight.detach().double()
    assert (e[3] == 0).all()
    assert abs(e.std().item() - 1) < 0.01 and abs(e.mean().item()) < 0.01
    assert torch.equal(ln.weight, torch.ones(512)) and torch.equal(ln.bias, torch.zeros(512))
    ip = mha.in_proj_weight.detach()  # xavier_uniform_ on (3E, E)
    bound = math.sqrt(6 / (256 + 768))
    assert ip.abs().max() <= bound and ip.abs().max() > 0.99 * bound
    assert (mha.in_proj_bias == 0).all() and (mha.out_proj.bias == 0).all()
    bk = mha.bias_k.detach()  # xavier_normal_ on (1, 1, E): std sqrt(2 / (E + E))
    assert 0.7 < bk.std().item() / math.sqrt(1 / 256) < 1.3


def test_construction_speed_printed() -> None:
    """Measured and printed (run with -s), never asserted."""
    timings = {}
    for label, ctx in (("torch", None), ("patch", patch)):
        best = math.inf
        for _ in range(2):
            t0 = time.perf_counter()
            if ctx is None:
                nn.Linear(4096, 4096)
            else:
                with ctx():
                    nn.Linear(4096, 4096)
            best = min(best, time.perf_counter() - t0)
        timings[label] = best
    print(f"\nnn.Linear(4096, 4096) construction: torch {timings['torch'] * 1e3:.1f} ms, "
          f"fastinit.patch {timings['patch'] * 1e3:.1f} ms "
          f"({timings['torch'] / timings['patch']:.1f}x)")


# --- torch test_init-style assertions through torch.nn.init under patch ---------------------

def ks_ok(x: Any, dist: str, args: Tuple[float, ...]) -> bool:
    return stats.kstest(np.asarray(x.detach().double()).ravel(), dist, args=args).pvalue > 1e-4


CASES = [  # (name, shape, args, kwargs, scipy distribution and args, from the tensor shape)
    ("uniform_", (40, 50), (-0.5, 1.5), {}, lambda s: ("uniform", (-0.5, 2.0))),
    ("normal_", (40, 50), (0.3, 2.0), {}, lambda s: ("norm", (0.3, 2.0))),
    ("trunc_normal_", (40, 50), (0.0, 1.0, -1.0, 1.5), {},
     lambda s: ("truncnorm", (-1.0, 1.5))),
    ("xavier_uniform_", (30, 40), (1.5,), {},
     lambda s: ("uniform", (-1.5 * math.sqrt(6 / 70), 3 * math.sqrt(6 / 70)))),
    ("xavier_normal_", (20, 25, 3), (0.5,), {},
     lambda s: ("norm", (0, 0.5 * math.sqrt(2 / (25 * 3 + 20 * 3))))),
    ("kaiming_uniform_", (40, 30), (), {"a": 0.3, "mode": "fan_out"},
     lambda s: ("uniform", (-math.sqrt(6 / 1.09 / 40), 2 * math.sqrt(6 / 1.09 / 40)))),
    ("kaiming_normal_", (20, 22, 2, 2), (), {"a": 0.0, "mode": "fan_in", "nonlinearity": "relu"},
     lambda s: ("norm", (0, math.sqrt(2 / 88)))),
]


@pytest.mark.parametrize(("name", "shape", "args", "kw", "dist"), CASES,
                         ids=[c[0] for c in CASES])
def test_torch_nn_init_through_patch(name: str, shape: Tuple[int, ...], args: tuple, kw: dict,
                                     dist: Callable[..., Any]) -> None:
    a, b, c = torch.empty(shape), torch.empty(shape), torch.empty(shape)
    with patch():
        getattr(init, name)(a, *args, **kw, generator=g(1))
    getattr(nn_init, name)(b, *args, **kw, generator=g(1))
    assert torch.equal(a, b), "torch.nn.init under patch must be fastinit.nn_init"
    getattr(init, name)(c, *args, **kw, generator=g(1))
    assert not torch.equal(a, c), "unpatched torch must give torch's own values"
    scipy_name, scipy_args = dist(shape)
    if name == "trunc_normal_":
        assert a.min() >= -1.0 and a.max() <= 1.5
    assert ks_ok(a, scipy_name, scipy_args)


def test_normal_through_patch_equals_fastinit_fill() -> None:
    t, t2 = torch.empty(100, 10), torch.empty(100, 10)
    with patch():
        init.normal_(t, generator=g(1))
    fastinit.normal_(t2, generator=g(1))
    assert torch.equal(t, t2)


def test_trunc_normal_generator_equals_manual_seed_under_patch() -> None:
    a, b = torch.empty(1000), torch.empty(1000)
    with patch():
        torch.manual_seed(42)
        init.trunc_normal_(a)
        init.trunc_normal_(b, generator=g(42))
    assert torch.equal(a, b)


def test_calculate_gain_and_fans_under_patch() -> None:
    with patch():
        assert init.calculate_gain("linear") == 1
        assert init.calculate_gain("tanh") == pytest.approx(5 / 3, abs=0, rel=1e-15)
        assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2), abs=0, rel=1e-15)
        assert init.calculate_gain("leaky_relu") == pytest.approx(1.4141428569978354, rel=1e-15)
        assert init.calculate_gain("leaky_relu", 10) == pytest.approx(0.14071950894605836,
                                                                      rel=1e-15)
        assert init.calculate_gain("selu") == 0.75
        assert init._calculate_fan_in_and_fan_out(torch.empty(5, 4, 3, 2)) == (24, 30)
        assert init._calculate_correct_fan(torch.empty(5, 4, 3, 2), "fan_out") == 30
        with pytest.raises(ValueError, match="Unsupported nonlinearity gelu"):
            init.calculate_gain("gelu")
        with pytest.raises(ValueError, match="negative_slope True not a valid number"):
            init.calculate_gain("leaky_relu", True)


def test_private_helpers_under_patch() -> None:
    a, b = torch.empty(30), torch.empty(30)
    with patch():
        init._no_grad_uniform_(a, -1, 1, generator=g(3))
    fastinit.uniform_(b, -1, 1, generator=g(3))
    assert torch.equal(a, b)
    with patch():
        init._no_grad_normal_(a, 0, 2, generator=g(3))
        init._no_grad_trunc_normal_(b, 0, 1, -1, 1, generator=g(3))
        assert b.abs().max() <= 1
        init._no_grad_fill_(a, 2.5)
        assert (a == 2.5).all()
        init._no_grad_zero_(a)
        assert (a == 0).all()


def test_exact_initializers_under_patch() -> None:
    with patch():
        t = torch.empty(5, 7)
        assert (init.constant_(t, 0.25) == 0.25).all()
        assert (init.ones_(t) == 1).all() and (init.zeros_(t) == 0).all()
        assert torch.equal(init.eye_(t), torch.eye(5, 7))
        for dims, conv in ((1, F.conv1d), (2, F.conv2d), (3, F.conv3d)):
            for groups in (1, 3):
                w = torch.empty((6, 6 // groups) + (3,) * dims)
                init.dirac_(w, groups)
                x = torch.randn((2, 6) + (5,) * dims)
                y = conv(x, w, padding=1, groups=groups)
                torch.testing.assert_close(y, x)
        q = torch.empty(20, 2, 3, 4)
        init.orthogonal_(q, gain=2.0)
        flat = q.view(20, -1)  # 20 x 24: orthonormal rows
        torch.testing.assert_close(flat @ flat.T, 4 * torch.eye(20), atol=1e-5, rtol=0)
        s = torch.empty(30, 20)
        init.sparse_(s, 0.3, std=0.5)
        assert ((s == 0).sum(0) >= math.ceil(0.3 * 30)).all()
        assert ks_ok(s[s != 0], "norm", (0, 0.5))


def test_errors_and_warnings_under_patch() -> None:
    with patch():
        with pytest.raises(ValueError, match="Fan in and fan out can not be computed for "
                                             "tensor with fewer than 2 dimensions"):
            init.xavier_uniform_(torch.empty(3))
        with pytest.raises(ValueError, match=r"Mode bad not supported, please use one of "
                                             r"\['fan_in', 'fan_out'\]"):
            init.kaiming_uniform_(torch.empty(3, 4), mode="bad")
        with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
            init.eye_(torch.empty(3, 4, 5))
        with pytest.raises(ValueError, match="Only tensors with 3, 4, or 5 dimensions are "
                                             "supported"):
            init.dirac_(torch.empty(3, 4))
        with pytest.raises(ValueError, match="Only tensors with 2 or more dimensions are "
                                             "supported"):
            init.orthogonal_(torch.empty(3))
        with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
            init.kaiming_uniform_(torch.empty(0, 3))
        with pytest.warns(FutureWarning, match="deprecated in favor of"):
            init.uniform(torch.empty(3, 3))


def test_nn_init_fallbacks_under_patch() -> None:
    with patch(), pytest.raises(NotImplementedError, match="check_uniform_bounds"):
        init.uniform_(torch.empty(3, dtype=torch.int64))
    same_as_torch(lambda: torch.empty(6, 6, dtype=torch.complex64), init.xavier_uniform_)
    same_as_torch(lambda: torch.empty(6, 6, dtype=torch.complex64), init.normal_)


def test_fastinit_never_calls_the_patched_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """fastinit's own code must not go through torch.nn.init.* or Tensor.uniform_/normal_
    (under patch those are fastinit's, so the call would recurse or double-route)."""
    def trap(name: str) -> Callable[..., Any]:
        def tripped(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"fastinit called {name}")
        return tripped

    for n in NN_INIT_NAMES:
        if hasattr(init, n):
            monkeypatch.setattr(init, n, trap(f"torch.nn.init.{n}"))
    monkeypatch.setattr(torch.Tensor, "uniform_", trap("Tensor.uniform_"), raising=False)
    monkeypatch.setattr(torch.Tensor, "normal_", trap("Tensor.normal_"), raising=False)
    w = torch.empty(12, 8, 3, 3)
    for name, args in (("uniform_", ()), ("normal_", ()), ("trunc_normal_", ()),
                       ("xavier_uniform_", ()), ("xavier_normal_", ()),
                       ("kaiming_uniform_", ()), ("kaiming_normal_", ()),
                       ("orthogonal_", ()), ("dirac_", ()), ("constant_", (0.5,)),
                       ("zeros_", ()), ("ones_", ())):
        getattr(nn_init, name)(w, *args)
    nn_init.eye_(torch.empty(4, 4))
    nn_init.sparse_(torch.empty(10, 6), 0.5)
    nn_init._calculate_fan_in_and_fan_out(w)
    for fn in (fastinit.he_normal_, fastinit.glorot_uniform_, fastinit.lecun_normal_,
               fastinit.variance_scaling_, fastinit.uniform_unit_scaling_,
               fastinit.variance_scaling_tf1_, fastinit.delta_orthogonal_):
        fn(w)


@pytest.mark.cuda
@pytest.mark.skipif(not fastinit.cuda_available(), reason="needs a CUDA GPU")
def test_cuda_construction_equals_cpu() -> None:
    """On CUDA the key still comes from torch's default CPU generator, and fastinit's CUDA
    values equal its CPU values, so a model built on the GPU under patch equals the CPU one."""
    with patch():
        torch.manual_seed(3)
        cpu = nn.Linear(512, 256).state_dict()
        torch.manual_seed(3)
        gpu = nn.Linear(512, 256, device="cuda").state_dict()
        torch.manual_seed(3)
        with torch.device("cuda"):
            ctx = nn.Linear(512, 256).state_dict()
    for k in cpu:
        assert torch.equal(gpu[k].cpu(), cpu[k]) and torch.equal(ctx[k].cpu(), cpu[k]), k


def test_transformers_imported_inside_a_block_keeps_torchs_functions_after_it():
    """transformers.initialization.TORCH_INIT_FUNCTIONS captures torch.nn.init's functions at
    import; imported inside a patch block it holds the routed ones. After the block, a model
    built plainly must get torch's own numbers (the routed functions check at call time)."""
    pytest.importorskip("transformers")
    code = (
        "import sys; sys.path.insert(0, 'tests'); import conftest, torch, fastinit\n"
        "with fastinit.patch():\n"
        "    import transformers.initialization as hf\n"
        "captured = hf.TORCH_INIT_FUNCTIONS['normal_']\n"
        "assert getattr(captured, '__fastinit_original__', None) is not None\n"
        "w, v = torch.empty(64, 64), torch.empty(64, 64)\n"
        "torch.manual_seed(0); captured(w, 0.0, 0.02)\n"
        "torch.manual_seed(0); torch.nn.init.normal_(v, 0.0, 0.02)\n"
        "assert torch.equal(w, v), 'fastinit numbers outside the block'\n"
        "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]

"""fastinit.nn_init: PyTorch's own test/nn/test_init.py assertions, run against fastinit, plus
what fastinit adds (NumPy targets, seeds, shards, bf16/fp16/fp8 orthogonal_, sparse_'s seeded
mask, in-place writes into non-contiguous views, no autograd)."""

from __future__ import annotations

import math
import random
import string
import warnings
from typing import Any, Callable, Iterator, List

import numpy as np
import pytest

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")

import torch.nn.functional as F  # noqa: E402

import fastinit  # noqa: E402
from fastinit import nn_init as init  # noqa: E402


@pytest.fixture(autouse=True)
def _seeded() -> Iterator[None]:
    """PyTorch's TestCase.setUp seeds torch with 1234, TestNNInit adds random.seed(123);
    fastinit's global generator (unseeded NumPy fills) is seeded too, so every KS test here is
    deterministic."""
    fastinit.manual_seed(1234)
    torch.manual_seed(1234)
    random.seed(123)
    yield


# --- PyTorch's helpers ----------------------------------------------------------------------

def samples(t: Any) -> List[float]:
    if isinstance(t, np.ndarray):
        return t.astype(np.float64).ravel().tolist()
    return t.detach().double().reshape(-1).tolist()


def is_normal(t: Any, mean: float, std: float) -> bool:
    return stats.kstest(samples(t), "norm", args=(mean, std))[1] > 0.0001


def is_trunc_normal(t: Any, mean: float, std: float, a: float, b: float) -> bool:
    z = [(x - mean) / std for x in samples(t)]
    return stats.kstest(z, "truncnorm", args=((a - mean) / std, (b - mean) / std))[1] > 0.0001


def is_uniform(t: Any, a: float, b: float) -> bool:
    return stats.kstest(samples(t), "uniform", args=(a, b - a))[1] > 0.0001


def random_nd(dims: int, size_min: int, size_max: int, lib: str = "torch") -> Any:
    size = [random.randint(size_min, size_max) for _ in range(dims)]
    return torch.zeros(size) if lib == "torch" else np.zeros(size, dtype=np.float32)


def random_float(a: float, b: float) -> float:
    return (b - a) * random.random() + a


def fans(t: Any) -> tuple:
    shape = tuple(t.shape)
    rf = math.prod(shape[2:])
    return shape[1] * rf, shape[0] * rf


LIBS = ["torch", "numpy"]


# --- calculate_gain -------------------------------------------------------------------------

def test_calculate_gain_linear() -> None:
    for fn in ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d", "sigmoid"]:
        assert init.calculate_gain(fn) == 1


def test_calculate_gain_nonlinear() -> None:
    assert init.calculate_gain("tanh") == 1.6666666666666667
    assert init.calculate_gain("relu") == 1.4142135623730951
    assert init.calculate_gain("leaky_relu") == 1.4141428569978354
    assert init.calculate_gain("selu") == 0.75


def test_calculate_gain_leaky_relu() -> None:
    for param, gain in ((None, 1.4141428569978354), (0, 1.4142135623730951),
                        (0.01, 1.4141428569978354), (10, 0.14071950894605836)):
        assert init.calculate_gain("leaky_relu", param) == gain


def test_calculate_gain_leaky_relu_only_accepts_numbers() -> None:
    for param in [True, [1], {"a": "b"}]:
        with pytest.raises(ValueError):
            init.calculate_gain("leaky_relu", param)


def test_calculate_gain_only_accepts_valid_nonlinearities() -> None:
    for n in [2, 5, 25]:
        name = "".join(random.choice(string.ascii_lowercase) for _ in range(n))
        with pytest.raises(ValueError):
            init.calculate_gain(name)


# --- uniform_ / normal_ / trunc_normal_ -----------------------------------------------------

@pytest.mark.parametrize("lib", LIBS)
def test_uniform(lib: str) -> None:
    for dims in [1, 2, 4]:
        t = random_nd(dims, 30, 50, lib)
        a = random_float(-3, 3)
        b = a + random_float(1, 5)
        init.uniform_(t, a=a, b=b)
        assert is_uniform(t, a, b)
        assert t.min() >= a and t.max() < b


@pytest.mark.parametrize("lib", LIBS)
def test_normal(lib: str) -> None:
    for dims in [1, 2, 4]:
        t = random_nd(dims, 30, 50, lib)
        mean = random_float(-3, 3)
        std = random_float(1, 5)
        init.normal_(t, mean=mean, std=std)
        assert is_normal(t, mean, std)


def test_trunc_normal_generator() -> None:
    gen = torch.Generator()
    gen.manual_seed(42)
    t = torch.empty(5)
    init.trunc_normal_(t, generator=gen)
    ref = torch.empty(5)
    torch.manual_seed(42)
    init.trunc_normal_(ref)
    assert torch.equal(t, ref)  # bitwise
    assert is_trunc_normal(t, mean=0, std=1, a=-2, b=2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("dims", [1, 2, 4])
def test_trunc_normal_all_dtypes(dims: int, dtype: Any) -> None:
    t = torch.zeros([random.randint(30, 50) for _ in range(dims)], dtype=dtype)
    mean = random.uniform(-3, 3)
    std = random.uniform(0.01, 1)
    a = random.uniform(mean - 2 * std, mean)
    b = random.uniform(mean, mean + 2 * std)
    init.trunc_normal_(t, mean=mean, std=std, a=a, b=b)
    assert t.min().item() >= torch.tensor(a, dtype=dtype).item()
    assert t.max().item() <= torch.tensor(b, dtype=dtype).item()
    assert is_trunc_normal(t.float(), mean, std, a, b)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_trunc_normal_low_precision(dtype: Any) -> None:
    t = torch.empty(10000, dtype=dtype)
    init.trunc_normal_(t, mean=0.0, std=1.0, a=-2.0, b=2.0)
    assert t.min().item() >= -2.0 and t.max().item() <= 2.0
    assert is_trunc_normal(t.float(), 0.0, 1.0, -2.0, 2.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_trunc_normal_narrow_interval(dtype: Any) -> None:
    t = torch.empty(10000, dtype=dtype)
    init.trunc_normal_(t, mean=0.0, std=1.0, a=2.0, b=3.0)
    assert t.min().item() >= 2.0 and t.max().item() <= 3.0
    assert is_trunc_normal(t.float(), 0.0, 1.0, 2.0, 3.0)


@pytest.mark.parametrize(("dtype", "min_unique"), [(torch.float32, 5000), (torch.float64, 5000),
                                                   (torch.float16, 3000),
                                                   (torch.bfloat16, 1000)])
def test_trunc_normal_unique_values(dtype: Any, min_unique: int) -> None:
    t = torch.empty(10000, dtype=dtype)
    init.trunc_normal_(t, mean=0.0, std=1.0, a=-2.0, b=2.0)
    assert t.min().item() >= -2.0 and t.max().item() <= 2.0
    assert t.unique().numel() > min_unique
    assert not t.isinf().any() and not t.isnan().any()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_trunc_normal_no_boundary_values_small_std(dtype: Any) -> None:
    t = torch.empty(10000, dtype=dtype)
    init.trunc_normal_(t, mean=0.0, std=0.1, a=-2.0, b=2.0)
    assert (t == -2.0).sum().item() == 0 and (t == 2.0).sum().item() == 0


def test_trunc_normal_one_sided_and_negative_std() -> None:
    """Infinite bounds are one-sided truncations (torch accepts them); std < 0 samples |std|,
    as torch 2.13's rejection sampler does."""
    t = init.trunc_normal_(torch.empty(20000, dtype=torch.float64), 0.0, 1.0, 0.0, math.inf,
                           seed=3)
    assert t.min() >= 0 and is_trunc_normal(t, 0.0, 1.0, 0.0, math.inf)
    t = init.trunc_normal_(torch.empty(20000), 1.0, 2.0, -math.inf, 0.5, seed=4)
    assert t.max() <= 0.5 and is_trunc_normal(t, 1.0, 2.0, -math.inf, 0.5)
    both = init.trunc_normal_(torch.empty(20000), 0.0, 1.0, -math.inf, math.inf, seed=5)
    assert is_normal(both, 0.0, 1.0)
    with pytest.warns(UserWarning, match="mean is more than 2 std"):  # torch warns too
        neg = init.trunc_normal_(torch.empty(100), 0.0, -1.0, -1.0, 1.0, seed=6)
    assert torch.equal(neg, init.trunc_normal_(torch.empty(100), 0.0, 1.0, -1.0, 1.0, seed=6))


# --- constant_ / ones_ / zeros_ / eye_ / dirac_ ---------------------------------------------

@pytest.mark.parametrize("lib", LIBS)
def test_constant(lib: str) -> None:
    for dims in [1, 2, 4]:
        t = random_nd(dims, 1, 5, lib)
        val = random_float(1, 10)
        init.constant_(t, val)
        expected = np.float32(val) if lib == "numpy" else torch.tensor(val).item()
        assert (t == expected).all()


@pytest.mark.parametrize("lib", LIBS)
def test_ones_and_zeros(lib: str) -> None:
    for fn, val in zip([init.ones_, init.zeros_], [1, 0]):
        for dims in [1, 2, 4]:
            t = random_nd(dims, 1, 5, lib) + 7
            fn(t)
            assert (t == val).all()


@pytest.mark.parametrize("lib", LIBS)
def test_eye(lib: str) -> None:
    t = random_nd(2, 1, 5, lib)
    t += 3
    init.eye_(t)
    for i in range(t.shape[0]):
        for j in range(t.shape[1]):
            assert t[i][j] == (1 if i == j else 0)


@pytest.mark.parametrize("lib", LIBS)
def test_eye_only_works_on_2d_inputs(lib: str) -> None:
    for dims in [1, 3]:
        with pytest.raises(ValueError):
            init.eye_(random_nd(dims, 1, 3, lib))


@pytest.mark.parametrize("lib", LIBS)
def test_dirac_properties(lib: str) -> None:
    for dims in [3, 4, 5]:
        for groups in [1, 2, 3]:
            a, c, d, e = (random.randint(1, 5) for _ in range(4))
            b = random.randint(1, 5 * groups)
            t = torch.randn((a * groups, b, c, d, e)[:dims])
            if lib == "numpy":
                t = t.numpy()
            init.dirac_(t, groups)
            min_d = min(t.shape[0] // groups, t.shape[1])
            assert np.count_nonzero(np.asarray(t)) == min_d * groups
            assert float(t.sum()) == min_d * groups


@pytest.mark.parametrize("groups", [1, 3])
@pytest.mark.parametrize(("dims", "conv"), [(1, F.conv1d), (2, F.conv2d), (3, F.conv3d)])
def test_dirac_identity(groups: int, dims: int, conv: Callable[..., Any]) -> None:
    batch, in_c, out_c, size, kernel_size = 8, 3, 9, 5, 3
    eff_out_c = out_c // groups
    x = torch.randn((batch, in_c) + (size,) * dims)
    w = torch.cat([torch.zeros((eff_out_c, in_c) + (kernel_size,) * dims)] * groups)
    init.dirac_(w, groups)
    y = conv(x, w)
    inner = (slice(None), slice(None)) + (slice(1, -1),) * dims
    for g in range(groups):
        torch.testing.assert_close(x[inner], y[:, eff_out_c * g: eff_out_c * g + in_c])
        assert torch.count_nonzero(y[:, eff_out_c * g + in_c: eff_out_c * (g + 1)]) == 0
    xg = torch.randn((2, 6) + (5,) * dims)  # grouped conv, in == out channels
    wg = init.dirac_(torch.empty((6, 6 // groups) + (3,) * dims), groups)
    torch.testing.assert_close(conv(xg, wg, padding=1, groups=groups), xg)


def test_dirac_only_works_on_3_4_5d_inputs() -> None:
    for dims in [1, 2, 6]:
        with pytest.raises(ValueError):
            init.dirac_(random_nd(dims, 1, 3))


# --- xavier / kaiming -----------------------------------------------------------------------

@pytest.mark.parametrize("fn", [init.xavier_uniform_, init.xavier_normal_,
                                init.kaiming_uniform_, init.kaiming_normal_])
def test_errors_on_inputs_smaller_than_2d(fn: Callable[..., Any]) -> None:
    for dims in [0, 1]:
        with pytest.raises(ValueError):
            fn(random_nd(dims, 1, 1))


@pytest.mark.parametrize("lib", LIBS)
def test_xavier_uniform(lib: str) -> None:
    for use_gain in [True, False]:
        for dims in [2, 4]:
            t = random_nd(dims, 20, 25, lib)
            gain = random_float(0.1, 2) if use_gain else 1
            init.xavier_uniform_(t, gain=gain) if use_gain else init.xavier_uniform_(t)
            fan_in, fan_out = fans(t)
            bound = gain * math.sqrt(2.0 / (fan_in + fan_out)) * math.sqrt(3)
            assert is_uniform(t, -bound, bound)


@pytest.mark.parametrize("lib", LIBS)
def test_xavier_normal(lib: str) -> None:
    for use_gain in [True, False]:
        for dims in [2, 4]:
            t = random_nd(dims, 20, 25, lib)
            gain = random_float(0.1, 2) if use_gain else 1
            init.xavier_normal_(t, gain=gain) if use_gain else init.xavier_normal_(t)
            fan_in, fan_out = fans(t)
            assert is_normal(t, 0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


@pytest.mark.parametrize("fn", [init.kaiming_uniform_, init.kaiming_normal_])
def test_kaiming_warning_on_0element_tensor(fn: Callable[..., Any]) -> None:
    t = torch.empty(0, 1)
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        assert fn(t) is t
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        fn(np.empty((3, 0), dtype=np.float32))


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("dist", ["uniform", "normal"])
def test_kaiming(lib: str, dist: str) -> None:
    fn = init.kaiming_uniform_ if dist == "uniform" else init.kaiming_normal_
    for use_a in [True, False]:
        for dims in [2, 4]:
            for mode in ["fan_in", "fan_out"]:
                t = random_nd(dims, 20, 25, lib)
                if use_a:
                    a = random_float(0.1, 2)
                    fn(t, a=a, mode=mode)
                else:
                    a = 0
                    fn(t, mode=mode)
                n = fans(t)[0 if mode == "fan_in" else 1]
                std = math.sqrt(2.0 / ((1 + a**2) * n))
                ok = is_uniform(t, -std * math.sqrt(3), std * math.sqrt(3)) \
                    if dist == "uniform" else is_normal(t, 0, std)
                assert ok


def test_kaiming_mode_case_and_nonlinearity() -> None:
    t = init.kaiming_uniform_(torch.empty(30, 40), mode="FAN_OUT", nonlinearity="relu", seed=1)
    bound = math.sqrt(3) * math.sqrt(2) / math.sqrt(30)
    assert t.abs().max() < bound and t.abs().max() > 0.95 * bound


# --- sparse_ --------------------------------------------------------------------------------

def test_sparse_only_works_on_2d_inputs() -> None:
    for dims in [1, 3]:
        with pytest.raises(ValueError):
            init.sparse_(random_nd(dims, 1, 3), random_float(0.1, 0.9))


@pytest.mark.parametrize("lib", LIBS)
def test_sparse_default_std(lib: str) -> None:
    for use_random_std in [True, False]:
        t = random_nd(2, 30, 35, lib)
        rows = t.shape[0]
        sparsity = random_float(0.1, 0.2)
        std = 0.01
        if use_random_std:
            std = random_float(0.01, 0.2)
            init.sparse_(t, sparsity=sparsity, std=std)
        else:
            init.sparse_(t, sparsity=sparsity)
        zeros = np.asarray(t == 0).sum(0)
        assert (zeros >= math.ceil(sparsity * rows)).all()
        assert (zeros == math.ceil(sparsity * rows)).all()  # normal values are never 0
        assert is_normal(t[t != 0], 0, std)


def test_sparse_mask_honours_seed_and_generator() -> None:
    a = init.sparse_(torch.empty(64, 48), 0.5, seed=7)
    assert torch.equal(a, init.sparse_(torch.empty(64, 48), 0.5, seed=7))
    other = init.sparse_(torch.empty(64, 48), 0.5, seed=8)
    assert not torch.equal(a == 0, other == 0)
    g = init.sparse_(torch.empty(64, 48), 0.5, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(3)  # the default generator, exactly as if it had been passed
    assert torch.equal(g, init.sparse_(torch.empty(64, 48), 0.5))
    # NumPy arrays get the same values and the same mask for the same seed
    n = init.sparse_(np.empty((64, 48), dtype=np.float32), 0.5, seed=7)
    assert np.array_equal(n, a.numpy())
    # each row is zeroed about equally often: the mask is uniform over rows
    big = init.sparse_(torch.empty(40, 4000), 0.25, seed=9)
    per_row = (big == 0).sum(1).double() / 4000
    assert ((per_row - 0.25).abs() < 0.04).all()


def test_sparse_counts_follow_torch_slicing() -> None:
    for sparsity, expected in ((1.5, 10), (-0.1, 9), (0.0, 0), (0.01, 1)):
        t = init.sparse_(torch.empty(10, 6), sparsity, seed=1)
        assert ((t == 0).sum(0) == expected).all(), sparsity


# --- orthogonal_ ----------------------------------------------------------------------------

SIZES = [[3, 4], [4, 3], [20, 2, 3, 4], [2, 3, 4, 5]]


def assert_orthogonal(t: Any, gain: float, atol: float) -> None:
    x = torch.as_tensor(np.asarray(t, dtype=np.float64)) if isinstance(t, np.ndarray) \
        else t.detach().double()
    rows = x.shape[0]
    flat = x.reshape(rows, -1)
    cols = flat.shape[1]
    if rows > cols:
        product, n = flat.t() @ flat, cols
    else:
        product, n = flat @ flat.t(), rows
    torch.testing.assert_close(product, torch.eye(n, dtype=torch.float64) * gain**2,
                               atol=atol, rtol=0)


def test_orthogonal() -> None:
    for use_gain in [True, False]:
        for size in SIZES:
            t = torch.zeros(size)
            gain = random_float(0.1, 2) if use_gain else 1.0
            init.orthogonal_(t, gain=gain) if use_gain else init.orthogonal_(t)
            rows, cols = size[0], math.prod(size[1:])
            flat = t.view(rows, cols)  # the check in float32, exactly as PyTorch's test
            if rows > cols:
                torch.testing.assert_close(flat.t() @ flat, torch.eye(cols) * gain**2,
                                           atol=1e-6, rtol=0)
            else:
                torch.testing.assert_close(flat @ flat.t(), torch.eye(rows) * gain**2,
                                           atol=1e-6, rtol=0)


@pytest.mark.parametrize(("dtype", "atol"), [("float64", 1e-12), ("float32", 1e-6),
                                             ("float16", 4e-3), ("bfloat16", 3e-2),
                                             ("float8_e4m3fn", 0.3), ("float8_e5m2", 0.6)])
@pytest.mark.parametrize("size", SIZES + [[64, 64], [32, 96]])
def test_orthogonal_dtypes(dtype: str, atol: float, size: List[int]) -> None:
    """Every float dtype works (torch raises for half/bfloat16/float8): the float32 result
    rounded to the dtype, so Q^T Q = gain^2 I up to that rounding."""
    t = init.orthogonal_(torch.empty(size, dtype=getattr(torch, dtype)), 1.5, seed=2)
    assert_orthogonal(t, 1.5, atol * 2.25)
    if dtype != "float64":  # exactly the rounded float32 fill
        ref = init.orthogonal_(torch.empty(size), 1.5, seed=2)
        assert torch.equal(t, ref.to(t.dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("size", SIZES)
def test_orthogonal_numpy(dtype: str, size: List[int]) -> None:
    a = init.orthogonal_(np.full(size, np.nan, dtype=dtype), 2.0, seed=4)
    assert_orthogonal(a, 2.0, {"float32": 1e-5, "float64": 1e-12, "float16": 1.6e-2}[dtype])
    t = init.orthogonal_(torch.empty(size, dtype=getattr(torch, dtype)), 2.0, seed=4)
    np.testing.assert_allclose(np.asarray(a, dtype=np.float64), t.double().numpy(),
                               atol={"float32": 1e-5, "float64": 1e-12, "float16": 2e-3}[dtype])


def test_orthogonal_is_haar_sign_fixed() -> None:
    """Without the sign fix, LAPACK's Q[0, 0] would (almost) always have one sign."""
    firsts = [init.orthogonal_(torch.empty(4, 4), seed=s)[0, 0].item() for s in range(400)]
    positive = sum(x > 0 for x in firsts) / len(firsts)
    assert 0.4 < positive < 0.6
    # entries of a Haar orthogonal n x n matrix, times sqrt(n), are close to N(0, 1)
    q = init.orthogonal_(torch.empty(256, 256, dtype=torch.float64), seed=1)
    assert is_normal(q * 16, 0, 1)


def test_orthogonal_non_contiguous_in_place() -> None:
    base = torch.full((6, 10), math.nan)
    view = base.t()  # (10, 6), non-contiguous
    assert init.orthogonal_(view, seed=3) is view
    assert torch.equal(view, init.orthogonal_(torch.empty(10, 6), seed=3))
    base3 = torch.full((3, 4, 5), math.nan)
    perm = base3.permute(2, 0, 1)  # (5, 3, 4): not viewable as (5, 12); torch raises here
    init.orthogonal_(perm, seed=3)
    assert torch.equal(perm, init.orthogonal_(torch.empty(5, 3, 4), seed=3))
    assert not base3.isnan().any()
    arr = np.full((10, 6), np.nan, dtype=np.float32)
    init.orthogonal_(arr.T, seed=3)  # NumPy view: written in place
    assert np.array_equal(arr.T, init.orthogonal_(np.empty((6, 10), np.float32), seed=3))


def test_orthogonal_no_ops_and_seeds() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = torch.empty(0, 3)
        assert init.orthogonal_(e) is e
        init.orthogonal_(np.empty((3, 0, 2), dtype=np.float32))
        m = torch.empty(5, 4, device="meta")
        assert init.orthogonal_(m) is m
    a = init.orthogonal_(torch.empty(8, 5), generator=torch.Generator().manual_seed(11))
    torch.manual_seed(11)
    assert torch.equal(a, init.orthogonal_(torch.empty(8, 5)))
    assert not torch.equal(a, init.orthogonal_(torch.empty(8, 5), seed=12))


# --- deprecated aliases ---------------------------------------------------------------------

ALIASES = [("uniform", (torch.empty(3, 3),)), ("normal", (torch.empty(3, 3),)),
           ("constant", (torch.empty(3, 3), 0.5)), ("eye", (torch.empty(3, 3),)),
           ("dirac", (torch.empty(3, 3, 3),)), ("xavier_uniform", (torch.empty(3, 3),)),
           ("xavier_normal", (torch.empty(3, 3),)), ("kaiming_uniform", (torch.empty(3, 3),)),
           ("kaiming_normal", (torch.empty(3, 3),)), ("orthogonal", (torch.empty(3, 3),)),
           ("sparse", (torch.empty(3, 3), 0.5))]


@pytest.mark.parametrize(("name", "args"), ALIASES, ids=[a[0] for a in ALIASES])
def test_deprecation(name: str, args: tuple) -> None:
    text = f"`nn.init.{name}` is now deprecated in favor of `nn.init.{name}_`."
    with pytest.warns(FutureWarning, match="deprecated") as record:
        out = getattr(init, name)(*args)
    assert str(record[0].message) == text
    assert out is args[0]
    assert record[0].filename == __file__  # stacklevel=2: the caller's line


def test_deprecated_alias_calls_new_function() -> None:
    with pytest.warns(FutureWarning):
        a = init.normal(torch.empty(10), 1.0, 2.0, seed=5)
    assert torch.equal(a, init.normal_(torch.empty(10), 1.0, 2.0, seed=5))


# --- fastinit's additions: shards, NumPy, autograd, private helpers --------------------------

@pytest.mark.parametrize("name", ["xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
                                  "kaiming_normal_", "uniform_", "normal_", "trunc_normal_"])
def test_shards_equal_the_full_fill(name: str) -> None:
    """Fans (and values) come from global_shape: the shards of a (8, 6, 3) weight, filled alone,
    are exactly the blocks of the full fill."""
    fn = getattr(init, name)
    full = fn(torch.empty(8, 6, 3), seed=21)
    rows = [fn(torch.empty(4, 6, 3), seed=21, global_shape=(8, 6, 3), global_offset=(o, 0, 0))
            for o in (0, 4)]
    assert torch.equal(torch.cat(rows), full)
    cols = [fn(torch.empty(8, 2, 3), seed=21, global_shape=(8, 6, 3), global_offset=(0, o, 0))
            for o in (0, 2, 4)]
    assert torch.equal(torch.cat(cols, 1), full)


def test_numpy_equals_torch_for_the_same_seed() -> None:
    for name in ["uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "kaiming_normal_"]:
        t = getattr(init, name)(torch.empty(7, 9), seed=5)
        a = getattr(init, name)(np.empty((7, 9), dtype=np.float32), seed=5)
        assert np.array_equal(a, t.numpy()), name
    for fn, shape in ((init.eye_, (4, 6)), (lambda x: init.dirac_(x, 2), (6, 4, 3, 3))):
        assert np.array_equal(fn(np.full(shape, 7.0, np.float32)), fn(torch.empty(shape)).numpy())


@pytest.mark.parametrize("call", [
    lambda w: init.uniform_(w), lambda w: init.normal_(w), lambda w: init.trunc_normal_(w),
    lambda w: init.constant_(w, 0.3), lambda w: init.ones_(w), lambda w: init.zeros_(w),
    lambda w: init.xavier_uniform_(w), lambda w: init.xavier_normal_(w),
    lambda w: init.kaiming_uniform_(w), lambda w: init.kaiming_normal_(w),
    lambda w: init.orthogonal_(w), lambda w: init.sparse_(w.view(6, 20), 0.3),
    lambda w: init.eye_(w.view(6, 20)), lambda w: init.dirac_(w),
    lambda w: init.constant_(w, math.inf),
])
def test_no_autograd_and_version_bump(call: Callable[[Any], Any]) -> None:
    leaf = torch.nn.Parameter(torch.full((6, 5, 4), math.nan))
    with torch.enable_grad():
        version = leaf._version
        call(leaf)
    assert leaf.requires_grad and leaf.grad_fn is None and leaf.is_leaf
    assert leaf._version > version
    assert not leaf.isnan().any()


def test_private_helpers() -> None:
    t = torch.empty(6, 4)
    assert init._calculate_fan_in_and_fan_out(torch.empty(5, 4, 3, 2)) == (24, 30)
    assert init._calculate_fan_in_and_fan_out(np.empty((5, 4, 3, 2))) == (24, 30)
    assert init._calculate_correct_fan(torch.empty(5, 4, 3), "Fan_Out") == 15
    a = init._no_grad_uniform_(torch.empty(50), -1, 1, seed=2)
    assert torch.equal(a, init.uniform_(torch.empty(50), -1, 1, seed=2))
    b = init._no_grad_normal_(torch.empty(50), 0, 2, generator=torch.Generator().manual_seed(2))
    assert torch.equal(b, init.normal_(torch.empty(50), 0, 2,
                                       generator=torch.Generator().manual_seed(2)))
    c = init._no_grad_trunc_normal_(torch.empty(50), 0, 1, -0.5, 0.5, seed=2)
    assert c.abs().max() <= 0.5
    assert (init._no_grad_fill_(t, 2.5) == 2.5).all()
    assert (init._no_grad_zero_(t) == 0).all()
    with pytest.warns(UserWarning, match="mean is more than 2 std"):
        init._no_grad_trunc_normal_(torch.empty(5), 10, 1, -2, 2, seed=1)


def test_non_engine_dtypes_use_torch_kernels() -> None:
    """Complex tensors (no fastinit transform) get torch's own values, as torch.nn.init."""
    for name in ["uniform_", "normal_", "xavier_uniform_", "kaiming_normal_"]:
        torch.manual_seed(3)
        ours = getattr(init, name)(torch.empty(5, 6, dtype=torch.complex64))
        torch.manual_seed(3)
        theirs = getattr(torch.nn.init, name)(torch.empty(5, 6, dtype=torch.complex64))
        assert torch.equal(ours, theirs), name
    with pytest.raises(TypeError, match="fastinit.uniform_: dtype"):
        init.uniform_(torch.empty(3, dtype=torch.int64), seed=1)


@pytest.mark.parametrize(("label", "call"), [
    ("constant numpy complex64", lambda t: init.constant_(t, np.complex64(0.5 + 1j))),
    ("constant numpy complex64 real", lambda t: init.constant_(t, np.complex64(0.5))),
    ("constant complex tensor", lambda t: init.constant_(t, torch.tensor(0.5 + 1j))),
    ("constant numpy array", lambda t: init.constant_(t.numpy(), np.complex64(0.5))),
    ("sparse sparsity", lambda t: init.sparse_(t, np.complex128(0.5 + 1j))),
    ("uniform numpy complex", lambda t: init.uniform_(t, np.complex64(0.5), 2.0)),
])
def test_complex_parameter_refused(label: str, call: Callable[[Any], Any]) -> None:
    """torch.nn.init keeps the real part of these (with a ComplexWarning at most) and fills;
    fastinit refuses them (TypeError, naming the parameter), the tensor untouched."""
    t = torch.full((4, 4), math.nan)
    with pytest.raises(TypeError, match="must be (a )?real|must be float"):
        call(t)
    assert t.isnan().all()


def test_complex_value_into_a_complex_tensor_keeps_its_imaginary_part() -> None:
    for value in (np.complex64(0.5 + 1j), np.array(0.5 + 1j), 0.5 + 1j):
        t = init.constant_(torch.zeros(3, dtype=torch.complex64), value)
        assert (t == 0.5 + 1j).all()


@pytest.mark.parametrize("call", [
    lambda: init.kaiming_uniform_(torch.empty(0, 3)),
    lambda: init.kaiming_normal_(torch.empty(0, 3)),
    lambda: init.trunc_normal_(torch.empty(3), 10, 1, -2, 2, seed=1),
    lambda: init._no_grad_trunc_normal_(torch.empty(3), 10, 1, -2, 2, seed=1),
], ids=["kaiming_uniform_", "kaiming_normal_", "trunc_normal_", "_no_grad_trunc_normal_"])
def test_warnings_point_at_the_callers_line(call: Callable[[], Any]) -> None:
    """Through the wrapper every public initializer has (fastinit._engine._torch_ops)."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        call()
    assert len(record) == 1 and record[0].filename == __file__

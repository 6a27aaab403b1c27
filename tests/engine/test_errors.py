"""Bad input: every mistake raises a clear exception and leaves the target untouched.

DESIGN.md section 4: "a clear exception naming the function and the problem, and the buffer
untouched". Each test fills its target with a sentinel first, makes the bad call, checks the
exception type and that the message starts with ``fastinit.<name>:`` and names the problem,
then compares the target's raw bits with what they were before.

Unsupported devices: a CPU-only torch build has no real tensor on a device fastinit lacks
(meta, the only other one, is a no-op). The device check is therefore driven with
``torch.Tensor._make_wrapper_subclass``, which builds a genuine ``torch.Tensor`` (subclass) whose
``device`` is e.g. ``xla``, with no storage; its ``__torch_dispatch__`` fails loudly should fastinit
try to run any torch op on it. The compiled core's own DLPack device check is driven with a
minimal DLPack producer built with ctypes (documented at ``_ForeignDLPack``); the same producer
on the CPU device is filled normally, which shows it is well formed.
"""

from __future__ import annotations

import ctypes
import random
import re

import numpy as np
import pytest

import fastinit
from fastinit._engine import _reference, _targets

from conftest import as_bits, reference_bits

NOT_AN_ARRAY = "expected a torch.Tensor or numpy.ndarray"
SEED_RANGE = r"seed must be in \[-2\*\*63, 2\*\*64\)"
SENTINEL = -3.5  # exactly representable in every float dtype, float8 included
SHAPE = (4, 6)

RANDOM_FILLS = {
    "uniform_": (fastinit.uniform_, {"a": 0.0, "b": 1.0}),
    "normal_": (fastinit.normal_, {"mean": 0.0, "std": 1.0}),
    "trunc_normal_": (fastinit.trunc_normal_, {"mean": 0.0, "std": 1.0, "a": -2.0, "b": 2.0}),
}
RANDOM_NAMES = list(RANDOM_FILLS)
# (name, call) for the public fills; random fills get a seed so they need nothing global.
# zeros_ and ones_ have their own test (test_zeros_and_ones_name_themselves).
ALL_FILLS = {
    "uniform_": lambda t: fastinit.uniform_(t, seed=1),
    "normal_": lambda t: fastinit.normal_(t, seed=1),
    "trunc_normal_": lambda t: fastinit.trunc_normal_(t, seed=1),
    "constant_": lambda t: fastinit.constant_(t, 0.5),
}


def _torch():
    return pytest.importorskip("torch")


def np_target(dtype="float32", shape=SHAPE, value=SENTINEL):
    return np.full(shape, value, dtype=dtype)


def torch_target(dtype="float32", shape=SHAPE, value=SENTINEL):
    torch = _torch()
    return torch.full(shape, value, dtype=getattr(torch, dtype))


def make_target(lib, dtype="float32", shape=SHAPE):
    return np_target(dtype, shape) if lib == "numpy" else torch_target(dtype, shape)


def message(name, problem):
    """The pattern a message must match: it starts with fastinit.<name>: and names problem."""
    return rf"^fastinit\.{re.escape(name)}: .*{problem}"


def raw_bytes(x):
    """The raw bytes of an array or tensor (any dtype, complex and bool included)."""
    if isinstance(x, np.ndarray):
        return np.ascontiguousarray(x).reshape(-1).view(np.uint8).copy()
    torch = _torch()
    return x.detach().contiguous().reshape(-1).view(torch.uint8).numpy().copy()


def assert_rejected(target, exc, pattern, call, *, memory=None):
    """call() raises exc matching pattern, and memory (default: target) keeps its bits."""
    memory = target if memory is None else memory
    before = raw_bytes(memory)
    with pytest.raises(exc, match=pattern):
        call()
    after = raw_bytes(memory)
    assert np.array_equal(before, after), "the failed call modified the target"


def core_normal(target, global_shape=(), global_offset=()):
    """The compiled core's fill called directly (N(0, 1), seed 1), past the Python checks:
    for the checks the core makes on its own."""
    fastinit._core.fill(target, "normal_", fastinit._core.KIND_NORMAL, [0.0, 1.0], 1, 0,
                        list(global_shape), list(global_offset))


LIBS = [pytest.param("numpy", id="numpy"), pytest.param("torch", id="torch")]


# --------------------------------------------------------------------------------------------
# Targets: read-only, dtype, overlapping memory, non-arrays
# --------------------------------------------------------------------------------------------

def _read_only(kind):
    if kind == "flag":
        a = np_target()
        a.flags.writeable = False
        return a, a
    if kind == "view":  # a read-only view of a writeable array
        base = np_target()
        v = base.view()
        v.flags.writeable = False
        return v, base
    base = np_target(shape=(6,))
    return np.broadcast_to(base, SHAPE), base  # broadcast_to returns a read-only view


@pytest.mark.parametrize("kind", ["flag", "view", "broadcast_to"])
@pytest.mark.parametrize("name", list(ALL_FILLS))
def test_read_only_numpy_array(name, kind):
    target, memory = _read_only(kind)
    assert_rejected(target, ValueError, message(name, "read-only"),
                    lambda: ALL_FILLS[name](target), memory=memory)


def test_read_only_uint32_array_random_bits():
    a = np.full(8, 12345, np.uint32)
    a.flags.writeable = False
    assert_rejected(a, ValueError, message("random_bits_", "read-only"),
                    lambda: fastinit.random_bits_(a, seed=1))


NUMPY_BAD_DTYPES = ["int8", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool",
                    "complex64", "complex128"]
TORCH_BAD_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "bool", "complex64",
                    "complex128"]


@pytest.mark.parametrize("dtype", NUMPY_BAD_DTYPES)
@pytest.mark.parametrize("name", RANDOM_NAMES)
def test_unsupported_numpy_dtype(name, dtype):
    a = np_target(dtype, value=7)
    assert_rejected(a, TypeError, message(name, f"dtype {dtype} is not supported"),
                    lambda: RANDOM_FILLS[name][0](a, seed=1))


@pytest.mark.parametrize("dtype", TORCH_BAD_DTYPES)
@pytest.mark.parametrize("name", RANDOM_NAMES)
def test_unsupported_torch_dtype(name, dtype):
    t = torch_target(dtype, value=7)
    assert_rejected(t, TypeError, message(name, f"dtype torch.{dtype} is not supported"),
                    lambda: RANDOM_FILLS[name][0](t, seed=1))


def _overlapping(kind):
    """(target, memory behind it) for views whose elements share memory."""
    if kind == "torch-expand":
        base = torch_target(shape=(4, 1))
        return base.expand(4, 6), base
    if kind == "torch-expand-new-dim":
        base = torch_target(shape=(6,))
        return base.expand(4, 6), base
    if kind == "torch-as_strided-sliding":
        base = torch_target(shape=(12,))
        return base.as_strided((4, 6), (1, 1)), base
    base = np_target(shape=(24,))
    if kind == "numpy-as_strided-stride0":
        return np.lib.stride_tricks.as_strided(base, shape=SHAPE, strides=(4, 0),
                                               writeable=True), base
    return np.lib.stride_tricks.as_strided(base, shape=SHAPE, strides=(8, 4),
                                           writeable=True), base  # rows overlap


@pytest.mark.parametrize("kind", ["torch-expand", "torch-expand-new-dim",
                                  "torch-as_strided-sliding", "numpy-as_strided-stride0",
                                  "numpy-as_strided-overlapping-rows"])
@pytest.mark.parametrize("name", ["uniform_", "normal_", "trunc_normal_", "constant_"])
def test_overlapping_memory(name, kind):
    target, memory = _overlapping(kind)
    if kind.startswith("numpy"):
        assert target.flags.writeable  # the view really is writeable: only overlap is wrong
    assert_rejected(target, ValueError, message(name, "overlaps itself"),
                    lambda: ALL_FILLS[name](target), memory=memory)


@pytest.mark.parametrize("target", [
    pytest.param([1.0, 2.0], id="list"),
    pytest.param("abc", id="str"),
    pytest.param(3.0, id="float"),
    pytest.param(None, id="None"),
])
@pytest.mark.parametrize("name", list(ALL_FILLS))
def test_non_array_target(name, target):
    with pytest.raises(TypeError, match=message(name, NOT_AN_ARRAY)):
        ALL_FILLS[name](target)


@pytest.mark.parametrize("name, shape, args", [
    ("eye_", (4, 6), ()), ("dirac_", (4, 6, 3), ()), ("sparse_", (4, 6), (0.5,)),
    ("orthogonal_", (4, 6), ()), ("kaiming_uniform_", (4, 6), ()),
    ("xavier_normal_", (4, 6), ()), ("he_normal_", (4, 6), ()),
    ("delta_orthogonal_", (6, 4, 3), ()), ("variance_scaling_tf1_", (4, 6), ()),
])
def test_read_only_array_named_by_every_initializer(name, shape, args):
    """Not by the function it delegates to (sparse_ said normal_, kaiming_uniform_ uniform_,
    delta_orthogonal_ zeros_, eye_ and dirac_ gave NumPy's 'assignment destination is
    read-only')."""
    a = np.full(shape, SENTINEL, np.float32)
    a.flags.writeable = False
    assert_rejected(a, ValueError, message(name, "read-only"),
                    lambda: getattr(fastinit, name)(a, *args))


@pytest.mark.parametrize("problem", ["read-only", "non-array"])
@pytest.mark.parametrize("name", ["zeros_", "ones_"])
def test_zeros_and_ones_name_themselves(name, problem):
    """zeros_ and ones_ are public functions: their errors must say fastinit.zeros_: /
    fastinit.ones_:, not the name of the function they delegate to."""
    fn = getattr(fastinit, name)
    if problem == "non-array":
        with pytest.raises(TypeError, match=message(name, NOT_AN_ARRAY)):
            fn([1.0, 2.0])
        return
    a = np_target()
    a.flags.writeable = False
    assert_rejected(a, ValueError, message(name, "read-only"), lambda: fn(a))


def test_sparse_torch_tensor_is_rejected_clearly():
    """A sparse (non-strided) tensor has no dense buffer to fill."""
    torch = _torch()
    t = torch.full(SHAPE, SENTINEL).to_sparse()
    before = t.to_dense().clone()
    with pytest.raises((TypeError, ValueError, RuntimeError), match=message("normal_", "")):
        fastinit.normal_(t, seed=1)
    assert torch.equal(t.to_dense(), before)


@pytest.mark.parametrize("name", ["normal_", "constant_", "orthogonal_", "kaiming_uniform_",
                                  "eye_", "he_normal_"])
def test_inference_tensor_outside_inference_mode_is_rejected(name):
    """torch refuses in-place updates of inference tensors outside inference_mode; our writes
    go through detach()/DLPack, which would not, so the check is ours."""
    torch = _torch()
    with torch.inference_mode():
        t = torch.full(SHAPE, SENTINEL)
    fn = {"constant_": lambda t: fastinit.constant_(t, 0.5)}.get(
        name, lambda t: getattr(fastinit, name)(t))
    with pytest.raises(RuntimeError, match=message(name, "inference tensor outside")):
        fn(t)
    assert torch.all(t == SENTINEL)
    with torch.inference_mode():
        fn(t)
    assert not torch.any(t == SENTINEL)


@pytest.mark.parametrize("dtype", [">f4", ">f8", ">f2"])
def test_non_native_byte_order_is_rejected(dtype):
    """The engine writes native-order bits: a big-endian array would get garbage values."""
    a = np.full(SHAPE, SENTINEL, dtype)
    with pytest.raises(TypeError, match=message("normal_", "byte order")):
        fastinit.normal_(a, seed=1)
    assert np.all(a == SENTINEL)
    with pytest.raises(TypeError, match=message("random_bits_", "byte order")):
        fastinit.random_bits_(np.zeros(4, ">u4"), seed=1)
    # the compiled core checks too (any buffer exporter reaches it)
    with pytest.raises(TypeError, match=message("normal_", "byte order of buffer format '>")):
        core_normal(memoryview(a))
    assert np.all(a == SENTINEL)


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors is in prototype")
@pytest.mark.parametrize("layout", ["strided", "jagged"])
def test_nested_tensor_is_rejected_clearly(layout):
    torch = _torch()
    nested = torch.nested.nested_tensor([torch.zeros(2, 3), torch.zeros(4, 3)],
                                        layout=getattr(torch, layout))
    for fn in (lambda t: fastinit.normal_(t, seed=1), fastinit.kaiming_uniform_):
        with pytest.raises(TypeError, match="layout nested is not supported"):
            fn(nested)


@pytest.mark.parametrize("name", ["uniform_", "normal_", "trunc_normal_", "constant_"])
def test_negated_torch_view_is_rejected(name):
    """A neg-bit view's memory holds the negated values: a fill would come out negated."""
    torch = _torch()
    base = torch.full(SHAPE, SENTINEL)
    view = torch._neg_view(base)
    fn = {"constant_": lambda t: fastinit.constant_(t, 0.5)}.get(
        name, lambda t: getattr(fastinit, name)(t, seed=1))
    with pytest.raises(ValueError, match=message(name, "negated view")):
        fn(view)
    assert torch.all(base == SENTINEL)


# --------------------------------------------------------------------------------------------
# Distribution parameters
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("name, kwargs", [
    pytest.param("uniform_", {"a": 1.0, "b": 0.0}, id="uniform_"),
    pytest.param("uniform_", {"a": 1e-300, "b": -1e-300}, id="uniform_-tiny"),
    pytest.param("trunc_normal_", {"a": 1.0, "b": -1.0}, id="trunc_normal_"),
])
def test_a_greater_than_b(lib, name, kwargs):
    t = make_target(lib)
    assert_rejected(t, ValueError, message(name, "a must be <= b"),
                    lambda: RANDOM_FILLS[name][0](t, **kwargs, seed=1))


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("std", [-1.0, -1e-300])
@pytest.mark.parametrize("name", ["normal_", "trunc_normal_"])
def test_negative_std(lib, name, std):
    t = make_target(lib)
    assert_rejected(t, ValueError, message(name, "std must be >= 0"),
                    lambda: RANDOM_FILLS[name][0](t, std=std, seed=1))


PARAMS = [(name, p) for name, (_, defaults) in RANDOM_FILLS.items() for p in defaults]


def _call_with(name, param, value, t):
    if name == "constant_":
        return fastinit.constant_(t, value)
    fn, defaults = RANDOM_FILLS[name]
    return fn(t, **{**defaults, param: value}, seed=1)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")],
                         ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("name, param", [pytest.param(n, p, id=f"{n}-{p}") for n, p in PARAMS])
def test_non_finite_parameter(name, param, value):
    t = np_target()
    assert_rejected(t, ValueError, message(name, f"{param} must be finite"),
                    lambda: _call_with(name, param, value, t))


def test_constant_nan():
    """constant_ stores an explicit infinity (tests/engine/test_constant_bounds.py), not NaN:
    its bits would be the hardware's."""
    t = np_target()
    assert_rejected(t, ValueError, message("constant_", "val must not be NaN"),
                    lambda: fastinit.constant_(t, float("nan")))


@pytest.mark.parametrize("value", [None, "abc", [1.0], 1j, object()],
                         ids=["None", "str", "list", "complex", "object"])
@pytest.mark.parametrize("name, param", [pytest.param(n, p, id=f"{n}-{p}") for n, p in PARAMS
                                         + [("constant_", "val")]])
def test_non_number_parameter(name, param, value):
    t = np_target()
    assert_rejected(t, TypeError, message(name, f"{param} must be a real number"),
                    lambda: _call_with(name, param, value, t))


COMPLEX_SCALARS = {
    "numpy-complex128": lambda: np.complex128(1 + 2j),  # a Python complex subclass
    "numpy-complex64-real": lambda: np.complex64(0.5),  # float() drops 0j with a warning
    "numpy-0d-complex": lambda: np.array(0.5 + 1j),
    "torch-complex": lambda: _torch().tensor(0.5 + 1j),
}


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("value", list(COMPLEX_SCALARS))
@pytest.mark.parametrize("name, param", [pytest.param(n, p, id=f"{n}-{p}") for n, p in PARAMS
                                         + [("constant_", "val")]])
def test_complex_parameter(lib, name, param, value):
    """A complex scalar of any library is refused: NumPy's and torch's float() kept the real
    part (with a ComplexWarning at most) and the fill went on."""
    t = make_target(lib)
    v = COMPLEX_SCALARS[value]()
    assert_rejected(t, TypeError, message(name, f"{param} must be a real number"),
                    lambda: _call_with(name, param, v, t))


@pytest.mark.parametrize("lib, dtype, name, kwargs", [
    pytest.param("torch", "bfloat16", "uniform_", {"a": 1.001, "b": 1.002}, id="bfloat16-uniform_"),
    pytest.param("torch", "bfloat16", "trunc_normal_",
                 {"mean": 1.0, "std": 1.0, "a": 1.001, "b": 1.002}, id="bfloat16-trunc_normal_"),
    pytest.param("torch", "float8_e4m3fn", "uniform_", {"a": 1.01, "b": 1.1},
                 id="float8_e4m3fn-uniform_"),
    pytest.param("numpy", "float32", "uniform_", {"a": 1.0 + 2**-30, "b": 1.0 + 2**-29},
                 id="float32-uniform_"),
    # a == b: only an a the dtype holds exactly lies in [a, a] (0.1 in float16 gave 0.10004)
    pytest.param("numpy", "float16", "uniform_", {"a": 0.1, "b": 0.1}, id="float16-a==b"),
    pytest.param("torch", "float32", "uniform_", {"a": 0.3, "b": 0.3}, id="float32-a==b"),
    # std == 0 is the point mass clamp(mean, a, b): it must lie in [a, b] as well (it gave
    # 65504, 0.09998 and 448, outside [a, b])
    pytest.param("numpy", "float16", "trunc_normal_",
                 {"mean": 75000.0, "std": 0.0, "a": 70000.0, "b": 80000.0}, id="float16-std0-past-max"),
    pytest.param("numpy", "float16", "trunc_normal_",
                 {"mean": 0.1, "std": 0.0, "a": 0.1, "b": 0.1}, id="float16-std0-point"),
    pytest.param("torch", "float8_e4m3fn", "trunc_normal_",
                 {"mean": 550.0, "std": 0.0, "a": 500.0, "b": 600.0}, id="float8-std0-past-max"),
])
def test_interval_without_representable_value(lib, dtype, name, kwargs):
    t = make_target(lib, dtype)
    assert_rejected(t, ValueError, message(name, "holds no value representable in this dtype"),
                    lambda: RANDOM_FILLS[name][0](t, **kwargs, seed=1))


@pytest.mark.parametrize("lib, dtype, name, kwargs, param", [
    pytest.param("numpy", "float32", "normal_", {"mean": 1e39, "std": 1e39}, "mean",
                 id="float32-normal-mean-and-std"),
    pytest.param("numpy", "float32", "normal_", {"mean": 0.0, "std": 1e39}, "std",
                 id="float32-normal-std"),
    pytest.param("numpy", "float16", "normal_", {"mean": 70000.0, "std": 1.0}, "mean",
                 id="float16-normal-mean"),
    pytest.param("torch", "bfloat16", "normal_", {"mean": 0.0, "std": 3.4e38}, "std",
                 id="bfloat16-normal-std"),
    pytest.param("torch", "float8_e4m3fn", "normal_", {"mean": 500.0, "std": 1.0}, "mean",
                 id="float8_e4m3fn-normal-mean"),
    pytest.param("numpy", "float32", "trunc_normal_",
                 {"mean": 0.0, "std": 1e39, "a": -1e39, "b": 1e39}, "std", id="float32-trunc-std"),
    pytest.param("numpy", "float16", "trunc_normal_",
                 {"mean": 1e39, "std": 1.0, "a": 0.0, "b": 1.0}, "mean", id="float16-trunc-mean"),
    # uniform bounds past the dtype's finite values piled values up at its largest one (93%
    # at 65504 for float16 on [0, 1e6)) or, with a == b, filled inf
    pytest.param("numpy", "float16", "uniform_", {"a": 0.0, "b": 1e6}, "b", id="float16-uniform-b"),
    pytest.param("numpy", "float16", "uniform_", {"a": 1e6, "b": 1e6 + 1}, "a",
                 id="float16-beyond-max"),
    pytest.param("numpy", "float16", "uniform_", {"a": 70000.0, "b": 70000.0}, "a",
                 id="float16-uniform-a==b"),
    pytest.param("numpy", "float32", "uniform_", {"a": 1e39, "b": 1e39}, "a",
                 id="float32-uniform-a==b"),
])
def test_parameter_out_of_the_dtypes_range(lib, dtype, name, kwargs, param):
    """A mean or std finite in double but not in the dtype (trunc_normal_: its float32
    compute type, since values are clamped into [a, b]) would give inf or NaN: refused."""
    t = make_target(lib, dtype)
    assert_rejected(t, ValueError, message(name, rf"{param}=.* is out of \w+'s range"),
                    lambda: RANDOM_FILLS[name][0](t, **kwargs, seed=1))


@pytest.mark.parametrize("lib, dtype, name, kwargs, problem", [
    # |mean| + 6.4 std past float16's 65504: the tails stored inf
    pytest.param("numpy", "float16", "normal_", {"mean": 0.0, "std": 11000.0},
                 r"mean and std reach .* out of float16's range", id="float16-normal-reach"),
    pytest.param("numpy", "float32", "normal_", {"mean": 3e38, "std": 1e38},
                 r"mean and std reach .* out of float32's range", id="float32-normal-reach"),
    pytest.param("numpy", "float64", "normal_", {"mean": 1e308, "std": 1e308},
                 r"mean and std reach .* out of float64's range", id="float64-normal-reach"),
    # the mass past the dtype's largest value piled up there (float16: most values at 65504)
    pytest.param("numpy", "float16", "trunc_normal_",
                 {"mean": 0.0, "std": 1e5, "a": -1e6, "b": 1e6}, "would pile up at the bound",
                 id="float16-trunc-past-max"),
    pytest.param("torch", "float8_e4m3fn", "trunc_normal_",
                 {"mean": 0.0, "std": 400.0, "a": -2000.0, "b": 2000.0},
                 "would pile up at the bound", id="float8-trunc-past-max"),
])
def test_values_that_would_reach_past_the_dtype(lib, dtype, name, kwargs, problem):
    t = make_target(lib, dtype)
    assert_rejected(t, ValueError, message(name, problem),
                    lambda: RANDOM_FILLS[name][0](t, **kwargs, seed=1))


def test_wide_bounds_with_negligible_mass_past_the_dtype_still_fill():
    """Bounds past the dtype are fine when (almost) no mass lies there: torch's default
    trunc_normal_(std=1, a=-2, b=2) and a float16 N(0, 1) cut to [-1e39, 1e39]."""
    t = np_target("float16")
    fastinit.trunc_normal_(t, 0.0, 1.0, -1e39, 1e39, seed=1)
    assert np.isfinite(t.astype(np.float64)).all() and abs(float(t.astype(np.float64).std()) - 1) < 0.3


def test_parameters_in_range_still_fill():
    """The edges of the rule: float16 mean 65504, a float16 trunc_normal_ whose mean is past
    float16's range but inside float32's, float64 std 1e300."""
    for t, call in ((np_target("float16"), lambda t: fastinit.normal_(t, 65504.0, 1.0, seed=1)),
                    (np_target("float16"),
                     lambda t: fastinit.trunc_normal_(t, 70000.0, 1e4, 0.0, 1.0, seed=1)),
                    (np_target("float64"), lambda t: fastinit.normal_(t, 0.0, 1e300, seed=1))):
        call(t)
        assert not np.isnan(t.astype(np.float64)).any()
    with pytest.raises(ValueError, match="out of float32's range"):
        fastinit.xavier_normal_(np_target(), gain=1e200, seed=1)


# --------------------------------------------------------------------------------------------
# Seeds and generators
# --------------------------------------------------------------------------------------------

BAD_SEEDS = [
    pytest.param(-(2**63) - 1, ValueError, SEED_RANGE, id="below-2**63"),
    pytest.param(2**64, ValueError, SEED_RANGE, id="2**64"),
    pytest.param(True, TypeError, "seed must be an int", id="True"),
    pytest.param(1.5, TypeError, "seed must be an int", id="float"),
    pytest.param("3", TypeError, "seed must be an int", id="str"),
    pytest.param(np.float64(3.0), TypeError, "seed must be an int", id="numpy-float"),
]


@pytest.mark.parametrize("seed, exc, problem", BAD_SEEDS)
@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("name", RANDOM_NAMES)
def test_bad_seed(name, lib, seed, exc, problem):
    t = make_target(lib)
    assert_rejected(t, exc, message(name, problem),
                    lambda: RANDOM_FILLS[name][0](t, seed=seed))


@pytest.mark.parametrize("seed, exc, problem", BAD_SEEDS)
def test_bad_seed_manual_seed(seed, exc, problem):
    with pytest.raises(exc, match=message("manual_seed", problem)):
        fastinit.manual_seed(seed)


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("gen_kind", ["torch", "numpy"])
@pytest.mark.parametrize("name", RANDOM_NAMES)
def test_seed_and_generator_together(name, lib, gen_kind):
    t = make_target(lib)
    if gen_kind == "torch":
        g = _torch().Generator().manual_seed(3)
        state = g.get_state().clone()
        unchanged = lambda: bool((g.get_state() == state).all())  # noqa: E731
    else:
        g = np.random.default_rng(3)
        state = g.bit_generator.state
        unchanged = lambda: g.bit_generator.state == state  # noqa: E731
    assert_rejected(t, ValueError, message(name, "pass seed= or generator=, not both"),
                    lambda: RANDOM_FILLS[name][0](t, generator=g, seed=1))
    assert unchanged(), "the generator was advanced by a call that failed"


@pytest.mark.parametrize("generator", [
    pytest.param(42, id="int"),
    pytest.param("gen", id="str"),
    pytest.param(random.Random(0), id="random.Random"),
    pytest.param(np.random.RandomState(0), id="numpy-RandomState"),
    pytest.param(object(), id="object"),
])
@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("name", RANDOM_NAMES)
def test_bad_generator_type(name, lib, generator):
    t = make_target(lib)
    assert_rejected(t, TypeError,
                    message(name, "generator must be a torch.Generator or numpy.random.Generator"),
                    lambda: RANDOM_FILLS[name][0](t, generator=generator))


# --------------------------------------------------------------------------------------------
# global_shape / global_offset
# --------------------------------------------------------------------------------------------

PLACEMENT_CASES = [
    # id, target shape, global_shape, global_offset, exception, problem
    ("shape-too-few-dims", SHAPE, (24,), None, ValueError,
     "global_shape has 1 dims but the tensor has 2"),
    ("shape-too-many-dims", SHAPE, (4, 6, 1), None, ValueError,
     "global_shape has 3 dims but the tensor has 2"),
    ("offset-too-few-dims", SHAPE, (8, 6), (0,), ValueError,
     "global_offset has 1 dims but the tensor has 2"),
    ("offset-too-many-dims", SHAPE, (8, 6), (0, 0, 0), ValueError, "global_offset has 3 dims"),
    ("offset-plus-size-exceeds", SHAPE, (8, 6), (5, 0), ValueError, "does not fit in global_shape"),
    ("offset-plus-size-exceeds-last-dim", SHAPE, (8, 6), (0, 1), ValueError, r"does not fit"),
    ("shape-smaller-than-tensor", SHAPE, (4, 5), None, ValueError, r"does not fit"),
    ("negative-offset", SHAPE, (8, 6), (-1, 0), ValueError,
     r"global_offset entries must be >= 0, got -1"),
    ("negative-shape", SHAPE, (-4, 6), None, ValueError,
     r"global_shape entries must be >= 0, got -4"),
    ("offset-without-shape", SHAPE, None, (0, 0), ValueError, "global_offset needs global_shape"),
    ("float-in-shape", SHAPE, (8.0, 6), None, TypeError, "global_shape must hold ints, got float"),
    ("float-in-offset", SHAPE, (8, 6), (1.5, 0), TypeError,
     "global_offset must hold ints, got float"),
    ("bool-in-offset", SHAPE, (8, 6), (True, 0), TypeError,
     "global_offset must hold ints, got bool"),
    ("str-in-shape", SHAPE, ("8", 6), None, TypeError, "global_shape must hold ints, got str"),
    ("None-in-offset", SHAPE, (8, 6), (None, 0), TypeError, "global_offset must hold ints"),
    ("more-than-2**64-elements", SHAPE, (2**40, 2**40), None, ValueError,
     r"global_shape has more than 2\^64 elements"),
]
# Entries near the int64 limit (only uniform_: the check is shared by every fill).
INT64_PLACEMENT_CASES = [
    # offset + size wraps around int64: 2**63 - 2 + 4 must still be seen as > 2**63 - 1
    ("offset-plus-size-overflows-int64", (4,), (2**63 - 1,), (2**63 - 2,), ValueError,
     "does not fit"),
    # an entry beyond int64 must be a fastinit error, not a raw binding error
    ("shape-entry-beyond-int64", SHAPE, (2**63, 6), None, (ValueError, TypeError), r"global_shape"),
]


@pytest.mark.parametrize("shape, gshape, goffset, exc, problem",
                         [pytest.param(*c[1:], id=c[0]) for c in PLACEMENT_CASES])
@pytest.mark.parametrize("name", RANDOM_NAMES)
def test_bad_placement_numpy(name, shape, gshape, goffset, exc, problem):
    a = np_target(shape=shape)
    assert_rejected(a, exc, message(name, problem),
                    lambda: RANDOM_FILLS[name][0](a, seed=1, global_shape=gshape,
                                                  global_offset=goffset))


@pytest.mark.parametrize("name", ["kaiming_uniform_", "xavier_normal_", "he_normal_",
                                  "lecun_uniform_", "variance_scaling_"])
def test_negative_global_shape_named_by_fan_based_inits(name):
    """Fans come from global_shape before any fill: a negative entry was a bare 'math domain
    error' (or named uniform_) there."""
    a = np_target()
    assert_rejected(a, ValueError, message(name, "global_shape entries must be >= 0, got -4"),
                    lambda: getattr(fastinit, name)(a, seed=1, global_shape=(-4, 6)))


def test_negative_placement_in_the_compiled_core():
    a = np_target()
    for gshape, goffset, problem in (((8, 6), (-1, 0), r"global_offset entries must be >= 0 "
                                      r"\(dim 0: -1\)"),
                                     ((8, -6), (0, 0), r"global_shape entries must be >= 0 "
                                      r"\(dim 1: -6\)")):
        assert_rejected(a, ValueError, message("normal_", problem),
                        lambda: core_normal(a, gshape, goffset))


@pytest.mark.parametrize("shape, gshape, goffset, exc, problem",
                         [pytest.param(*c[1:], id=c[0]) for c in INT64_PLACEMENT_CASES])
def test_bad_placement_near_int64_limit(shape, gshape, goffset, exc, problem):
    a = np_target(shape=shape)
    assert_rejected(a, exc, message("uniform_", problem),
                    lambda: fastinit.uniform_(a, seed=1, global_shape=gshape,
                                              global_offset=goffset))


@pytest.mark.parametrize("shape, gshape, goffset, exc, problem",
                         [pytest.param(*c[1:], id=c[0]) for c in PLACEMENT_CASES[:10]])
def test_bad_placement_torch(shape, gshape, goffset, exc, problem):
    t = torch_target(shape=shape)
    assert_rejected(t, exc, message("normal_", problem),
                    lambda: fastinit.normal_(t, seed=1, global_shape=gshape, global_offset=goffset))


# --------------------------------------------------------------------------------------------
# random_bits_, philox4x32_10, set_num_threads
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n, offset", [
    pytest.param(8, 2**64 - 4, id="8-words-from-2**64-4"),
    pytest.param(2, 2**64 - 1, id="2-words-from-2**64-1"),
])
def test_random_bits_past_end_of_stream(n, offset):
    out = np.full(n, 0xDEADBEEF, np.uint32)
    assert_rejected(out, ValueError,
                    message("random_bits_", r"offset \+ number of elements exceeds 2\^64"),
                    lambda: fastinit.random_bits_(out, seed=1, offset=offset))


@pytest.mark.parametrize("kw, value, exc, problem", [
    pytest.param("offset", 2**64, ValueError, r"offset must be in", id="offset-2**64"),
    pytest.param("offset", 1.0, TypeError, r"offset must be an int", id="offset-float"),
    pytest.param("stream", 2**64, ValueError, r"stream must be in", id="stream-2**64"),
    pytest.param("stream", "1", TypeError, r"stream must be an int", id="stream-str"),
    pytest.param("seed", 2**64, ValueError, r"seed must be in", id="seed-2**64"),
    pytest.param("seed", True, TypeError, r"seed must be an int", id="seed-True"),
])
def test_random_bits_bad_arguments(kw, value, exc, problem):
    out = np.full(8, 0xDEADBEEF, np.uint32)
    kwargs = {"seed": 1, kw: value}
    assert_rejected(out, exc, message("random_bits_", problem),
                    lambda: fastinit.random_bits_(out, **kwargs))


@pytest.mark.parametrize("lib, dtype", [
    pytest.param("numpy", "float32", id="numpy-float32"),
    pytest.param("numpy", "int32", id="numpy-int32"),
    pytest.param("numpy", "uint16", id="numpy-uint16"),
    pytest.param("numpy", "uint64", id="numpy-uint64"),
    pytest.param("torch", "float32", id="torch-float32"),
    pytest.param("torch", "int32", id="torch-int32"),
])
def test_random_bits_needs_uint32(lib, dtype):
    a = np_target(dtype, value=7) if lib == "numpy" else torch_target(dtype, value=7)
    assert_rejected(a, TypeError, message("random_bits_", "out must be a uint32"),
                    lambda: fastinit.random_bits_(a, seed=1))


@pytest.mark.parametrize("out", [pytest.param([0, 0, 0, 0], id="list"),
                                 pytest.param("abcd", id="str")])
def test_random_bits_non_array(out):
    with pytest.raises(TypeError, match=message("random_bits_", NOT_AN_ARRAY)):
        fastinit.random_bits_(out, seed=1)


@pytest.mark.parametrize("counters, keys, problem", [
    pytest.param(np.zeros((2, 3), np.uint32), np.zeros((2, 2), np.uint32), "shape",
                 id="counters-n-by-3"),
    pytest.param(np.zeros((2, 4), np.uint32), np.zeros((3, 2), np.uint32), "shape",
                 id="rows-differ"),
    pytest.param(np.zeros((2, 4), np.uint32), np.zeros((2, 3), np.uint32), "shape",
                 id="keys-n-by-3"),
    pytest.param(np.zeros(4, np.uint32), np.zeros(2, np.uint32), "shape", id="1-d"),
    pytest.param(np.zeros((1, 2, 4), np.uint32), np.zeros((1, 2), np.uint32), "shape", id="3-d"),
    pytest.param(np.full((1, 4), -1, np.int64), np.zeros((1, 2), np.uint32),
                 "counters must hold uint32 values", id="negative-counter"),
    pytest.param(np.zeros((1, 4), np.int64), np.full((1, 2), 2**32, np.int64),
                 "keys must hold uint32 values", id="key-2**32"),
    pytest.param([[0, 0, 0, 2**64]], [[0, 0]], "counters must hold uint32 values", id="list-2**64"),
    pytest.param(np.zeros((1, 4), np.float64), np.zeros((1, 2), np.uint32),
                 "counters must hold uint32 values", id="float-counters"),
])
def test_philox_bad_input(counters, keys, problem):
    with pytest.raises(ValueError, match=message("philox4x32_10", problem)):
        fastinit.philox4x32_10(counters, keys)


@pytest.mark.parametrize("n, exc", [
    pytest.param(0, ValueError, id="0"),
    pytest.param(-1, ValueError, id="-1"),
    pytest.param(True, ValueError, id="True"),
    pytest.param(False, ValueError, id="False"),
    pytest.param(1.5, (TypeError, ValueError), id="float"),
    pytest.param("2", (TypeError, ValueError), id="str"),
    pytest.param(None, (TypeError, ValueError), id="None"),
])
def test_set_num_threads_rejects(n, exc):
    """Counts below 1 and bools (True is not a thread count) are refused, and the thread
    count is left as it was."""
    before = fastinit.get_num_threads()
    with pytest.raises(exc, match=message("set_num_threads", "n must be an int >= 1")):
        fastinit.set_num_threads(n)
    assert fastinit.get_num_threads() == before


# --------------------------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------------------------

def _tensor_on(device, dtype_name="float32", allow_detach=False):
    """A real torch.Tensor (wrapper subclass, no storage) whose device is ``device``.

    Any torch op on it fails the test, except ``detach`` when ``allow_detach`` (it then returns
    another such tensor, as detach() of a real tensor on that device would, with no device
    work)."""
    torch = _torch()

    class OtherDeviceTensor(torch.Tensor):
        @staticmethod
        def __new__(cls):
            return torch.Tensor._make_wrapper_subclass(
                cls, SHAPE, dtype=getattr(torch, dtype_name), device=device)

        @classmethod
        def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
            if allow_detach and func is torch.ops.aten.detach.default:
                return cls()
            raise AssertionError(f"fastinit ran {func} on a {device} tensor instead of refusing it")

    t = OtherDeviceTensor()
    assert isinstance(t, torch.Tensor) and t.device.type == device
    return t


DEVICES = ["xla", "hpu"]


@pytest.mark.parametrize("device", DEVICES)
def test_unsupported_device_prepare(device):
    t = _tensor_on(device)
    pattern = message("uniform_", f"device '{device}' is not supported")
    with pytest.raises(RuntimeError, match=pattern):
        _targets.prepare(t, "uniform_")


@pytest.mark.parametrize("name", ["uniform_", "normal_", "trunc_normal_", "constant_"])
@pytest.mark.parametrize("device", DEVICES)
def test_unsupported_device_public_fills(device, name):
    t = _tensor_on(device)
    with pytest.raises(RuntimeError, match=message(name, f"device '{device}' is not supported")):
        ALL_FILLS[name](t)


def test_unsupported_device_random_bits():
    torch = _torch()
    if not hasattr(torch, "uint32"):
        pytest.skip("torch has no uint32")
    t = _tensor_on("xla", "uint32")
    pattern = message("random_bits_", "device 'xla' is not supported")
    with pytest.raises(RuntimeError, match=pattern):
        fastinit.random_bits_(t, seed=1)


@pytest.mark.parametrize("name", ["uniform_", "normal_", "trunc_normal_", "constant_"])
def test_cuda_tensor_without_usable_cuda(name):
    """A CUDA tensor when fastinit cannot use CUDA (CPU-only torch here, or no GPU/driver):
    a clear RuntimeError, not a crash or a silent CPU write to device memory. The tensor is
    a wrapper subclass on device 'cuda' (a CPU-only torch cannot make a real one)."""
    from fastinit import _core

    if _core.cuda_available():
        pytest.skip("fastinit can use CUDA here: the refusal path is not reachable")
    t = _tensor_on("cuda", allow_detach=True)
    pattern = message(name, "CUDA tensor given, but fastinit has "
                            "(no usable CUDA device|not built with CUDA)")
    with pytest.raises(RuntimeError, match=pattern):
        ALL_FILLS[name](t)


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p)]


class _DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class _DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [("version", _DLPackVersion), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p), ("flags", ctypes.c_uint64),
                ("dl_tensor", _DLTensor)]


class _ForeignDLPack:
    """The documented fake: a minimal DLPack producer (legacy "dltensor" capsule, DLPack 0.8
    layout; or, given ``version``, a "dltensor_versioned" one with ``flags``) for 6 float32
    values that live in host memory but that it *declares* to be on ``device_type`` (1 = CPU,
    7 = Vulkan, 8 = Metal). fastinit accepts any ``__dlpack__`` producer, so this reaches the
    compiled core's own checks. The capsule has no destructor: the structs belong to this
    object, which outlives the call."""

    def __init__(self, device_type, version=None, flags=0):
        self.host = np.full(6, SENTINEL, np.float32)
        self._shape = (ctypes.c_int64 * 1)(6)
        if version is None:
            self._managed, self._name = _DLManagedTensor(), b"dltensor"
        else:
            self._managed = _DLManagedTensorVersioned(_DLPackVersion(*version), None, None, flags)
            self._name = b"dltensor_versioned"
        t = self._managed.dl_tensor
        t.data = self.host.ctypes.data
        t.device = _DLDevice(device_type, 0)
        t.ndim = 1
        t.dtype = _DLDataType(2, 32, 1)  # kDLFloat, 32 bits, 1 lane
        t.shape = self._shape
        t.strides = None
        t.byte_offset = 0
        self.device_type = device_type

    def __dlpack__(self, stream=None):
        new = ctypes.pythonapi.PyCapsule_New
        new.restype = ctypes.py_object
        new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        return new(ctypes.addressof(self._managed), self._name, None)

    def __dlpack_device__(self):
        return (self.device_type, 0)


def test_dlpack_producer_on_cpu_is_filled():
    """Positive control for the fake below: declared on the CPU, it is filled in place."""
    x = _ForeignDLPack(1)
    assert fastinit.uniform_(x, seed=1) is x
    assert (x.host != SENTINEL).all() and (x.host >= 0).all() and (x.host < 1).all()


def test_versioned_dlpack_producer_is_filled_unless_flagged():
    x = _ForeignDLPack(1, version=(1, 0))
    fastinit.uniform_(x, seed=1)
    want = np.zeros(6, np.float32)
    fastinit.uniform_(want, seed=1)
    assert np.array_equal(x.host, want)
    for flags, problem in ((1, "the target is read-only"), (2, "exported a copy")):
        x = _ForeignDLPack(1, version=(1, 0), flags=flags)
        assert_rejected(x.host, ValueError, message("uniform_", problem),
                        lambda: fastinit.uniform_(x, seed=1))
    x = _ForeignDLPack(1, version=(2, 0))
    assert_rejected(x.host, ValueError, message("uniform_", r"DLPack version 2\.0"),
                    lambda: fastinit.uniform_(x, seed=1))


class _Exporter:
    """Only __dlpack__ (any keywords), as a third-party array would offer it."""

    def __init__(self, a):
        self.a = a

    def __dlpack__(self, **kwargs):
        return self.a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.a.__dlpack_device__()


def test_dlpack_export_refused_by_the_producer():
    class Refuses:
        def __dlpack__(self, **kwargs):
            raise BufferError("cannot export")

    with pytest.raises(ValueError, match=message("uniform_", r"cannot be exported for writing "
                                                            r"through DLPack \(cannot export\)")):
        fastinit.uniform_(Refuses(), seed=1)


def test_dlpack_exporter_of_numpy_memory():
    """NumPy exports DLPack 1.x capsules that flag read-only memory: refused, untouched."""
    a = np.full(SHAPE, SENTINEL, np.float32)
    fastinit.normal_(_Exporter(a), seed=3)
    want = np.zeros(SHAPE, np.float32)
    fastinit.normal_(want, seed=3)
    assert np.array_equal(a, want)
    frozen = np.full(SHAPE, SENTINEL, np.float32)
    frozen.setflags(write=False)
    assert_rejected(frozen, ValueError, message("normal_", "read-only"),
                    lambda: fastinit.normal_(_Exporter(frozen), seed=3))


@pytest.mark.parametrize("device_type", [7, 8], ids=["vulkan", "metal"])
@pytest.mark.parametrize("name", RANDOM_NAMES)
def test_dlpack_producer_on_unsupported_device(name, device_type):
    x = _ForeignDLPack(device_type)
    assert_rejected(x.host, RuntimeError,
                    message(name, rf"unsupported device \(DLPack device type {device_type}\)"),
                    lambda: RANDOM_FILLS[name][0](x, seed=1))


@pytest.mark.parametrize("name", list(ALL_FILLS) + ["random_bits_"])
def test_meta_tensor_is_a_no_op(name):
    torch = _torch()
    if name == "random_bits_":
        if not hasattr(torch, "uint32"):
            pytest.skip("torch has no uint32")
        t = torch.empty(SHAPE, dtype=torch.uint32, device="meta")
        assert fastinit.random_bits_(t, seed=1) is t
        return
    t = torch.empty(SHAPE, device="meta")
    assert ALL_FILLS[name](t) is t
    assert t.device.type == "meta" and t.shape == SHAPE


@pytest.mark.parametrize("n", [100000, 2**31 - 1, 2**31, 2**40])
def test_set_num_threads_has_a_ceiling(n):
    """libgomp crashed starting 100,000 threads and aborted at 2**31 - 1; 2**31 gave a
    pybind11 TypeError naming no function."""
    before = fastinit.get_num_threads()
    with pytest.raises(ValueError, match=message("set_num_threads", r"n must be an int in \[1, ")):
        fastinit.set_num_threads(n)
    assert fastinit.get_num_threads() == before
    fastinit.set_num_threads(fastinit._core.max_threads())  # the ceiling itself is fine
    fastinit.set_num_threads(before)


# --- issue 13 items 7 and 8: overlapping views everywhere, errors naming the called function ---

def _overlapping_view(kind):
    torch = pytest.importorskip("torch")
    if kind == "conv":
        return torch.zeros(3).as_strided((3, 3, 3), (1, 0, 0))
    return torch.zeros(4).as_strided((4, 4), (1, 0))


@pytest.mark.parametrize("name, kind, kwargs", [
    ("eye_", "matrix", {}), ("dirac_", "conv", {}), ("orthogonal_", "matrix", {}),
    ("sparse_", "matrix", {"sparsity": 0.5}), ("delta_orthogonal_", "conv", {}),
    ("xavier_uniform_", "matrix", {}), ("kaiming_normal_", "matrix", {}),
])
def test_structured_inits_refuse_overlapping_views(name, kind, kwargs):
    """eye_, dirac_ and orthogonal_ wrote through expand()ed / as_strided views and gave no
    identity and no orthogonal matrix; every init now refuses them under its own name."""
    t = _overlapping_view(kind)
    fn = getattr(fastinit.nn_init, name, None) or getattr(fastinit, name)
    assert_rejected(t, ValueError, message(name, "memory overlaps itself"), lambda: fn(t, **kwargs))


def test_interleaved_views_that_do_not_overlap_are_filled():
    """Strides (2, 3) over shape (3, 2) never share an element, though sorted strides do not
    show it at a glance: the exact test fills it, as the reference says."""
    base = np.full(16, np.nan, np.float32)
    view = np.lib.stride_tricks.as_strided(base, (3, 2), (8, 12))
    fastinit.uniform_(view, seed=3)
    assert np.isfinite(view).all()
    expected = _reference.fill_like("uniform", "float32", (0.0, 1.0), 3, 0, (3, 2))
    assert np.array_equal(view, expected)
    assert fastinit._core.memory_overlaps([3, 2], [2, 3], 1) is False
    assert fastinit._core.memory_overlaps([3, 2], [2, 2], 1) is True


@pytest.mark.parametrize("call, name, exc, problem", [
    (lambda t: fastinit.nn_init.kaiming_uniform_(t, seed=2**70), "kaiming_uniform_", ValueError,
     "seed must be in"),
    (lambda t: fastinit.nn_init.xavier_normal_(t, seed=2**70), "xavier_normal_", ValueError,
     "seed must be in"),
    (lambda t: fastinit.orthogonal_(t, seed=2**70), "orthogonal_", ValueError, "seed must be in"),
    (lambda t: fastinit.delta_orthogonal_(t.reshape(4, 4, 1), seed=2**70), "delta_orthogonal_",
     ValueError, "seed must be in"),
    (lambda t: fastinit.uniform_(t, global_shape=20), "uniform_", TypeError,
     "global_shape must be a sequence of ints"),
    (lambda t: fastinit.normal_(t, seed=np.float32(1.5)), "normal_", TypeError,
     "seed must be an int"),
])
def test_errors_name_the_function_called(call, name, exc, problem):
    t = np_target("float32", (4, 4))
    assert_rejected(t, exc, message(name, problem), lambda: call(t))


def test_more_error_names():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=message("uniform_", "seed must be an int, got a")):
        fastinit.uniform_(torch.empty(3), seed=torch.tensor(1.0))
    with pytest.raises(ValueError, match=message("stream_of", "name is not valid Unicode")):
        fastinit.stream_of("\ud800")
    with pytest.raises(TypeError, match=message("checkpoint", "config must be a dict")):
        fastinit.checkpoint(None, "/nonexistent/fastinit-out")


@pytest.mark.parametrize("dtype, name", [("complex64", "complex64"), ("int32", "int32"),
                                         ("bool", "bool")])
def test_foreign_dlpack_dtypes_are_named(dtype, name):
    """A DLPack producer of complex data gave 'unsupported dtype (other64)'."""
    torch = pytest.importorskip("torch")
    t = torch.zeros(6, dtype=getattr(torch, dtype))
    with pytest.raises(TypeError, match=message("normal_", rf"unsupported dtype \({name}\)")):
        fastinit.normal_(_Exporter(t), seed=1)
    assert not t.any()


@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2"])
def test_foreign_dlpack_float8_is_filled(dtype):
    """DLPack 1.1's float8 codes (10, 12) are the engine's float8 types: filled, not refused."""
    torch = pytest.importorskip("torch")
    t = torch.zeros(64, dtype=getattr(torch, dtype))
    fastinit.normal_(_Exporter(t), seed=1)
    assert np.array_equal(as_bits(t), reference_bits("normal", dtype, (0.0, 1.0), 1, (64,)))

"""Targets are filled in place: zero-copy, the same object back, autograd and versions intact.

DESIGN.md section 2 ("Zero-copy"): NumPy arrays through the buffer protocol, torch tensors
through DLPack, in place and honouring strides, with no temporary the size of the tensor and
the GIL released while filling. Also: leaf parameters stay leaves, the version counter moves as
for any in-place op, meta tensors are a no-op, zero-element and 0-d targets work, and
constant_ / zeros_ / ones_ write exactly the constant as the array library itself rounds it
(integer targets are handed to the library's own fill).
"""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest

import fastinit
from conftest import as_bits, assert_bits_equal

SENTINEL = -3.5
FILLS = {
    "uniform_": lambda t: fastinit.uniform_(t, -1.0, 1.0, seed=7),
    "normal_": lambda t: fastinit.normal_(t, 0.0, 2.0, seed=7),
    "trunc_normal_": lambda t: fastinit.trunc_normal_(t, 0.0, 1.0, -2.0, 2.0, seed=7),
    "constant_": lambda t: fastinit.constant_(t, 0.25),
    "zeros_": fastinit.zeros_,
    "ones_": fastinit.ones_,
}
FILL_NAMES = list(FILLS)


def _torch():
    return pytest.importorskip("torch")


def _np_ptr(a):
    return a.__array_interface__["data"][0]


# --------------------------------------------------------------------------------------------
# Zero-copy, in place, same object
# --------------------------------------------------------------------------------------------

NUMPY_VIEWS = {
    "contiguous": lambda a: a,
    "row-slice": lambda a: a[2:5],
    "strided-columns": lambda a: a[:, ::3],
    "strided-both": lambda a: a[1::2, 1:],
    "transposed": lambda a: a.T,
    "reversed": lambda a: a[::-1, ::-2],
}


@pytest.mark.parametrize("view", list(NUMPY_VIEWS))
@pytest.mark.parametrize("name", FILL_NAMES)
def test_numpy_filled_in_place(name, view):
    base = np.full((8, 12), SENTINEL, np.float32)
    v = NUMPY_VIEWS[view](base)
    ptr, base_ptr = _np_ptr(v), _np_ptr(base)
    out = FILLS[name](v)
    assert out is v
    assert _np_ptr(v) == ptr and _np_ptr(base) == base_ptr
    assert not (v == SENTINEL).any(), "some elements of the view were not written"
    # elements outside the view are untouched, and the view got a contiguous fill's values
    outside = np.ones(base.shape, bool)
    NUMPY_VIEWS[view](outside)[...] = False
    assert (base[outside] == SENTINEL).all(), "elements outside the view were written"
    expected = FILLS[name](np.empty(v.shape, np.float32))
    assert_bits_equal(v, expected, f"{view} view vs contiguous fill")


TORCH_VIEWS = {
    "contiguous": lambda t: t,
    "row-slice": lambda t: t[2:5],
    "strided-columns": lambda t: t[:, ::3],
    "transposed": lambda t: t.t(),
    "narrow": lambda t: t.narrow(1, 3, 4),
    "permuted-3d": lambda t: t.view(2, 4, 12).permute(2, 0, 1),
}


@pytest.mark.parametrize("view", list(TORCH_VIEWS))
@pytest.mark.parametrize("name", FILL_NAMES)
def test_torch_filled_in_place(name, view):
    torch = _torch()
    base = torch.full((8, 12), SENTINEL)
    v = TORCH_VIEWS[view](base)
    ptr, base_ptr = v.data_ptr(), base.data_ptr()
    out = FILLS[name](v)
    assert out is v
    assert v.data_ptr() == ptr and base.data_ptr() == base_ptr
    assert not (v == SENTINEL).any(), "some elements of the view were not written"
    outside = torch.ones(base.shape, dtype=torch.bool)
    TORCH_VIEWS[view](outside).fill_(False)
    assert (base[outside] == SENTINEL).all(), "elements outside the view were written"
    expected = FILLS[name](torch.empty(v.shape))
    assert_bits_equal(v, expected, f"{view} view vs contiguous fill")


@pytest.mark.parametrize("name", FILL_NAMES)
def test_numpy_bfloat16_via_ml_dtypes(name):
    """NumPy has no bfloat16 of its own; with ml_dtypes installed, its bfloat16 arrays are
    filled in place (through a uint16 view) with the very bits torch bfloat16 gets."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    torch = _torch()
    a = np.full((8, 12), SENTINEL, ml_dtypes.bfloat16)
    v = a[:, ::2]
    ptr = _np_ptr(v)
    assert FILLS[name](v) is v and _np_ptr(v) == ptr
    assert v.dtype == ml_dtypes.bfloat16
    assert (a[:, 1::2].astype(np.float32) == SENTINEL).all()
    expected = FILLS[name](torch.full((8, 6), SENTINEL, dtype=torch.bfloat16))
    assert_bits_equal(v, expected, f"numpy (ml_dtypes) vs torch bfloat16 {name}")


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("name", ["uniform_", "normal_", "trunc_normal_", "constant_"])
def test_no_big_temporary_numpy(name, dtype):
    """A 64 MB fill allocates (as far as tracemalloc, which sees NumPy's buffers, can tell)
    less than 1 MB; the control shows a buffer-sized temporary would be seen."""
    n = (64 << 20) // np.dtype(dtype).itemsize
    a = np.empty(n, dtype)
    tracemalloc.start()
    try:
        FILLS[name](a)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        np.empty_like(a).fill(0)  # control: a temporary of the buffer's size
        _, control_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert control_peak >= a.nbytes, "tracemalloc does not see NumPy allocations here"
    assert peak < a.nbytes // 64, f"peak {peak} bytes traced during a {a.nbytes}-byte fill"


# --------------------------------------------------------------------------------------------
# torch specifics: autograd leaves, version counter, meta
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
@pytest.mark.parametrize("name", FILL_NAMES)
def test_parameter_filled_in_place(name, dtype):
    torch = _torch()
    p = torch.nn.Parameter(torch.full((6, 5), SENTINEL, dtype=getattr(torch, dtype)))
    ptr, version = p.data_ptr(), p._version
    out = FILLS[name](p)
    assert out is p
    assert isinstance(p, torch.nn.Parameter)
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
    assert p.data_ptr() == ptr
    assert p._version > version
    assert not (p.detach() == SENTINEL).any()
    (p.float() * 3).sum().backward()  # still a working leaf
    assert p.grad is not None and torch.equal(p.grad.float(), torch.full((6, 5), 3.0))


@pytest.mark.parametrize("name", FILL_NAMES)
def test_requires_grad_leaf_tensor_filled_in_place(name):
    torch = _torch()
    t = torch.full((10,), SENTINEL, requires_grad=True)
    ptr = t.data_ptr()
    assert FILLS[name](t) is t
    assert t.is_leaf and t.requires_grad and t.grad_fn is None and t.data_ptr() == ptr
    assert not (t.detach() == SENTINEL).any()


@pytest.mark.parametrize("name", FILL_NAMES)
def test_version_counter_increases(name):
    """As for any in-place op: autograd can then detect that saved tensors were modified."""
    torch = _torch()
    base = torch.zeros(4, 6)
    view = base[:, 1:4]
    v0, b0 = view._version, base._version
    FILLS[name](view)
    assert view._version > v0
    assert base._version > b0  # a view shares its base's counter
    t = torch.zeros(5)
    before = t._version
    FILLS[name](t)
    FILLS[name](t)
    assert t._version >= before + 2


def test_modified_saved_tensor_is_detected_by_autograd():
    """The version bump is what makes autograd refuse a backward through a filled tensor."""
    torch = _torch()
    w = torch.ones(3, requires_grad=True)
    x = torch.ones(3)
    y = (w * x).sum()  # saves x for the gradient of w
    fastinit.normal_(x, seed=1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


@pytest.mark.parametrize("name", FILL_NAMES)
def test_meta_tensor_is_a_no_op(name):
    torch = _torch()
    t = torch.empty(3, 4, device="meta")
    assert FILLS[name](t) is t
    assert t.device.type == "meta" and t.shape == (3, 4)


# --------------------------------------------------------------------------------------------
# Zero-element and 0-d targets
# --------------------------------------------------------------------------------------------

ZERO_SHAPES = [(0,), (0, 3), (3, 0), (2, 0, 4)]


@pytest.mark.parametrize("shape", ZERO_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_zero_element_target(lib, shape):
    """Every fill accepts a zero-element target, whichever dim is 0, and returns it."""
    problems = []
    for name, fill in FILLS.items():
        t = np.empty(shape, np.float32) if lib == "numpy" else _torch().empty(shape)
        try:
            out = fill(t)
        except Exception as e:  # noqa: BLE001 - collect every function's failure
            problems.append(f"{name}: {type(e).__name__}: {e}")
            continue
        if out is not t or tuple(t.shape) != shape:
            problems.append(f"{name}: did not return the target unchanged in shape")
    strides = "" if lib == "numpy" else f" (torch strides {_torch().empty(shape).stride()})"
    assert not problems, f"{lib} shape {shape}{strides}:\n" + "\n".join(problems)


def test_zero_element_with_placement():
    a = np.empty((0, 3), np.float32)
    assert fastinit.normal_(a, seed=1, global_shape=(5, 3), global_offset=(5, 0)) is a


@pytest.mark.parametrize("lib, dtype", [
    pytest.param("numpy", "float32", id="numpy-float32"),
    pytest.param("numpy", "float64", id="numpy-float64"),
    pytest.param("numpy", "float16", id="numpy-float16"),
    pytest.param("torch", "float32", id="torch-float32"),
    pytest.param("torch", "bfloat16", id="torch-bfloat16"),
    pytest.param("torch", "float64", id="torch-float64"),
])
@pytest.mark.parametrize("name", FILL_NAMES)
def test_zero_dim_target(name, lib, dtype):
    """A 0-d target is one element at logical index 0: it equals a 1-element fill."""
    if lib == "numpy":
        t = np.full((), np.nan, dtype)
        one = np.full((1,), np.nan, dtype)
    else:
        torch = _torch()
        t = torch.full((), float("nan"), dtype=getattr(torch, dtype))
        one = torch.full((1,), float("nan"), dtype=getattr(torch, dtype))
    assert FILLS[name](t) is t
    assert t.shape == ()
    FILLS[name](one)
    assert_bits_equal(t.reshape(1), one, "0-d vs 1-element fill")
    assert not np.isnan(float(t))


# --------------------------------------------------------------------------------------------
# The GIL is released while filling
# --------------------------------------------------------------------------------------------

def test_gil_released_during_fill():
    """A second Python thread runs *while* a 2**27-element normal_ fill is in progress.

    The worker only counts iterations in which it sees the fill under way: a[0] already
    written (read first) and a[-1] not yet written (read second). The CPU backend walks
    tiles in order with a static schedule, so a[0] is among the first and a[-1] the last
    element written. If the fill held the GIL the worker could run only before the call
    (a[0] still NaN) or after it (a[-1] written), so the count would stay 0 however the
    interpreter switched threads. No timing enters the assertion.
    """
    n = 2**27
    a = np.full(n, np.nan, np.float32)
    started, done = threading.Event(), threading.Event()
    seen = [0]

    def worker():
        started.set()
        while not done.is_set():
            first = a[0]
            last = a[-1]
            if first == first and last != last:  # first written, last still NaN
                seen[0] += 1

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    try:
        assert started.wait(timeout=60)
        fastinit.normal_(a, seed=3)
        during = seen[0]  # read before anything else can run in this thread
    finally:
        done.set()
        thread.join(timeout=60)
    assert not np.isnan(a[[0, n // 2, n - 1]]).any()
    assert during > 0, "no Python thread ran while the fill was in progress: GIL held"


# --------------------------------------------------------------------------------------------
# constant_ / zeros_ / ones_: exact values
# --------------------------------------------------------------------------------------------

CONSTANTS = [
    pytest.param(0.1, id="0.1"),
    pytest.param(-1 / 3, id="-1_3"),
    pytest.param(2.5, id="2.5"),
    pytest.param(1e-5, id="1e-5"),
    pytest.param(-0.0, id="minus-zero"),
    pytest.param(300.0, id="300"),
    # 1 + 2**-11 + 2**-30: just above the float16 midpoint 1 + 2**-11, so it rounds up to
    # 1 + 2**-10; rounding to float32 first lands exactly on the midpoint (then down to 1.0).
]


@pytest.mark.parametrize("val", CONSTANTS)
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_constant_numpy_exact(dtype, val):
    """The value NumPy itself stores for ``val`` in that dtype (its own correctly rounded
    conversion), bit for bit, -0.0 included."""
    a = np.full((3, 5), SENTINEL, dtype)
    ptr = _np_ptr(a)
    assert fastinit.constant_(a, val) is a and _np_ptr(a) == ptr
    expected = np.full((3, 5), val, dtype)
    assert_bits_equal(a, expected, f"constant_({val!r}) {dtype}")


TORCH_FLOATS = ["float16", "bfloat16", "float32", "float64", "float8_e4m3fn", "float8_e5m2"]


@pytest.mark.parametrize("val", CONSTANTS)
@pytest.mark.parametrize("dtype", TORCH_FLOATS)
def test_constant_torch_exact(dtype, val):
    """The value torch.full / fill_ stores (what torch.nn.init.constant_ writes), bit exact."""
    torch = _torch()
    t = torch.full((3, 5), SENTINEL, dtype=getattr(torch, dtype))
    ptr = t.data_ptr()
    assert fastinit.constant_(t, val) is t and t.data_ptr() == ptr
    expected = torch.full((3, 5), val, dtype=getattr(torch, dtype))
    assert_bits_equal(t, expected, f"constant_({val!r}) {dtype}")


@pytest.mark.parametrize("lib, dtype", [pytest.param("numpy", d, id=f"numpy-{d}")
                                        for d in ("float16", "float32", "float64")]
                         + [pytest.param("torch", d, id=f"torch-{d}") for d in TORCH_FLOATS])
def test_zeros_and_ones_exact(lib, dtype):
    if lib == "numpy":
        z, o = np.full(7, SENTINEL, dtype), np.full(7, SENTINEL, dtype)
        one = np.ones(7, dtype)
    else:
        torch = _torch()
        z = torch.full((7,), SENTINEL, dtype=getattr(torch, dtype))
        o = torch.full((7,), SENTINEL, dtype=getattr(torch, dtype))
        one = torch.ones(7, dtype=getattr(torch, dtype))
    assert fastinit.zeros_(z) is z and fastinit.ones_(o) is o
    assert (as_bits(z) == 0).all(), "zeros_ must write +0.0 (all bits clear)"
    assert_bits_equal(o, one, f"ones_ {dtype}")


INT_CASES = [
    pytest.param("int64", 2**53 + 1, id="int64-2**53+1"),
    pytest.param("int64", -(2**62) - 3, id="int64-negative"),
    pytest.param("int32", -7, id="int32"),
    pytest.param("int8", -128, id="int8"),
    pytest.param("uint8", 200, id="uint8"),
    pytest.param("bool", True, id="bool"),
]


@pytest.mark.parametrize("dtype, val", INT_CASES)
def test_constant_integer_numpy_delegates(dtype, val):
    base = np.full((4, 6), 3, dtype)
    v = base[:, ::2]
    ptr = _np_ptr(v)
    assert fastinit.constant_(v, val) is v and _np_ptr(v) == ptr
    expected = np.full((4, 6), 3, dtype)
    expected[:, ::2] = val
    assert np.array_equal(base, expected) and base.dtype == np.dtype(dtype)
    assert int(v[0, 0]) == int(val)


@pytest.mark.parametrize("dtype, val", INT_CASES)
def test_constant_integer_torch_delegates(dtype, val):
    torch = _torch()
    base = torch.full((4, 6), 3, dtype=getattr(torch, dtype))
    v = base[:, ::2]
    ptr, version = v.data_ptr(), base._version
    assert fastinit.constant_(v, val) is v and v.data_ptr() == ptr
    expected = torch.full((4, 6), 3, dtype=getattr(torch, dtype))
    expected[:, ::2] = val
    assert torch.equal(base, expected)
    assert int(v[0, 0]) == int(val)
    assert base._version > version


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_zeros_ones_integer_targets(lib):
    if lib == "numpy":
        z, o = np.full(5, 9, np.int32), np.full(5, 9, np.int32)
    else:
        torch = _torch()
        z, o = torch.full((5,), 9, dtype=torch.int32), torch.full((5,), 9, dtype=torch.int32)
    assert fastinit.zeros_(z) is z and fastinit.ones_(o) is o
    assert [int(x) for x in z] == [0] * 5 and [int(x) for x in o] == [1] * 5

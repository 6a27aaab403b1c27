"""eye_ and dirac_ on every torch dtype: torch's values wherever torch's dirac_ / a
``torch.eye`` cast can make them, or an error with the tensor untouched, never half-written.

Before, dirac_ on uint16 / uint32 / uint64 zeroed the tensor, then raised NotImplementedError
(index_put has no kernel for them; torch's dirac_ fills them), and eye_ did the same (as
torch's eye_ does: torch.eye has no kernel for them or for complex32).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fastinit import nn_init

torch = pytest.importorskip("torch")

NAMES = ["uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "bool",
         "complex32", "complex64", "complex128", "float8_e4m3fn", "float8_e5m2", "bfloat16",
         "float16", "float32", "float64"]
DTYPES = [getattr(torch, n) for n in NAMES if hasattr(torch, n)]


def raw(t):
    return t.contiguous().view(-1).view(torch.uint8).clone()


def ones(shape, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "ComplexHalf support is experimental"
        return torch.ones(shape, dtype=torch.int8).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape, groups", [((6, 4, 3), 1), ((6, 4, 3, 2), 2), ((9, 3, 3, 4, 5), 3)])
def test_dirac_fills_every_dtype_torch_fills(dtype, shape, groups):
    theirs, ours = ones(shape, dtype), ones(shape, dtype)
    torch.nn.init.dirac_(theirs, groups)
    assert nn_init.dirac_(ours, groups) is ours
    assert torch.equal(raw(ours), raw(theirs))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(4, 6), (6, 4), (1, 1)])
def test_eye_fills_every_dtype(dtype, shape):
    """The identity, as torch.eye's int8 identity cast to the dtype (torch's eye_ gives it
    where torch.eye has a kernel), also through a transposed view."""
    expected = torch.eye(*shape, dtype=torch.int8).to(dtype)
    t = ones(shape, dtype)
    assert nn_init.eye_(t) is t
    assert torch.equal(raw(t), raw(expected))
    base = ones(shape[::-1], dtype)
    nn_init.eye_(base.t())
    assert torch.equal(raw(base.t()), raw(expected))


def test_a_dtype_torch_cannot_fill_is_left_untouched():
    dtype = next((getattr(torch, n) for n in ("bits8", "float4_e2m1fn_x2") if hasattr(torch, n)),
                 None)
    if dtype is None:
        pytest.skip("this torch has no dtype without a fill_ kernel")
    for shape, call in (((4, 4), nn_init.eye_), ((4, 4, 3), nn_init.dirac_)):
        t = torch.full(shape, 7, dtype=torch.uint8).view(dtype)
        with pytest.raises((NotImplementedError, RuntimeError)):
            call(t)
        assert (t.view(torch.uint8) == 7).all(), call.__name__


@pytest.mark.parametrize("dtype", ["int8", "uint16", "int64", "bool", "complex64"])
def test_numpy_integer_targets(dtype):
    a = np.full((6, 4, 3), 7, dtype=dtype)
    nn_init.dirac_(a, 2)
    expected = torch.zeros((6, 4, 3), dtype=torch.int8)
    torch.nn.init.dirac_(expected, 2)
    assert np.array_equal(a, expected.numpy().astype(dtype))
    e = np.full((3, 5), 7, dtype=dtype)
    assert np.array_equal(nn_init.eye_(e), np.eye(3, 5, dtype=dtype))


@pytest.mark.parametrize("transform", ["vmap", "grad", "functionalize"])
@pytest.mark.parametrize("name, shape", [("eye_", (3, 4)), ("dirac_", (4, 3, 3))])
def test_torch_func_transforms_as_torch(transform, name, shape):
    """eye_ and dirac_ write through torch ops only and draw nothing, so torch.func handles
    them as it handles torch's (the random fills refuse transforms: test_compile.py)."""
    def run(module):
        fn = getattr(module, name)
        if transform == "vmap":
            return torch.func.vmap(lambda x: fn(x) * 1)(torch.zeros((2,) + shape))
        if transform == "grad":
            return torch.func.grad(lambda x: fn(x).sum())(torch.zeros(shape))
        return torch.func.functionalize(lambda x: fn(x) * 1)(torch.zeros(shape))
    if name == "eye_" and transform == "vmap":  # torch: no batching rule for aten::eye.m_out
        expected = torch.eye(*shape).expand((2,) + shape)
    else:
        expected = run(torch.nn.init)
    assert torch.equal(run(nn_init), expected)

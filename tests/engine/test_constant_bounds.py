"""constant_ at the dtype's edges, as torch's fill_: a finite value past the largest finite
value is refused ("cannot be converted ... without overflow"), the buffer untouched; an
infinity is stored where the dtype has one; every accepted value has torch's bits.

Before, float32 / bfloat16 with 1e39 and float16 with 1e5 stored inf and float8_e4m3fn with
1000 stored 448. The property suite (test_properties.py) covers random values.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastinit

from conftest import as_bits

torch = pytest.importorskip("torch")

#: dtype -> (largest finite value, a value just past it)
EDGES = {
    "float32": (3.4028234663852886e38, 3.4028235e38),
    "bfloat16": (3.3895313892515355e38, 3.39e38),
    "float16": (65504.0, 65504.5),
    "float8_e4m3fn": (448.0, 449.0),
    "float8_e5m2": (57344.0, 57345.0),
    "float64": (1.7976931348623157e308, None),
}
OVERFLOWS = [(d, v) for d, v in [("float32", 1e39), ("bfloat16", 1e39), ("float16", 1e5),
                                 ("float8_e4m3fn", 1000.0), ("float8_e4m3fn", math.inf),
                                 ("float8_e5m2", 1e5)]] + \
            [(d, past) for d, (_, past) in EDGES.items() if past is not None]


def _torch_fill(dtype, value):
    """torch's own answer: the filled tensor, or the exception type."""
    try:
        return torch.full((3,), 0.0, dtype=getattr(torch, dtype)).fill_(value)
    except RuntimeError as e:
        return type(e)


@pytest.mark.parametrize("sign", [1, -1], ids=["pos", "neg"])
@pytest.mark.parametrize("dtype, value", OVERFLOWS, ids=[f"{d}-{v:g}" for d, v in OVERFLOWS])
def test_overflow_refused_as_torch_refuses(dtype, value, sign):
    value *= sign
    assert _torch_fill(dtype, value) is RuntimeError  # torch: "... without overflow"
    for shape in [(4, 5), (0,)]:  # an empty target too, as torch checks the value first
        t = torch.full(shape, -3.5, dtype=getattr(torch, dtype))
        before = as_bits(t)
        with pytest.raises(ValueError, match=rf"^fastinit\.constant_: val=\S+ cannot be "
                                             rf"converted to {dtype} without overflow"):
            fastinit.constant_(t, value)
        assert np.array_equal(as_bits(t), before)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_overflow_refused_for_numpy(dtype):
    a = np.full((3, 4), -3.5, dtype=dtype)
    with pytest.raises(ValueError, match="without overflow"):
        fastinit.constant_(a, 1e39 if dtype == "float32" else 1e5)
    assert (a == -3.5).all()


@pytest.mark.parametrize("sign", [1, -1], ids=["pos", "neg"])
@pytest.mark.parametrize("dtype", list(EDGES))
def test_largest_finite_value_and_infinity_stored_as_torch_stores_them(dtype, sign):
    values = [sign * EDGES[dtype][0]]
    if dtype != "float8_e4m3fn":  # it has no infinity (and refuses it: above)
        values.append(sign * math.inf)
    for value in values:
        expected = _torch_fill(dtype, value)
        t = torch.full((2, 3), -3.5, dtype=getattr(torch, dtype))
        assert fastinit.constant_(t, value) is t
        assert np.array_equal(as_bits(t), np.broadcast_to(as_bits(expected)[:1], (2, 3)))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_infinity_stored_in_numpy(dtype):
    a = np.zeros(5, dtype=dtype)
    fastinit.constant_(a, -math.inf)
    assert np.array_equal(as_bits(a), as_bits(np.full(5, -np.inf, dtype=dtype)))

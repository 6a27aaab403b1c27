"""orthogonal_ and delta_orthogonal_ at their edges: one QR routine for NumPy arrays and torch
tensors (the same bits in one process), and gains that are not finite, not real, or too large
for the dtype refused before anything is written.

Before, torch tensors went through torch.linalg.qr and NumPy arrays through numpy.linalg.qr:
the same sample gave Q differing by up to 1.2e-7; orthogonal_(t, gain=nan / inf) stored NaN /
inf, and float16 with gain 1e5 stored inf.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastinit
from fastinit import nn_init

from conftest import as_bits

torch = pytest.importorskip("torch")
ml_dtypes = pytest.importorskip("ml_dtypes")

DTYPES = ["float32", "float64", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"]


def numpy_target(dtype, shape):
    np_dtype = getattr(ml_dtypes, dtype) if dtype in ("bfloat16", "float8_e4m3fn",
                                                      "float8_e5m2") else dtype
    return np.full(shape, np.nan, dtype=np_dtype)


def torch_target(dtype, shape):
    return torch.full(shape, math.nan).to(getattr(torch, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7, 5), (5, 7), (6, 2, 3), (1, 9), (40, 40)])
def test_orthogonal_numpy_and_torch_same_bits(dtype, shape):
    for gain in (1.0, -0.75):
        a = nn_init.orthogonal_(numpy_target(dtype, shape), gain, seed=9)
        t = nn_init.orthogonal_(torch_target(dtype, shape), gain, seed=9)
        assert np.array_equal(as_bits(a), as_bits(t)), (dtype, shape, gain)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 4, 3), (5, 5, 2, 3), (4, 2, 3, 1, 2)])
def test_delta_orthogonal_numpy_and_torch_same_bits(dtype, shape):
    a = fastinit.delta_orthogonal_(numpy_target(dtype, shape), 1.5, seed=3)
    t = fastinit.delta_orthogonal_(torch_target(dtype, shape), 1.5, seed=3)
    assert np.array_equal(as_bits(a), as_bits(t))
    # the centre holds orthogonal_'s values for an (out, in) tensor of the same dtype
    centre = (slice(None), slice(None)) + tuple((k - 1) // 2 for k in shape[2:])
    q = nn_init.orthogonal_(torch_target(dtype, shape[:2]), 1.5, seed=3)
    assert np.array_equal(as_bits(t[centre]), as_bits(q))


def test_unseeded_torch_target_draws_from_torchs_generator():
    """The NumPy sample of a torch tensor takes its key as a torch fill does: one draw from
    torch's default generator (so torch.manual_seed reproduces it)."""
    torch.manual_seed(4)
    a = nn_init.orthogonal_(torch.empty(6, 5))
    after = torch.get_rng_state()
    torch.manual_seed(4)
    torch.empty((), dtype=torch.int64).random_()  # one 64-bit draw
    assert torch.equal(after, torch.get_rng_state())
    torch.manual_seed(4)
    assert torch.equal(a, nn_init.orthogonal_(torch.empty(6, 5)))
    g = torch.Generator().manual_seed(4)
    assert torch.equal(a, nn_init.orthogonal_(torch.empty(6, 5), generator=g))


NON_FINITE = [math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("gain", NON_FINITE, ids=str)
@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_non_finite_gain_refused(lib, gain):
    make = numpy_target if lib == "numpy" else torch_target
    t = make("float32", (4, 4))
    with pytest.raises(ValueError, match=r"^fastinit\.orthogonal_: gain must be finite"):
        nn_init.orthogonal_(t, gain, seed=1)
    assert np.isnan(np.asarray(t, dtype=np.float64)).all()
    t = make("float32", (4, 3, 3))
    with pytest.raises(ValueError, match=r"^fastinit\.delta_orthogonal_: gain must be finite"):
        fastinit.delta_orthogonal_(t, gain, seed=1)
    assert np.isnan(np.asarray(t, dtype=np.float64)).all()


@pytest.mark.parametrize("dtype, gain", [("float16", 1e5), ("float16", -7e4),
                                         ("bfloat16", 1e39), ("float32", 1e39),
                                         ("float8_e4m3fn", 1000.0), ("float8_e5m2", 6e4)])
def test_gain_past_the_dtype_refused(dtype, gain):
    for fn, shape in ((nn_init.orthogonal_, (5, 3)), (fastinit.delta_orthogonal_, (5, 3, 3))):
        t = torch_target(dtype, shape)
        with pytest.raises(ValueError, match=rf"^fastinit\.{fn.__name__}: gain=\S+ puts values "
                                             rf"past {dtype}'s largest finite value"):
            fn(t, gain, seed=2)
        assert t.float().isnan().all()


def test_gain_times_q_past_the_dtype_refused(monkeypatch):
    """Fault injection: a Q entry one ulp above 1 (a QR may return one) times float32's
    largest value is inf: refused after the QR, the target untouched."""
    from fastinit.init import _orthogonal

    qr = _orthogonal.qr

    def qr_with_an_entry_above_one(a):
        q, r = qr(a)
        q[0, 0] = np.nextafter(np.float32(1), np.float32(2))
        return q, r

    monkeypatch.setattr(_orthogonal, "qr", qr_with_an_entry_above_one)
    t = torch_target("float32", (3, 3))
    with pytest.raises(ValueError, match="puts values past float32's largest finite value"):
        nn_init.orthogonal_(t, 3.4028234663852886e38, seed=1)
    assert t.isnan().all()


def test_largest_finite_gain_kept():
    t = nn_init.orthogonal_(torch_target("float16", (1, 1)), 65504.0, seed=1)
    assert abs(t.item()) == 65504.0


@pytest.mark.parametrize("gain", [1 + 2j, np.complex64(1.0), "x", None],
                         ids=["complex", "numpy-complex64", "str", "None"])
def test_gain_not_a_real_number(gain):
    """torch's orthogonal_ keeps the real part of NumPy's complex64 with a warning; fastinit
    refuses it with torch's exception type for a complex gain (RuntimeError: torch's
    ``mul_`` says "result type ComplexFloat can't be cast to ... Float") and torch's own
    TypeError for what is no number."""
    t = torch_target("float32", (3, 3))
    exc = RuntimeError if isinstance(gain, (complex, np.complexfloating)) else TypeError
    with pytest.raises(exc):
        torch.nn.init.orthogonal_(torch.empty(3, 3), 1 + 2j if exc is RuntimeError else gain)
    with pytest.raises(exc):
        nn_init.orthogonal_(t, gain, seed=1)
    assert t.isnan().all()
    with pytest.raises(TypeError, match=r"^fastinit\.delta_orthogonal_: gain must be a real"):
        fastinit.delta_orthogonal_(torch_target("float32", (3, 3, 3)), gain, seed=1)

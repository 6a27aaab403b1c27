"""Property tests (Hypothesis) of the engine at its edges: any parameters, any view.

Over shapes, strided and negative-stride views at offsets, dtypes, and parameters that include
float32-overflowing values, signed zeros, subnormals and tiny intervals, every fill either

* raises ValueError / TypeError and leaves the whole buffer untouched, or
* writes exactly the reference's bits (sign of zero included) into the view and nothing
  outside it, all finite, uniform_ in [a, b) (a == b: a), trunc_normal_ in [a, b].

constant_ either stores the reference's (and torch.full's) bits or refuses, exactly where
torch's fill_ refuses, NaN too. Every structured init (orthogonal_, delta_orthogonal_, xavier,
kaiming's slope, sparse_'s std, the Keras/TF1 scales and factors) refuses a non-finite gain,
the target untouched, and stores only finite values for any other.

Derandomized and bounded (CI runs it in seconds): a failure reproduces on every run.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fastinit  # noqa: E402

from conftest import as_bits, fill, reference_bits  # noqa: E402

EDGES = [0.0, -0.0, 5e-324, 1.4e-45, 1e-30, 1e-8, 0.1, 1.0, 448.0, 464.0, 65504.0, 65520.0,
         1e6, 3.4e38, 3.5e38, 1e39, 1e300]
REALS = st.one_of(
    st.sampled_from(EDGES + [-x for x in EDGES]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
)
SCALES = st.one_of(st.sampled_from([0.0, 1e-30, 1e-6, 0.02, 1.0, 1e4, 1e20, 3.4e38, 1e39]),
                   st.floats(min_value=0.0, max_value=1e6, allow_nan=False))
DTYPES = ["float16", "float32", "float64"]


@st.composite
def params(draw, kind):
    if kind == "uniform":
        a, b = sorted((draw(REALS), draw(REALS)))
        if draw(st.booleans()):  # tiny intervals
            b = a + abs(a) * draw(st.sampled_from([0.0, 1e-12, 1e-7, 1e-3]))
        return (a, b)
    if kind == "normal":
        return (draw(REALS), draw(SCALES))
    mean, std = draw(REALS), draw(SCALES)
    a, b = sorted((draw(REALS), draw(REALS)))
    if draw(st.booleans()):
        a = mean + draw(st.sampled_from([-1e-6, -1e-3, -1.0, -2.0, 0.0])) * max(std, 1e-300)
        b = a + draw(st.sampled_from([0.0, 1e-12, 1e-6, 0.5, 4.0])) * max(std, 1e-300)
    return (mean, std, a, b)


TORCH_DTYPES = ["bfloat16", "float8_e4m3fn", "float8_e5m2"]


@st.composite
def views(draw, dtype):
    """A base buffer, a view of it (shape, per-axis step, negative too, and start), and the
    mask of the base elements the view covers."""
    on_torch = dtype in TORCH_DTYPES  # torch slices take positive steps only
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(0, 6)) for _ in range(ndim))
    steps = tuple(draw(st.sampled_from([1, 1, 2] if on_torch else [1, 1, 2, -1, -2]))
                  for _ in range(ndim))
    base_shape = tuple(max(1, n * abs(s)) + draw(st.integers(0, 2))
                       for n, s in zip(shape, steps))
    if on_torch:
        torch = pytest.importorskip("torch")
        base = torch.full(base_shape, float("nan")).to(getattr(torch, dtype))
    else:
        base = np.full(base_shape, np.nan, dtype=dtype)
    index = []
    for n, s, m in zip(shape, steps, base_shape):
        span = (n - 1) * abs(s) + 1 if n else 0
        if n == 0:
            index.append(slice(0, 0))
            continue
        start = draw(st.integers(0, m - span))
        index.append(slice(start, start + span, s) if s > 0 else
                     slice(start + span - 1, (start - 1) if start > 0 else None, s))
    view = base[tuple(index)]
    assert tuple(view.shape) == shape
    inside = np.zeros(base_shape, bool)
    inside[tuple(index)] = True
    return base, view, inside


def _float64(x):
    if isinstance(x, np.ndarray):
        return x.astype(np.float64)
    return x.double().numpy()


def _finite(x):
    return np.isfinite(_float64(x)).all()


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
@pytest.mark.parametrize("kind", ["uniform", "normal", "trunc_normal"])
def test_a_fill_is_the_reference_or_a_clean_error(kind, data):
    dtype = data.draw(st.sampled_from(DTYPES + TORCH_DTYPES), label="dtype")
    p = data.draw(params(kind), label="params")
    base, view, inside = data.draw(views(dtype), label="view")
    seed = data.draw(st.integers(0, 2**64 - 1), label="seed")
    before = as_bits(base)
    try:
        fill(kind, view, p, seed=seed)
    except (ValueError, TypeError):
        assert np.array_equal(as_bits(base), before), "an error left the buffer changed"
        return
    assert np.array_equal(as_bits(base)[~inside], before[~inside]), "wrote outside the view"
    if math.prod(view.shape) == 0:
        return
    assert np.array_equal(as_bits(view), reference_bits(kind, dtype, p, seed, view.shape)), \
        "compiled bits differ from the reference"
    assert _finite(view), "a fill without an error holds inf or NaN"
    x = _float64(view)
    if kind == "uniform":
        a, b = p
        assert (x >= a).all() and ((x < b).all() if a != b else (x == a).all())
    elif kind == "trunc_normal":
        assert (x >= p[2]).all() and (x <= p[3]).all()


# --- constant_: torch's fill_ at the dtype's edges -------------------------------------------

#: largest finite value of each dtype; float8_e4m3fn alone has no infinity
LARGEST = {"float16": 65504.0, "float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308,
           "bfloat16": 3.3895313892515355e38, "float8_e4m3fn": 448.0, "float8_e5m2": 57344.0}
CONSTANTS = st.one_of(
    REALS,
    st.sampled_from([math.inf, -math.inf, math.nan]),
    st.sampled_from([v * s for v in LARGEST.values() for s in (1, -1, 1 + 2**-30, 1 - 2**-30)]),
    st.sampled_from([449.0, 464.0, 65504.5, 65520.0, 57345.0, 61440.0, 3.39e38, 3.4028235e38]),
)


def _refused(dtype, val):
    """What constant_ must refuse: NaN (its bits are the hardware's), a finite value past the
    largest finite one (torch's "cannot be converted ... without overflow"), and an infinity
    where the dtype has none."""
    if math.isnan(val):
        return True
    return dtype == "float8_e4m3fn" if math.isinf(val) else abs(val) > LARGEST[dtype]


@settings(max_examples=600, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_constant_is_fill_or_a_clean_error(data):
    """Either a ValueError with the buffer untouched, exactly where torch's fill_ refuses the
    value (and for NaN), or the reference's bits in the view (torch.full's, where torch is
    here) and nothing written outside it."""
    dtype = data.draw(st.sampled_from(DTYPES + TORCH_DTYPES), label="dtype")
    val = data.draw(CONSTANTS, label="val")
    base, view, inside = data.draw(views(dtype), label="view")
    torch = _torch_or_none()
    if torch is not None and not math.isnan(val):  # the outside oracle agrees with the rule
        try:  # two elements: torch's fill_ of one element skips its overflow check
            torch.empty(2, dtype=getattr(torch, dtype)).fill_(val)
            assert not _refused(dtype, val)
        except RuntimeError:
            assert _refused(dtype, val)
    before = as_bits(base)
    try:
        fastinit.constant_(view, val)
    except ValueError:
        assert _refused(dtype, val), f"constant_({val!r}) on {dtype} refused"
        assert np.array_equal(as_bits(base), before), "an error left the buffer changed"
        return
    assert not _refused(dtype, val), f"constant_({val!r}) on {dtype} stored"
    assert np.array_equal(as_bits(base)[~inside], before[~inside]), "wrote outside the view"
    if math.prod(view.shape) == 0:
        return
    assert np.array_equal(as_bits(view), reference_bits("constant", dtype, (val,), 0,
                                                        view.shape))
    if torch is not None:
        expected = torch.full(tuple(view.shape), val, dtype=getattr(torch, dtype))
        assert np.array_equal(as_bits(view), as_bits(expected))


def _torch_or_none():
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        return None
    return torch


# --- non-finite gains: every structured init refuses them ------------------------------------

GAINS = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0, -1.0, 1e-30, 448.0,
                     65504.0, 1e5, 3.4e38, 1e39, 1e300]),
    st.floats(allow_nan=True, allow_infinity=True),
)


def _structured():
    from fastinit import keras_init, nn_init  # noqa: PLC0415

    def tf1(t, g, uniform):
        return keras_init.variance_scaling_tf1_(t, g, uniform=uniform, seed=1)
    return {  # name -> (call(t, gain), ranks it takes, needs out >= in)
        "orthogonal_": (lambda t, g: nn_init.orthogonal_(t, g, seed=1), (2, 3), False),
        "delta_orthogonal_": (lambda t, g: keras_init.delta_orthogonal_(t, g, seed=1),
                              (3, 4), True),
        "xavier_uniform_": (lambda t, g: nn_init.xavier_uniform_(t, g, seed=1), (2, 3), False),
        "xavier_normal_": (lambda t, g: nn_init.xavier_normal_(t, g, seed=1), (2, 3), False),
        "kaiming_uniform_ a": (lambda t, g: nn_init.kaiming_uniform_(t, g, seed=1), (2, 3),
                               False),
        "kaiming_normal_ a": (lambda t, g: nn_init.kaiming_normal_(t, g, seed=1), (2, 3), False),
        "sparse_ std": (lambda t, g: nn_init.sparse_(t, 0.3, g, seed=1), (2,), False),
        "variance_scaling_ scale": (lambda t, g: keras_init.variance_scaling_(t, g, seed=1),
                                    (2, 3), False),
        "uniform_unit_scaling_ factor": (
            lambda t, g: keras_init.uniform_unit_scaling_(t, g, seed=1), (2, 3), False),
        "variance_scaling_tf1_ factor": (lambda t, g: tf1(t, g, False), (2, 3), False),
        "variance_scaling_tf1_ factor uniform": (lambda t, g: tf1(t, g, True), (2, 3), False),
    }


STRUCTURED = sorted(_structured())


@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
@pytest.mark.parametrize("name", STRUCTURED)
def test_a_gain_is_finite_values_or_a_clean_error(name, data):
    """A non-finite gain (or slope, std, scale, factor) raises, the target untouched; any
    other gain gives finite values or raises cleanly (ValueError, or torch's RuntimeError /
    OverflowError for the torch.nn.init names)."""
    call, ranks, square = _structured()[name]
    dtype = data.draw(st.sampled_from(DTYPES + TORCH_DTYPES), label="dtype")
    on_torch = dtype in TORCH_DTYPES or data.draw(st.booleans(), label="torch")
    torch = _torch_or_none() if on_torch else None
    if on_torch and torch is None:
        pytest.skip("torch is not installed")
    shape = [data.draw(st.integers(1, 5)) for _ in range(data.draw(st.sampled_from(ranks)))]
    if square:
        shape[1] = min(shape[1], shape[0])
    gain = data.draw(GAINS, label="gain")
    if on_torch:
        t = torch.full(shape, float("nan")).to(getattr(torch, dtype))
    else:
        t = np.full(shape, np.nan, dtype=dtype)
    try:
        call(t, gain)
    except (ValueError, RuntimeError, OverflowError) as e:
        assert np.isnan(_float64(t)).all(), f"an error left the target changed: {e}"
        return
    assert math.isfinite(gain), f"{name} accepted gain={gain}"
    assert _finite(t), f"{name} with gain={gain} stored inf or NaN"

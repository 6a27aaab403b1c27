"""Seeding semantics (DESIGN.md section 3, docs/stream.md "Keys and streams").

* ``seed=n``: a value depends only on (n, logical index): repeatable, different seeds differ,
  NumPy and torch targets agree, and a longer fill starts with the shorter one's values.
* ``generator=``: a torch.Generator or numpy.random.Generator gives the key and is advanced by
  exactly one draw, so consecutive calls differ.
* neither: torch tensors draw from torch's default generator exactly as if it had been passed
  (``torch.manual_seed(42)`` + unseeded == ``generator=torch.Generator().manual_seed(42)``, as
  PyTorch's own test_init.py checks); NumPy arrays use fastinit's global generator, which
  ``fastinit.manual_seed(n)`` resets -- and which also seeds torch.
* negative seeds are ``2**64 + seed`` (as torch.manual_seed).

Tests that touch torch's default generator restore its state afterwards.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastinit
from conftest import as_bits, assert_bits_equal

FILLS = {
    "uniform_": (fastinit.uniform_, (-0.5, 2.0)),
    "normal_": (fastinit.normal_, (0.1, 1.5)),
    "trunc_normal_": (fastinit.trunc_normal_, (0.0, 1.0, -2.0, 2.0)),
}
FILL_NAMES = list(FILLS)
N = 4096


def _torch():
    return pytest.importorskip("torch")


@pytest.fixture
def torch_rng():
    """torch, with its default CPU generator's state restored after the test."""
    torch = _torch()
    state = torch.get_rng_state()
    yield torch
    torch.set_rng_state(state)


def _call(name, target, **kw):
    fn, params = FILLS[name]
    return fn(target, *params, **kw)


def _np(dtype="float32", shape=(N,)):
    return np.full(shape, np.nan, dtype)


def _differ_mostly(x, y, what):
    bx, by = as_bits(x).ravel(), as_bits(y).ravel()
    same = int((bx == by).sum())
    assert same < bx.size // 20, f"{what}: {same} of {bx.size} elements equal"


# --------------------------------------------------------------------------------------------
# seed=
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("name", FILL_NAMES)
def test_seed_is_repeatable_and_seeds_differ(name, dtype):
    a, b, c = _np(dtype), _np(dtype), _np(dtype)
    _call(name, a, seed=123)
    _call(name, b, seed=123)
    _call(name, c, seed=124)
    assert_bits_equal(a, b, "same seed, two calls")
    _differ_mostly(a, c, "seeds 123 and 124")


@pytest.mark.parametrize("name", FILL_NAMES)
def test_seed_value_depends_only_on_index(name):
    """Shape and length do not matter: a (64, 64) fill is the flat fill reshaped, and a
    shorter fill is a prefix of a longer one."""
    flat, square, short = _np(shape=(N,)), _np(shape=(64, 64)), _np(shape=(1000,))
    _call(name, flat, seed=9)
    _call(name, square, seed=9)
    _call(name, short, seed=9)
    assert_bits_equal(square.reshape(-1), flat, "(64, 64) vs flat")
    assert_bits_equal(short, flat[:1000], "prefix")


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("name", FILL_NAMES)
def test_seed_numpy_and_torch_targets_agree(name, dtype):
    torch = _torch()
    a = _np(dtype, (32, 128))
    t = torch.full((32, 128), float("nan"), dtype=getattr(torch, dtype))
    _call(name, a, seed=2024)
    _call(name, t, seed=2024)
    assert_bits_equal(t, a, f"torch vs numpy {dtype}")


@pytest.mark.parametrize("seed", [-1, -12345, -(2**63)], ids=["-1", "-12345", "-2**63"])
@pytest.mark.parametrize("name", FILL_NAMES)
def test_negative_seed_is_2_pow_64_plus_seed(name, seed):
    a, b = _np(), _np()
    _call(name, a, seed=seed)
    _call(name, b, seed=2**64 + seed)
    assert_bits_equal(a, b, f"seed {seed} vs 2**64 + seed")


def test_negative_seed_random_bits_and_manual_seed():
    a = np.zeros(64, np.uint32)
    b = np.zeros(64, np.uint32)
    fastinit.random_bits_(a, seed=-5)
    fastinit.random_bits_(b, seed=2**64 - 5)
    assert np.array_equal(a, b)
    fastinit.manual_seed(-5)
    x = fastinit.normal_(_np())
    fastinit.manual_seed(2**64 - 5)
    y = fastinit.normal_(_np())
    assert_bits_equal(x, y, "manual_seed(-5) vs manual_seed(2**64 - 5)")


# --------------------------------------------------------------------------------------------
# torch generators
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
@pytest.mark.parametrize("name", FILL_NAMES)
def test_torch_manual_seed_equals_explicit_generator(torch_rng, name, dtype):
    """PyTorch's trunc_normal_generator test, for every random fill: bitwise equal."""
    torch = torch_rng
    dt = getattr(torch, dtype)
    torch.manual_seed(42)
    unseeded = _call(name, torch.empty(50, 40, dtype=dt))
    explicit = _call(name, torch.empty(50, 40, dtype=dt),
                     generator=torch.Generator().manual_seed(42))
    assert_bits_equal(unseeded, explicit, "torch.manual_seed(42) vs Generator(42)")
    # and the default generator was advanced exactly as the explicit one
    g = torch.Generator().manual_seed(42)
    _call(name, torch.empty(3, dtype=dt), generator=g)
    assert torch.equal(torch.get_rng_state(), g.get_state())


@pytest.mark.parametrize("name", FILL_NAMES)
def test_torch_generator_is_advanced(name):
    torch = _torch()
    g = torch.Generator().manual_seed(5)
    state0 = g.get_state().clone()
    first = _call(name, torch.empty(N), generator=g)
    state1 = g.get_state().clone()
    second = _call(name, torch.empty(N), generator=g)
    assert not torch.equal(state0, state1), "the generator's state did not change"
    assert not torch.equal(state1, g.get_state())
    _differ_mostly(first, second, "consecutive calls on one generator")
    # one draw, as the module documents: the same as one int64 random_ on a twin generator
    twin = torch.Generator().manual_seed(5)
    torch.empty((), dtype=torch.int64).random_(generator=twin)
    assert torch.equal(state1, twin.get_state())


def test_torch_generator_works_for_numpy_targets():
    torch = _torch()
    a = fastinit.normal_(_np(), generator=torch.Generator().manual_seed(8))
    t = fastinit.normal_(torch.full((N,), float("nan")), generator=torch.Generator().manual_seed(8))
    assert_bits_equal(t, a, "torch.Generator on a numpy target vs a torch target")


def test_unseeded_torch_fills_differ(torch_rng):
    torch = torch_rng
    torch.manual_seed(0)
    a = fastinit.uniform_(torch.empty(N))
    b = fastinit.uniform_(torch.empty(N))
    _differ_mostly(a, b, "two unseeded torch fills")


# --------------------------------------------------------------------------------------------
# numpy generators and fastinit's global generator
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", FILL_NAMES)
def test_numpy_generator(name):
    g1, g2 = np.random.default_rng(77), np.random.default_rng(77)
    state0 = g1.bit_generator.state
    a = _call(name, _np(), generator=g1)
    b = _call(name, _np(), generator=g2)
    assert_bits_equal(a, b, "two numpy generators with the same seed")
    assert g1.bit_generator.state != state0, "the numpy generator was not advanced"
    c = _call(name, _np(), generator=g1)
    _differ_mostly(a, c, "consecutive calls on one numpy generator")
    assert not np.isnan(a).any()


def test_numpy_generator_works_for_torch_targets():
    torch = _torch()
    t = fastinit.uniform_(torch.full((N,), float("nan")), generator=np.random.default_rng(3))
    a = fastinit.uniform_(_np(), generator=np.random.default_rng(3))
    assert_bits_equal(t, a, "numpy Generator on torch vs numpy targets")


@pytest.mark.parametrize("name", FILL_NAMES)
def test_manual_seed_makes_unseeded_numpy_fills_reproducible(name):
    fastinit.manual_seed(31)
    a1, a2 = _call(name, _np()), _call(name, _np())
    fastinit.manual_seed(31)
    b1, b2 = _call(name, _np()), _call(name, _np())
    assert_bits_equal(a1, b1, "first unseeded fill after manual_seed(31)")
    assert_bits_equal(a2, b2, "second unseeded fill after manual_seed(31)")
    _differ_mostly(a1, a2, "successive unseeded fills")
    fastinit.manual_seed(32)
    _differ_mostly(a1, _call(name, _np()), "manual_seed(31) vs manual_seed(32)")


def test_unseeded_numpy_fill_differs_from_seed_fill():
    """The global generator uses streams 1, 2, ...; seed= uses stream 0: never the same."""
    fastinit.manual_seed(31)
    unseeded = fastinit.normal_(_np())
    seeded = fastinit.normal_(_np(), seed=31)
    _differ_mostly(unseeded, seeded, "unseeded (stream 1) vs seed=31 (stream 0)")


def test_fastinit_manual_seed_also_seeds_torch(torch_rng):
    torch = torch_rng
    fastinit.manual_seed(7)
    after_fastinit = torch.rand(16)
    torch.manual_seed(7)
    after_torch = torch.rand(16)
    assert torch.equal(after_fastinit, after_torch), (
        "torch.rand after fastinit.manual_seed(7) differs from torch.rand after "
        "torch.manual_seed(7)")


def test_fastinit_manual_seed_makes_unseeded_torch_fills_reproducible(torch_rng):
    torch = torch_rng
    fastinit.manual_seed(7)
    a = fastinit.trunc_normal_(torch.empty(N))
    torch.manual_seed(123)  # disturb torch's generator in between
    fastinit.manual_seed(7)
    b = fastinit.trunc_normal_(torch.empty(N))
    assert_bits_equal(a, b, "unseeded torch fill after fastinit.manual_seed(7), twice")


def test_keyed_by_resolver(torch_rng):
    """DESIGN.md section 3 (whole models): inside keyed_by(resolver), unseeded fills of the
    tensors the resolver knows use its (key, stream); seed= still wins; the block exits
    cleanly."""
    from fastinit._engine._seeds import keyed_by

    fastinit.manual_seed(99)
    reference = fastinit.normal_(_np())  # key 99, stream 1
    mine = _np()
    with keyed_by(lambda t: (99, 1) if t is mine else None):
        fastinit.normal_(mine)
        seeded = fastinit.normal_(_np(), seed=5)
    assert_bits_equal(mine, reference, "resolver (99, 1) vs global generator stream 1")
    assert_bits_equal(seeded, fastinit.normal_(_np(), seed=5), "seed= inside keyed_by")


# --- bad input leaves every generator where it was ------------------------------------------

@pytest.mark.parametrize("name", FILL_NAMES)
def test_placement_error_does_not_advance_a_generator(name, torch_rng):
    torch = torch_rng
    fill, params = FILLS[name]
    t = torch.empty(4, 4)
    bad = {"global_shape": [3, 4]}  # the tensor does not fit in the whole
    g = torch.Generator().manual_seed(5)
    before = g.get_state().clone()
    with pytest.raises(ValueError):
        fill(t, *params, generator=g, **bad)
    assert torch.equal(g.get_state(), before), "torch.Generator advanced by a failed fill"
    torch.manual_seed(1)
    default_before = torch.get_rng_state().clone()
    with pytest.raises(ValueError):
        fill(t, *params, **bad)
    assert torch.equal(torch.get_rng_state(), default_before), "default generator advanced"
    rng = np.random.default_rng(3)
    np_before = rng.bit_generator.state
    with pytest.raises(ValueError):
        fill(np.empty((4, 4), np.float32), *params, generator=rng, **bad)
    assert rng.bit_generator.state == np_before, "numpy Generator advanced by a failed fill"


def test_meta_tensors_check_seed_arguments():
    torch = _torch()
    meta = torch.empty(3, device="meta")
    with pytest.raises(ValueError, match=r"seed must be in \[-2\*\*63, 2\*\*64\)"):
        fastinit.normal_(meta, seed=1 << 64)
    with pytest.raises(TypeError, match="seed must be an int"):
        fastinit.uniform_(meta, seed=1.5)
    with pytest.raises(ValueError, match="not both"):
        fastinit.trunc_normal_(meta, seed=1, generator=torch.Generator())
    assert fastinit.normal_(meta, seed=1) is meta

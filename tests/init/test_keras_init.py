"""Keras / JAX / TF1 names (fastinit.keras_init): formulas, fans, layouts, errors."""

from __future__ import annotations

import math
from typing import Any, Sequence, Tuple

import numpy as np
import pytest

import fastinit
from fastinit import keras_init as K

torch = pytest.importorskip("torch")

C = 0.87962566103423978  # std of N(0, 1) truncated to [-2, 2]


def jax_compute_fans(shape: Sequence[int], in_axis: Any = -2, out_axis: Any = -1,
                     batch_axis: Any = ()) -> Tuple[float, float]:
    """JAX's _compute_fans (jax/_src/nn/initializers.py), written out (jax isn't installed)."""
    def size(axes: Any) -> float:
        return shape[axes] if isinstance(axes, int) else math.prod(shape[i] for i in axes)

    rf = math.prod(shape) / size(in_axis) / size(out_axis) / size(batch_axis)
    return size(in_axis) * rf, size(out_axis) * rf


def std_for(mode: str, scale: float, fan_in: float, fan_out: float) -> float:
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
         "fan_geo_avg": math.sqrt(fan_in * fan_out)}[mode]
    return math.sqrt(scale / n)


PRESETS = [  # (function, scale, mode, distribution)
    (K.he_normal_, 2.0, "fan_in", "truncated_normal"),
    (K.he_uniform_, 2.0, "fan_in", "uniform"),
    (K.glorot_normal_, 1.0, "fan_avg", "truncated_normal"),
    (K.glorot_uniform_, 1.0, "fan_avg", "uniform"),
    (K.lecun_normal_, 1.0, "fan_in", "truncated_normal"),
    (K.lecun_uniform_, 1.0, "fan_in", "uniform"),
]


PRESET_IDS = [p[0].__name__ for p in PRESETS]


def check_distribution(x: np.ndarray, std: float, distribution: str) -> None:
    """std within 1% (n >= 1e6), mean ~0, and the exact bounds of each distribution."""
    x = np.asarray(x, dtype=np.float64)
    assert abs(x.std() / std - 1) < 0.01, (x.std(), std)
    assert abs(x.mean()) < 0.01 * std
    m = np.abs(x).max()
    if distribution == "truncated_normal":
        bound = 2 * std / C  # 2 std of the untruncated normal
        assert m <= bound * (1 + 1e-6) and m > 0.99 * bound
    elif distribution == "uniform":
        limit = math.sqrt(3) * std
        assert m <= limit * (1 + 1e-6) and m > 0.999 * limit
    else:
        assert m > 4 * std  # untruncated: the tails are there


# --- presets and variance_scaling_ ----------------------------------------------------------

@pytest.mark.parametrize(("fn", "scale", "mode", "dist"), PRESETS, ids=PRESET_IDS)
def test_presets_linear_1000x1000(fn: Any, scale: float, mode: str, dist: str) -> None:
    w = torch.empty(1000, 1200)  # torch layout (out, in): fan_in 1200, fan_out 1000
    fn(w, seed=11)
    check_distribution(w.numpy(), std_for(mode, scale, 1200, 1000), dist)


@pytest.mark.parametrize(("fn", "scale", "mode", "dist"), PRESETS, ids=PRESET_IDS)
def test_presets_equal_the_engine_fill(fn: Any, scale: float, mode: str, dist: str) -> None:
    """Each preset is exactly one engine fill with the documented parameters."""
    w, ref = torch.empty(64, 48, 3, 3), torch.empty(64, 48, 3, 3)
    std = std_for(mode, scale, 48 * 9, 64 * 9)
    fn(w, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    if dist == "uniform":
        fastinit.uniform_(ref, -math.sqrt(3) * std, math.sqrt(3) * std, g)
    else:
        sigma = std / C
        fastinit.trunc_normal_(ref, 0.0, sigma, -2 * sigma, 2 * sigma, g)
    assert torch.equal(w, ref)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"])
@pytest.mark.parametrize("dist", ["truncated_normal", "normal", "uniform"])
def test_variance_scaling_modes_conv(mode: str, dist: str) -> None:
    w = torch.empty(256, 128, 5, 5)  # fan_in 128*25, fan_out 256*25; 819200 values
    K.variance_scaling_(w, 0.7, mode, dist, seed=3)
    check_distribution(w.numpy(), std_for(mode, 0.7, 128 * 25, 256 * 25), dist)


def test_variance_scaling_normal_is_untruncated_jax_semantics() -> None:
    a, b = torch.empty(300, 200), torch.empty(300, 200)
    K.variance_scaling_(a, 2.0, "fan_in", "normal", seed=9)
    fastinit.normal_(b, 0.0, math.sqrt(2.0 / 200), seed=9)
    assert torch.equal(a, b)
    c = torch.empty(300, 200)
    K.variance_scaling_(c, 2.0, "FAN_IN", "untruncated_normal", seed=9)  # Keras' name
    assert torch.equal(a, c)


def test_variance_scaling_defaults_are_keras() -> None:
    """scale=1, fan_in, truncated_normal: Keras' VarianceScaling() and lecun_normal."""
    a, b = torch.empty(50, 60), torch.empty(50, 60)
    K.variance_scaling_(a, seed=4)
    K.lecun_normal_(b, seed=4)
    assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_presets_other_dtypes_keep_bounds(dtype: str) -> None:
    w = torch.empty(400, 500, dtype=getattr(torch, dtype))
    K.he_normal_(w, seed=1)
    bound = 2 * math.sqrt(2 / 500) / C
    assert w.abs().max().item() <= bound
    K.glorot_uniform_(w, seed=1)
    assert w.abs().max().item() <= math.sqrt(6 / 900)


def test_numpy_targets() -> None:
    a = np.empty((700, 800), dtype=np.float32)
    K.he_uniform_(a, seed=2)
    check_distribution(a, math.sqrt(2 / 800), "uniform")
    t = torch.empty(700, 800)
    K.he_uniform_(t, seed=2)
    assert np.array_equal(a, t.numpy())


def test_generator_reproducible_and_advances() -> None:
    g = torch.Generator().manual_seed(7)
    a, b = torch.empty(10, 10), torch.empty(10, 10)
    K.glorot_normal_(a, generator=g)
    K.glorot_normal_(b, generator=g)
    assert not torch.equal(a, b)
    c = torch.empty(10, 10)
    K.glorot_normal_(c, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, c)
    torch.manual_seed(7)
    d = torch.empty(10, 10)
    K.glorot_normal_(d)  # default generator, as if passed
    assert torch.equal(a, d)


# --- fans and layouts -----------------------------------------------------------------------

@pytest.mark.parametrize(("shape", "kw", "expected"), [
    ((64, 32), {}, (32, 64)),  # torch Linear (out, in)
    ((64, 32, 3, 3), {}, (32 * 9, 64 * 9)),  # torch Conv2d (out, in, kh, kw)
    ((8, 4, 5), {}, (20, 40)),
    ((3, 3, 32, 64), {"in_axis": -2, "out_axis": -1}, (32 * 9, 64 * 9)),  # HWIO
    ((3, 3, 32, 64), {"in_axis": 2, "out_axis": 3}, (32 * 9, 64 * 9)),
    ((5, 3, 3, 32, 64), {"in_axis": -2, "out_axis": -1, "batch_axis": 0}, (32 * 9, 64 * 9)),
    ((4, 6, 10, 7), {"in_axis": (0, 1), "out_axis": -1}, (24 * 10, 7 * 10)),
    ((4, 6, 10, 7), {"in_axis": (0, 1), "out_axis": (2, 3)}, (24, 70)),
    ((12,), {"in_axis": 0, "out_axis": ()}, (12, 1)),
])
def test_compute_fans_hand_and_jax(shape: Tuple[int, ...], kw: dict,
                                   expected: Tuple[int, int]) -> None:
    assert K.compute_fans(shape, **kw) == expected
    jax_kw = {"in_axis": kw.get("in_axis", 1), "out_axis": kw.get("out_axis", 0),
              "batch_axis": kw.get("batch_axis", ())}
    assert jax_compute_fans(shape, **jax_kw) == pytest.approx(expected)


def test_default_fans_match_torch() -> None:
    for shape in [(7, 5), (7, 5, 3), (9, 4, 3, 2), (6, 2, 3, 4, 5)]:
        t = torch.empty(shape)
        fi, fo = torch.nn.init._calculate_fan_in_and_fan_out(t)
        assert K.compute_fans(shape) == (fi, fo)


def test_hwio_layout_variance_scaling_values() -> None:
    """A Keras/JAX HWIO kernel: std from JAX's fans; fan_in = I*H*W."""
    w = torch.empty(5, 5, 200, 160)
    fi, fo = jax_compute_fans(w.shape)
    for mode in ("fan_in", "fan_out", "fan_avg", "fan_geo_avg"):
        K.variance_scaling_(w, 2.0, mode, "uniform", in_axis=-2, out_axis=-1, seed=1)
        check_distribution(w.numpy(), std_for(mode, 2.0, fi, fo), "uniform")
    K.he_normal_(w, in_axis=-2, out_axis=-1, seed=2)
    check_distribution(w.numpy(), math.sqrt(2 / fi), "truncated_normal")
    a = np.empty((3, 3, 64, 96), dtype=np.float32)  # numpy HWIO
    K.glorot_uniform_(a, in_axis=-2, out_axis=-1, seed=3)
    assert np.abs(a).max() <= math.sqrt(6 / (9 * 64 + 9 * 96))


def test_global_shape_fans_and_values() -> None:
    """A shard gets the fans of the global tensor and exactly its block of values."""
    full = torch.empty(64, 96)
    K.he_uniform_(full, seed=21)
    shard = torch.empty(16, 96)
    K.he_uniform_(shard, seed=21, global_shape=(64, 96), global_offset=(32, 0))
    assert torch.equal(shard, full[32:48])
    col = torch.empty(64, 24)
    K.glorot_normal_(col, seed=21, global_shape=(64, 96), global_offset=(0, 72))
    ref = torch.empty(64, 96)
    K.glorot_normal_(ref, seed=21)
    assert torch.equal(col, ref[:, 72:])


def test_meta_and_empty_are_noops() -> None:
    m = torch.empty(10, 20, device="meta")
    assert K.he_normal_(m) is m
    e = torch.empty(0, 5)
    assert K.variance_scaling_(e, 1.0, "fan_out", "uniform", seed=0) is e


# --- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("call", "exc", "text"), [
    (lambda t: K.variance_scaling_(t, 1.0, "fan_bad"), ValueError,
     "fastinit.variance_scaling_: invalid mode for variance scaling initializer: fan_bad"),
    (lambda t: K.variance_scaling_(t, 1.0, "fan_in", "cauchy"), ValueError,
     "fastinit.variance_scaling_: invalid distribution for variance scaling initializer: cauchy"),
    (lambda t: K.variance_scaling_(t, 0.0), ValueError,
     "fastinit.variance_scaling_: Argument `scale` must be positive float. Received: scale=0.0"),
    (lambda t: K.variance_scaling_(t, -1), ValueError, "must be positive float"),
    (lambda t: K.he_normal_(t, in_axis=4, out_axis=0), ValueError,
     "fastinit.he_normal_: in_axis=4 is out of range for a 2-dimensional tensor"),
    (lambda t: K.he_normal_(t, in_axis=1.5), TypeError,
     "fastinit.he_normal_: in_axis must be an int or a tuple of ints"),
    (lambda t: K.glorot_uniform_(t, in_axis=0), ValueError,
     "fastinit.glorot_uniform_: in_axis=0, out_axis=None and batch_axis=() must name distinct"),
    (lambda t: K.lecun_uniform_(t, seed=1, generator=torch.Generator()), ValueError,
     "fastinit.lecun_uniform_: pass seed= or generator=, not both"),
    (lambda t: K.he_uniform_(t, global_shape=(8, 8, 8)), ValueError,
     "fastinit.he_uniform_: global_shape has 3 dims but the tensor has 2"),
    (lambda t: K.variance_scaling_tf1_(t, mode="FAN_BAD"), TypeError,
     "fastinit.variance_scaling_tf1_: Unknown mode FAN_BAD [FAN_IN, FAN_OUT, FAN_AVG]"),
    # TF1's contract: upper-case modes, uniform a bool (both were accepted before)
    (lambda t: K.variance_scaling_tf1_(t, mode="fan_in"), TypeError,
     "fastinit.variance_scaling_tf1_: Unknown mode fan_in [FAN_IN, FAN_OUT, FAN_AVG] (TF1's "
     "modes are upper case)"),
    (lambda t: K.variance_scaling_tf1_(t, mode=None), TypeError,
     "fastinit.variance_scaling_tf1_: Unknown mode None [FAN_IN, FAN_OUT, FAN_AVG]"),
    (lambda t: K.variance_scaling_tf1_(t, uniform="yes"), TypeError,
     "fastinit.variance_scaling_tf1_: uniform must be a bool, got 'yes'"),
    (lambda t: K.variance_scaling_tf1_(t, uniform=1), TypeError,
     "fastinit.variance_scaling_tf1_: uniform must be a bool, got 1"),
    # complex parameters: NumPy's lost their imaginary part (float() warns, then goes on)
    (lambda t: K.variance_scaling_tf1_(t, np.complex128(2 + 1j)), TypeError,
     "fastinit.variance_scaling_tf1_: factor must be a real number"),
    (lambda t: K.uniform_unit_scaling_(t, np.complex64(1.0)), TypeError,
     "fastinit.uniform_unit_scaling_: factor must be a real number"),
    (lambda t: K.variance_scaling_(t, torch.tensor(1 + 1j)), TypeError,
     "fastinit.variance_scaling_: scale must be a real number"),
    (lambda t: K.delta_orthogonal_(t.view(8, 8, 1), np.complex64(1.0)), TypeError,
     "fastinit.delta_orthogonal_: gain must be a real number"),
    (lambda t: K.uniform_unit_scaling_(t, -1.0), ValueError,
     "fastinit.uniform_unit_scaling_: factor must be >= 0"),
])
def test_errors_and_buffer_untouched(call: Any, exc: type, text: str) -> None:
    t = torch.full((8, 8), float("nan"))
    with pytest.raises(exc) as info:
        call(t)
    assert text in str(info.value)
    assert torch.isnan(t).all()


@pytest.mark.parametrize("shape", [(5,), ()])
def test_low_rank_default_axes_error_jax_text(shape: Tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=(
            rf"fastinit\.he_normal_: Can't compute input and output sizes of a {len(shape)}"
            r"-dimensional weights tensor with default in_axis\. Must be at least 2D")):
        K.he_normal_(torch.empty(shape))


def test_bad_targets() -> None:
    with pytest.raises(TypeError, match="fastinit.he_normal_: expected a torch.Tensor"):
        K.he_normal_([[1.0, 2.0]])
    with pytest.raises(TypeError, match="fastinit.glorot_uniform_: dtype torch.int64"):
        K.glorot_uniform_(torch.zeros(4, 4, dtype=torch.int64))


# --- TF1 ------------------------------------------------------------------------------------

def test_uniform_unit_scaling_fans_on_torch_and_tf_layouts() -> None:
    w = torch.empty(300, 400, 3, 3)  # torch layout: fan_in = 400*9 (TF: prod(shape[:-1]))
    K.uniform_unit_scaling_(w, 1.43, seed=1)
    limit = math.sqrt(3 / (400 * 9)) * 1.43
    check_distribution(w.numpy(), limit / math.sqrt(3), "uniform")
    tf = torch.empty(3, 3, 400, 300)  # TF layout, out last
    K.uniform_unit_scaling_(tf, 1.43, out_axis=-1, seed=1)
    assert tf.abs().max().item() <= limit and tf.abs().max().item() > 0.999 * limit
    b = torch.empty(1000)  # a bias (out,): fan_in 1, as TF's prod(shape[:-1]) of a 1-D shape
    K.uniform_unit_scaling_(b, seed=2)
    assert b.abs().max().item() <= math.sqrt(3) and b.abs().max().item() > 1.6


@pytest.mark.parametrize("mode", ["FAN_IN", "FAN_OUT", "FAN_AVG"])
def test_variance_scaling_tf1(mode: str) -> None:
    w = torch.empty(640, 400, 2, 2)
    fi, fo = 400 * 4, 640 * 4
    n = {"FAN_IN": fi, "FAN_OUT": fo, "FAN_AVG": (fi + fo) / 2}[mode]
    K.variance_scaling_tf1_(w, 2.0, mode, seed=5)  # truncated, s = sqrt(1.3 f / n), no correction
    s = math.sqrt(1.3 * 2.0 / n)
    check_distribution(w.numpy(), s * C, "truncated_normal")
    assert abs(w.std().item() / math.sqrt(2.0 / n) - 1.00296) < 0.01
    K.variance_scaling_tf1_(w, 2.0, mode, uniform=True, seed=5)
    check_distribution(w.numpy(), math.sqrt(2.0 / n), "uniform")


def test_variance_scaling_tf1_low_rank_like_tf() -> None:
    b = torch.empty(4000)  # TF1: a 1-D shape has fan_in = fan_out = its length
    K.variance_scaling_tf1_(b, 1.0, "FAN_AVG", uniform=True, seed=3)
    assert b.abs().max().item() <= math.sqrt(3 / 4000)
    s = torch.empty(())
    K.variance_scaling_tf1_(s, 1.0, uniform=True, seed=3)
    assert abs(s.item()) <= math.sqrt(3)


# --- delta orthogonal -----------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(16, 8, 3), (16, 16, 3, 5), (12, 4, 3, 3, 3), (6, 6, 4, 4)])
def test_delta_orthogonal_structure(shape: Tuple[int, ...]) -> None:
    pytest.importorskip("fastinit.nn_init")
    w = torch.full(shape, float("nan"))
    K.delta_orthogonal_(w, 1.5, seed=3)
    centre = tuple((k - 1) // 2 for k in shape[2:])
    q = w[(slice(None), slice(None)) + centre].double()
    torch.testing.assert_close(q.T @ q, 2.25 * torch.eye(shape[1], dtype=torch.float64),
                               atol=1e-5, rtol=0)
    mask = torch.ones(shape, dtype=torch.bool)
    mask[(slice(None), slice(None)) + centre] = False
    assert (w[mask] == 0).all()
    again = torch.empty(shape)
    K.delta_orthogonal_(again, 1.5, seed=3)
    assert torch.equal(w, again)


def test_delta_orthogonal_conv_preserves_norm() -> None:
    pytest.importorskip("fastinit.nn_init")
    w = torch.empty(32, 16, 3, 3)
    K.delta_orthogonal_(w, generator=torch.Generator().manual_seed(0))
    x = torch.randn(2, 16, 10, 10)
    y = torch.nn.functional.conv2d(x, w, padding=1)
    torch.testing.assert_close(y.norm(), x.norm(), rtol=1e-5, atol=0)


def test_delta_orthogonal_numpy_and_bfloat16() -> None:
    pytest.importorskip("fastinit.nn_init")
    a = np.full((10, 6, 3), np.nan, dtype=np.float32)
    K.delta_orthogonal_(a, 2.0, seed=4)
    q = a[:, :, 1].astype(np.float64)
    np.testing.assert_allclose(q.T @ q, 4 * np.eye(6), atol=1e-5)
    assert (a[:, :, [0, 2]] == 0).all()
    t = torch.empty(10, 6, 3, dtype=torch.bfloat16)
    K.delta_orthogonal_(t, 2.0, seed=4)
    ref = torch.empty(10, 6, 3)
    K.delta_orthogonal_(ref, 2.0, seed=4)
    assert torch.equal(t, ref.to(torch.bfloat16))


def test_delta_orthogonal_errors() -> None:
    with pytest.raises(ValueError, match="fastinit.delta_orthogonal_: Delta orthogonal "
                                         "initializer requires a 3D, 4D or 5D shape"):
        K.delta_orthogonal_(torch.empty(4, 4))
    t = torch.full((4, 8, 3, 3), float("nan"))
    with pytest.raises(ValueError, match="fastinit.delta_orthogonal_: `fan_in` must be less "
                                         "or equal than `fan_out`"):
        K.delta_orthogonal_(t)
    assert torch.isnan(t).all()
    with pytest.raises(TypeError, match="fastinit.delta_orthogonal_: dtype"):
        K.delta_orthogonal_(torch.zeros(4, 4, 3, dtype=torch.int32))

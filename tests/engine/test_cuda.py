"""CUDA backend: the build (PTX without fused multiply-adds, compiled whenever nvcc exists) and,
on a GPU, bit equality of CUDA fills with the CPU path for every kind and dtype, lengths around
the kernel's vector groups and tiles, strided / reversed / misaligned views, shards, raw bits,
streams, DLPack producers (torch, CuPy) and large tensors. GPU tests skip cleanly without a GPU;
which thread writes which element is proven on the host by tests/engine/test_grid_map.py."""

import pathlib
import shutil
import subprocess

import numpy as np
import pytest

import fastinit

ROOT = pathlib.Path(__file__).resolve().parents[2]
torch = pytest.importorskip("torch")
gpu = pytest.mark.skipif(
    not (torch.cuda.is_available() and fastinit.cuda_available()), reason="needs a CUDA GPU"
)
CASES = [
    (fastinit.uniform_, (-0.5, 1.5)),
    (fastinit.normal_, (0.1, 2.0)),
    (fastinit.trunc_normal_, (0.0, 0.02, -0.04, 0.04)),
    (fastinit.trunc_normal_, (0.0, 1.0, 5.0, 6.0)),
    (fastinit.trunc_normal_, (0.0, 1.0, 20.0, 21.0)),
]
DTYPES = ["float32", "float64", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"]


def _bits(t):
    t = t.detach().cpu().contiguous()
    width = {8: torch.int64, 4: torch.int32, 2: torch.int16, 1: torch.uint8}[t.element_size()]
    return t.view(width).numpy()


def _poisoned(shape, dtype, device):
    """A tensor of NaN, so an element the kernel skips shows up. Made on the CPU and copied:
    torch's own NaN conversion differs between CPU (0x7E00 in float16) and CUDA (0x7FFF)."""
    return torch.full(shape, float("nan")).to(dtype).to(device)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not found")
def test_device_code_has_no_fused_multiply_add(tmp_path):
    ptx = tmp_path / "fill.ptx"
    subprocess.run(["nvcc", "-std=c++17", "-arch=sm_90", "-fmad=false", "-ptx",
                    str(ROOT / "csrc/cuda/fill.cu"), "-o", str(ptx)], check=True)
    text = ptx.read_text()
    assert text.count(".entry") >= 20  # every dtype x distribution instantiated
    assert "fma.rn" not in text  # contraction would change bits versus the CPU


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not found")
def test_built_with_cuda_when_nvcc_present():
    assert fastinit._core.built_with_cuda


def test_cuda_available_is_a_bool_without_raising():
    assert fastinit.cuda_available() in (True, False)


@pytest.mark.cuda
@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fill,params", CASES, ids=lambda c: getattr(c, "__name__", str(c)))
def test_cuda_equals_cpu(fill, params, dtype):
    dt = getattr(torch, dtype)
    cpu = torch.empty(1000, 37, dtype=dt)
    gpu_t = torch.empty(1000, 37, dtype=dt, device="cuda")
    fill(cpu, *params, seed=123)
    fill(gpu_t, *params, seed=123)
    assert np.array_equal(_bits(cpu), _bits(gpu_t))


@pytest.mark.cuda
@gpu
def test_cuda_strided_views_shards_and_streams():
    full = torch.empty(64, 96, device="cuda")
    fastinit.normal_(full, seed=5)
    view = torch.empty(96, 64, device="cuda").t()
    fastinit.normal_(view, seed=5)
    assert torch.equal(view, full)
    block = torch.empty(20, 30, device="cuda")
    fastinit.normal_(block, seed=5, global_shape=[64, 96], global_offset=[10, 40])
    assert torch.equal(block, full[10:30, 40:70])
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        other = torch.empty(64, 96, device="cuda")
        fastinit.normal_(other, seed=5)
    side.synchronize()
    assert torch.equal(other, full)


@pytest.mark.cuda
@pytest.mark.slow
@gpu
def test_cuda_large_tensor_past_2_31_elements():
    n = 2**31 + 5
    t = torch.empty(n, dtype=torch.uint8, device="cuda").view(torch.float8_e4m3fn)
    fastinit.uniform_(t, -1.0, 1.0, seed=9)
    tail = torch.empty(1000, dtype=torch.float8_e4m3fn)
    fastinit.uniform_(tail, -1.0, 1.0, seed=9, global_shape=[n], global_offset=[n - 1000])
    assert np.array_equal(_bits(t[-1000:]), _bits(tail))


@pytest.mark.cuda
@gpu
def test_cuda_bad_input_leaves_tensor_untouched():
    t = torch.full((10,), 7.0, device="cuda")
    with pytest.raises(ValueError, match="fastinit.uniform_"):
        fastinit.uniform_(t, 2.0, 1.0)
    assert torch.all(t == 7.0)


@pytest.mark.cuda
@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 3, 4, 5, 15, 17, 1023, 1025, 8191, 8193, (1 << 20) + 7])
def test_cuda_lengths_around_groups_and_tiles(n, dtype):
    dt = getattr(torch, dtype)
    for fill, params in CASES[:3]:
        cpu, dev = _poisoned((n,), dt, "cpu"), _poisoned((n,), dt, "cuda")
        fill(cpu, *params, seed=77)
        fill(dev, *params, seed=77)
        assert np.array_equal(_bits(cpu), _bits(dev)), (fill.__name__, n)


VIEWS = {
    "transposed": lambda a: a.t(),
    "columns from 1": lambda a: a[:, 1:],
    "every other column": lambda a: a[:, ::2],
    "inner block": lambda a: a[3:40, 5:61],
    "odd start": lambda a: a.view(-1)[1:],
    "three elements in": lambda a: a.view(-1)[3:-2],
}


@pytest.mark.cuda
@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(VIEWS))
def test_cuda_views_equal_cpu_views(name, dtype):
    dt = getattr(torch, dtype)
    base_cpu, base_dev = _poisoned((48, 67), dt, "cpu"), _poisoned((48, 67), dt, "cuda")
    for fill, params in CASES[:3]:
        fill(VIEWS[name](base_cpu), *params, seed=11)
        fill(VIEWS[name](base_dev), *params, seed=11)
        assert np.array_equal(_bits(base_cpu), _bits(base_dev)), (fill.__name__, name)


@pytest.mark.cuda
@gpu
@pytest.mark.parametrize("global_shape,global_offset,shape", [
    ([64, 4096], [8, 1024], (16, 1024)),
    ([64, 4096], [8, 1001], (16, 1032)),
    ([7, 37], [2, 3], (4, 30)),
    ([9, 130], [0, 0], (5, 128)),
    ([5, 6, 7], [1, 2, 3], (3, 3, 4)),
])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64", "float8_e4m3fn"])
def test_cuda_shards_equal_cpu_shards(global_shape, global_offset, shape, dtype):
    dt = getattr(torch, dtype)
    for fill, params in CASES[:3]:
        cpu, dev = _poisoned(shape, dt, "cpu"), _poisoned(shape, dt, "cuda")
        fill(cpu, *params, seed=5, global_shape=global_shape, global_offset=global_offset)
        fill(dev, *params, seed=5, global_shape=global_shape, global_offset=global_offset)
        assert np.array_equal(_bits(cpu), _bits(dev)), fill.__name__


@pytest.mark.cuda
@gpu
@pytest.mark.skipif(not hasattr(torch, "uint32"), reason="torch without uint32")
def test_cuda_random_bits_equal_the_reference_words():
    from fastinit._engine import _reference
    for offset in (0, 3, (1 << 64) - 4099):
        dev = torch.zeros(4099, dtype=torch.uint32, device="cuda")
        fastinit.random_bits_(dev, seed=21, offset=offset, stream=4)
        expected = _reference.words(21, 4, np.arange(4099, dtype=np.uint64) + np.uint64(offset))
        assert np.array_equal(dev.cpu().view(torch.int32).numpy().view(np.uint32), expected)


@pytest.mark.cuda
@gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_constant_zero_dim_and_empty(dtype):
    dt = getattr(torch, dtype)
    t = _poisoned((1001,), dt, "cuda")
    fastinit.constant_(t, 0.375)
    assert torch.equal(t.cpu(), torch.full((1001,), 0.375, dtype=dt))
    scalar = _poisoned((), dt, "cuda")
    fastinit.normal_(scalar, seed=1)
    ref = _poisoned((), dt, "cpu")
    fastinit.normal_(ref, seed=1)
    assert np.array_equal(_bits(scalar), _bits(ref))
    fastinit.normal_(torch.empty(0, 5, dtype=dt, device="cuda"), seed=1)  # nothing to do


@pytest.mark.cuda
@gpu
def test_cuda_leaf_with_grad_is_filled_in_place():
    w = torch.nn.Parameter(torch.empty(300, 200, device="cuda"))
    version = w._version
    ptr = w.data_ptr()
    fastinit.trunc_normal_(w, std=0.02, seed=8)
    assert w.data_ptr() == ptr and w._version > version and w.requires_grad
    cpu = torch.empty(300, 200)
    fastinit.trunc_normal_(cpu, std=0.02, seed=8)
    assert torch.equal(w.detach().cpu(), cpu)


@pytest.mark.cuda
@gpu
def test_cuda_structured_inits_run_on_the_gpu():
    from fastinit import nn_init
    for fn, args in ((nn_init.orthogonal_, ()), (nn_init.sparse_, (0.5,)), (nn_init.eye_, ()),
                     (nn_init.xavier_uniform_, ()), (nn_init.kaiming_normal_, ())):
        w = torch.empty(64, 48, device="cuda")
        fn(w, *args)
        assert w.device.type == "cuda" and torch.isfinite(w).all(), fn.__name__
    q = torch.empty(64, 48, device="cuda")
    nn_init.orthogonal_(q)
    assert torch.allclose(q.t() @ q, torch.eye(48, device="cuda"), atol=1e-5)


@pytest.mark.cuda
@gpu
def test_cupy_arrays_through_dlpack():
    cp = pytest.importorskip("cupy")
    for dtype in ("float32", "float64", "float16"):
        a = cp.full((300, 7), cp.nan, dtype=dtype)
        fastinit.normal_(a, 0.5, 2.0, seed=13)
        cp.cuda.get_current_stream().synchronize()
        expected = np.full((300, 7), np.nan, dtype=dtype)
        fastinit.normal_(expected, 0.5, 2.0, seed=13)
        assert np.array_equal(cp.asnumpy(a).view(f"u{a.itemsize}"),
                              expected.view(f"u{a.itemsize}")), dtype
    for name, cut in (("columns", lambda a: a[:, 3:]), ("reversed", lambda a: a[::-1, ::-2])):
        base = cp.full((40, 50), cp.nan, dtype="float32")
        expected = np.full((40, 50), np.nan, dtype="float32")
        try:
            fastinit.uniform_(cut(base), seed=2)
        except ValueError as e:  # a producer may refuse to export negative strides: say so
            assert "DLPack" in str(e), name
            continue
        fastinit.uniform_(cut(expected), seed=2)
        cp.cuda.get_current_stream().synchronize()
        assert np.array_equal(cp.asnumpy(base).view("u4"), expected.view("u4")), name


EDGE_VALUES = [0.0, -0.0, 1e-45, -3e-45, 1.1754942e-38, 1e-40, 5.96e-8, 2.98e-8, 6.1e-5,
               65504.0, 65519.0, 65520.0, -65536.0, 3.3895e38, 448.0, 464.0, 57344.0, 1.00390625,
               1.01171875, 1.0009765625, 0.1, -2.5, 3.0e38]


@pytest.mark.cuda
@gpu
@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float8_e4m3fn", "float8_e5m2"])
def test_cuda_rounding_edges_equal_cpu(dtype):
    """The kernel rounds bfloat16/float16 pairs with the hardware's cvt and everything else
    with bits.h: ties, subnormals, overflow and signed zeros must give the CPU's bits, in
    whole 16-byte groups (vector path) and in a misaligned view (element path)."""
    dt = getattr(torch, dtype)
    for value in EDGE_VALUES:
        for n, cut in ((4096, slice(None)), (4099, slice(3, None))):
            cpu, dev = _poisoned((n,), dt, "cpu"), _poisoned((n,), dt, "cuda")
            fastinit.constant_(cpu[cut], value)
            fastinit.constant_(dev[cut], value)
            assert np.array_equal(_bits(cpu), _bits(dev)), (value, n)
    # inf - inf: NaN, whose bits are the hardware's (x86 0xFFC00000, NVIDIA 0x7FFFFFFF); the
    # parameters that could make it are refused on both devices before any store
    for device in ("cpu", "cuda"):
        t = _poisoned((8192,), dt, device)
        with pytest.raises(ValueError, match="out of"):
            fastinit.normal_(t, 1e39, 1e39, seed=4)
    # the largest finite values do fill, with the same infinities on both
    big = {"bfloat16": 3e38, "float16": 60000.0, "float8_e4m3fn": 400.0, "float8_e5m2": 50000.0}
    cpu, dev = _poisoned((8192,), dt, "cpu"), _poisoned((8192,), dt, "cuda")
    fastinit.normal_(cpu, big[dtype], big[dtype], seed=4)
    fastinit.normal_(dev, big[dtype], big[dtype], seed=4)
    assert np.array_equal(_bits(cpu), _bits(dev))

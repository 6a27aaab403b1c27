"""CUDA backend: the build (PTX without fused multiply-adds, compiled whenever nvcc exists) and,
on a GPU, bit equality of CUDA fills with the CPU path for every kind and dtype, strided views,
shards, streams and large tensors. GPU tests skip cleanly without a GPU."""

import pathlib
import shutil
import subprocess

import numpy as np
import pytest

import fastinit

ROOT = pathlib.Path(__file__).resolve().parent.parent
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

"""The CUDA kernel's division of work, proven on the host.

``_core.grid_emulate`` runs core/grid_map.h's ``fill_lane`` (the code the CUDA kernel runs in
every thread) for every (warp, lane) of the launch the kernel would make, writing into a CPU
buffer through a sink that refuses a second write to an element, a store outside the target
and a 16-byte store to a misaligned address, and checks afterwards that every element was
written. Here the result must also equal the reference bit for bit, over contiguous, strided,
negative-stride, transposed, sliced and sharded targets in every dtype, and launches of
1 to 528 blocks: a bug in the mapping fails in CI, not on a GPU.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import pytest

from fastinit import _core
from fastinit._engine import _reference
from conftest import DEFAULT_PARAMS, as_bits, assert_bits_equal, host_proof_args, reference_bits

SEED = 0x5EED_C0DA_0017
LAUNCHES = [(1, 1), (3, 1), (132, 4)]  # (SMs, resident blocks per SM): 8, 24, 4224 warps


def emulate(kind: str, target: Any, params: Sequence[float], *, sms: int = 132,
            blocks_per_sm: int = 4, global_shape: Optional[Sequence[int]] = None,
            global_offset: Optional[Sequence[int]] = None, fault: int = 0) -> dict:
    """The kernel's mapping over ``target`` (NumPy array or CPU torch tensor), in place."""
    t, fn, code, shape, offset = host_proof_args(kind, target, global_shape, global_offset)
    return _core.grid_emulate(t.obj, fn, code, list(params), SEED, 0, shape, offset,
                              dtype_override=t.dtype_override, sms=sms,
                              blocks_per_sm=blocks_per_sm, fault=fault)


def aligned_buffer(n: int, dtype: str, lead: int = 0) -> np.ndarray:
    """A NaN-filled (uint32: 0xDEADBEEF) 1-D array of n elements whose element 0 sits `lead`
    elements past a 16-byte boundary (NumPy's own alignment is not promised to be 16)."""
    size = np.dtype(dtype).itemsize
    poison = 0xDEADBEEF if np.dtype(dtype).kind == "u" else np.nan
    raw = np.full(n + lead + 16, poison, dtype=dtype)
    skip = (-raw.ctypes.data % 16) // size
    return raw[skip + lead: skip + lead + n]


def check(kind: str, view: np.ndarray, what: str, **placement: Any) -> dict:
    """Emulate on a view of a NaN buffer: the view equals the reference, the rest stays NaN."""
    base = view.base if view.base is not None else view
    before = as_bits(base).copy()
    stats = emulate(kind, view, DEFAULT_PARAMS[kind], **placement)
    expected = reference_bits(kind, view.dtype.name, DEFAULT_PARAMS[kind], SEED, view.shape,
                              placement.get("global_shape"), placement.get("global_offset"))
    assert_bits_equal(view, expected, what)
    untouched = as_bits(base)
    mask = np.ones(base.shape, bool)
    mask[_positions(base, view)] = False
    assert np.array_equal(untouched[mask], before[mask]), f"{what}: wrote outside the view"
    return stats


def _positions(base: np.ndarray, view: np.ndarray) -> np.ndarray:
    """Flat indices in ``base`` (1-D or C-contiguous) of the elements of ``view``."""
    offsets = np.zeros(view.shape, np.int64)
    start = (view.ctypes.data - base.ctypes.data) // base.itemsize
    for k, (n, s) in enumerate(zip(view.shape, view.strides)):
        shape = [1] * view.ndim
        shape[k] = n
        offsets = offsets + (np.arange(n) * (s // base.itemsize)).reshape(shape)
    return np.unravel_index((start + offsets).ravel(), base.shape)


# --- contiguous rows: vectors where aligned, scalars at the edges ---------------------------

@pytest.mark.parametrize("n", [1, 3, 4, 5, 31, 33, 1024, 1025, 10007])
@pytest.mark.parametrize("lead", [0, 1, 3])
def test_contiguous_1d_every_length_and_alignment(n, lead):
    view = aligned_buffer(n, "float32", lead)
    stats = check("normal", view, f"n={n} lead={lead}")
    if lead == 0 and n >= 4:
        assert stats["vector_stores"] == n // 4  # whole groups as 16-byte stores
        assert stats["scalar_stores"] == n % 4
    if lead:
        # element 0 sits off a 16-byte boundary but has logical index 0: no group is aligned
        assert stats["vector_stores"] == 0 and stats["scalar_stores"] == n


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("kind", ["uniform", "normal", "trunc_normal", "constant"])
@pytest.mark.parametrize("sms,blocks_per_sm", LAUNCHES)
def test_kinds_dtypes_and_launch_sizes(kind, dtype, sms, blocks_per_sm):
    n = 3 * 2048 + 5  # several tiles of 256 groups in every dtype, and a ragged tail
    view = aligned_buffer(n, dtype)
    before = as_bits(view).copy()
    stats = emulate(kind, view, DEFAULT_PARAMS[kind], sms=sms, blocks_per_sm=blocks_per_sm)
    expected = reference_bits(kind, dtype, DEFAULT_PARAMS[kind], SEED, (n,))
    assert_bits_equal(view, expected, f"{kind} {dtype} on {sms}x{blocks_per_sm} blocks")
    assert not np.array_equal(as_bits(view), before)
    assert stats["blocks"] <= sms * blocks_per_sm
    vec = 16 // np.dtype(dtype).itemsize
    assert stats["vector_stores"] == n // vec


def test_shard_phase_decides_vector_stores():
    """A shard whose first logical index is not a multiple of V, in aligned memory, has no
    aligned group; with its memory shifted by the same amount, every whole group is a vector."""
    n, full = 4000, 10000
    for shift in range(4):
        for lead in range(4):
            view = aligned_buffer(n, "float32", lead)
            stats = check("uniform", view, f"shift={shift} lead={lead}", global_shape=[full],
                          global_offset=[1000 + shift])
            if shift == lead:
                assert stats["vector_stores"] >= (n - 3) // 4 - 1
            else:
                assert stats["vector_stores"] == 0


# --- strided, negative-stride and transposed views, shards of many rows -------------------

VIEWS = {
    "rows": lambda a: a,
    "transposed": lambda a: a.T,
    "reversed rows": lambda a: a[:, ::-1],
    "reversed both": lambda a: a[::-1, ::-1],
    "every other column": lambda a: a[:, ::2],
    "every third row": lambda a: a[::3],
    "inner block": lambda a: a[3:40, 5:61],
    "odd start": lambda a: a[1:, 1:],
}


@pytest.mark.parametrize("name", list(VIEWS))
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_views(name, dtype):
    base = np.full((48, 67), np.nan, dtype=dtype)
    check("normal", VIEWS[name](base), f"{name} {dtype}")


@pytest.mark.parametrize("global_shape,global_offset,shape", [
    ([64, 4096], [8, 1024], (16, 1024)),    # a tensor-parallel column shard: rows of 256 groups
    ([64, 4096], [8, 1000], (16, 1032)),    # rows of 257+ groups over two tiles
    ([7, 37], [2, 3], (4, 30)),             # rows whose phases differ from row to row
    ([9, 130], [0, 0], (5, 128)),           # phases 0, 2, 0, ...: 32 groups, or 33
    ([3, 3, 3, 3, 3, 3, 5], [1, 0, 1, 1, 0, 1, 1], (2, 2, 2, 2, 2, 2, 3)),  # 7 dims
    ([5, 6, 7], [1, 2, 3], (3, 3, 4)),
    ([2, 3, 5, 7], [1, 1, 2, 3], (1, 2, 3, 4)),
    ([100000], [99990], (10,)),
])
@pytest.mark.parametrize("sms,blocks_per_sm", LAUNCHES)
def test_shards(global_shape, global_offset, shape, sms, blocks_per_sm):
    view = np.full(shape, np.nan, dtype="float32")
    check("trunc_normal", view, f"shard {shape} of {global_shape} at {global_offset}",
          global_shape=global_shape, global_offset=global_offset)
    view2 = np.full(shape, np.nan, dtype="float32")
    emulate("uniform", view2, (0.0, 1.0), sms=sms, blocks_per_sm=blocks_per_sm,
            global_shape=global_shape, global_offset=global_offset)
    assert_bits_equal(view2, reference_bits("uniform", "float32", (0.0, 1.0), SEED, shape,
                                            global_shape, global_offset), "uniform shard")


def test_shard_of_a_transposed_view():
    base = np.full((40, 30), np.nan, dtype="float64")
    check("normal", base.T, "transposed shard", global_shape=[50, 60], global_offset=[7, 11])


# --- narrow dtypes (torch CPU tensors) and raw bits ----------------------------------------

@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float8_e4m3fn", "float8_e5m2"])
@pytest.mark.parametrize("kind", ["uniform", "normal", "trunc_normal"])
def test_narrow_dtypes(dtype, kind):
    torch = pytest.importorskip("torch")
    full = torch.full((37, 129), float("nan"), dtype=torch.float32).to(getattr(torch, dtype))
    for name, view in (("whole", full), ("columns", full[:, 5:]), ("transposed", full.T)):
        view_bits = as_bits(view).copy()
        stats = emulate(kind, view, DEFAULT_PARAMS[kind])
        expected = reference_bits(kind, dtype, DEFAULT_PARAMS[kind], SEED, tuple(view.shape))
        assert_bits_equal(view, expected, f"{kind} {dtype} {name}")
        assert not np.array_equal(as_bits(view), view_bits)
        if name == "whole":
            vec = 16 // full.element_size()
            assert stats["vector_stores"] == full.numel() // vec


def test_raw_bits_at_the_end_of_the_stream():
    """random_bits_ words up to logical index 2**64 - 1: group arithmetic must not wrap."""
    n = 1001
    for offset in (0, 5, (1 << 64) - n, (1 << 64) - n - 2):
        out = aligned_buffer(n, "uint32")
        _core.grid_emulate(out, "random_bits_", _core.KIND_BITS, [], SEED, 7, [], [],
                           index_offset=offset)
        expected = _reference.words(SEED, 7, np.arange(n, dtype=np.uint64) + np.uint64(offset))
        assert np.array_equal(out, expected), f"offset {offset}"


# --- the checks themselves, and the launch sizing -----------------------------------------

@pytest.mark.parametrize("fault,message", [(1, "written twice"), (2, "stores for")])
def test_the_emulator_catches_a_broken_mapping(fault, message):
    view = aligned_buffer(50000, "float32")
    with pytest.raises(RuntimeError, match=message):
        emulate("uniform", view, (0.0, 1.0), sms=2, blocks_per_sm=1, fault=fault)


def test_launch_is_sized_by_sms_and_work():
    small = emulate("uniform", aligned_buffer(40, "float32"), (0.0, 1.0), sms=132)
    assert small["blocks"] == 1 and small["tiles"] == 1  # 10 groups: one tile, one block
    big = emulate("uniform", aligned_buffer(1 << 20, "float32"), (0.0, 1.0), sms=4,
                  blocks_per_sm=2)
    assert big["blocks"] == 8 and big["tiles"] == (1 << 18) // 256  # grid-stride over tiles
    rows = emulate("uniform", np.full((3, 1032), np.nan, np.float32), (0.0, 1.0),
                   global_shape=[3, 2000], global_offset=[0, 1])
    assert rows["tile_groups"] == 160  # 259 groups per row: two even tiles, not 256 + 3

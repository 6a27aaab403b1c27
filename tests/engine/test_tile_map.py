"""The tiled CUDA path's division of work, proven on the host.

``_core.tile_emulate`` runs core/tile_map.h (the mapping a tiled kernel will run) for every
thread of every CTA of a launch over a CPU target: each CTA fills a tile of (memory-fast dim x
row) through a checked shared memory, then stores it warp by warp. The emulator refuses a
second write to an element or a shared slot, a store outside the target, a slot read before it
is written or never read, a Philox block evaluated for no word, and a warp whose stores in one
step are not one contiguous run of elements (an uncoalesced store). Here, over transposed,
sliced, negative-stride and batched views, shards, tile sizes with partial tiles and launch
sizes, every element must also hold the reference's bits and have come from word
``i % kPer`` of Philox block ``i // kPer`` of its own logical index ``i`` (the contract,
docs/stream.md), computed here from the view's shape alone.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import pytest

from fastinit import _core
from fastinit._engine import _reference
from conftest import DEFAULT_PARAMS, as_bits, assert_bits_equal, host_proof_args, reference_bits

SEED = 0x711E_5EED_0027
TILES = [(32, 1), (32, 3), (32, 32), (64, 5), (96, 64)]  # (tm, tl): partial tiles both ways


def emulate(kind: str, view: Any, *, tile: Sequence[int] = (32, 32), ctas: int = 4,
            threads: int = 256, global_shape: Optional[Sequence[int]] = None,
            global_offset: Optional[Sequence[int]] = None, fault: int = 0) -> dict:
    """The tiled mapping over ``view`` (NumPy array or CPU torch tensor), in place."""
    t, fn, code, shape, offset = host_proof_args(kind, view, global_shape, global_offset)
    return _core.tile_emulate(t.obj, fn, code, list(DEFAULT_PARAMS[kind]), SEED, 0,
                              shape, offset, dtype_override=t.dtype_override, tile_m=tile[0],
                              tile_l=tile[1], ctas=ctas, threads=threads, fault=fault)


def logical_indices(shape: Sequence[int], global_shape: Optional[Sequence[int]] = None,
                    global_offset: Optional[Sequence[int]] = None, offset: int = 0) -> np.ndarray:
    """Each element's row-major index in the global tensor (docs/stream.md section 2)."""
    gshape = list(shape) if global_shape is None else list(global_shape)
    goff = [0] * len(shape) if global_offset is None else list(global_offset)
    idx = np.full(tuple(shape), offset, dtype=np.uint64)
    step = 1
    for k in reversed(range(len(shape))):
        along = (np.arange(shape[k], dtype=np.uint64) + np.uint64(goff[k])) * np.uint64(step)
        idx += along.reshape([-1 if i == k else 1 for i in range(len(shape))])
        step *= gshape[k]
    return idx


def element_offsets(view: Any) -> np.ndarray:
    """Each element's offset in elements from the view's first element (its data pointer)."""
    if isinstance(view, np.ndarray):
        strides = [s // view.itemsize for s in view.strides]
    else:
        strides = list(view.stride())
    offsets = np.zeros(tuple(view.shape), np.int64)
    for k, (n, s) in enumerate(zip(view.shape, strides)):
        offsets = offsets + (np.arange(n, dtype=np.int64) * s).reshape(
            [-1 if i == k else 1 for i in range(len(view.shape))])
    return offsets


def check_trace(stats: dict, view: Any, logical: np.ndarray, per: int, what: str) -> None:
    """Element i holds word i % per of block i // per; nothing else in the span was stored."""
    at = element_offsets(view) - stats["span_lo"]
    block, word = stats["block"][at], stats["word"][at]
    assert ((word >= 0) & (word < per)).all(), f"{what}: an element without its word"
    got = block * np.uint64(per) + word.astype(np.uint64)
    bad = np.flatnonzero(got.ravel() != logical.ravel())
    assert bad.size == 0, (f"{what}: {bad.size} elements from the wrong word, first at "
                           f"{np.unravel_index(bad[0], logical.shape)}: word of index "
                           f"{got.ravel()[bad[0]]}, logical index {logical.ravel()[bad[0]]}")
    assert int((stats["word"] >= 0).sum()) == logical.size, f"{what}: stores outside the view"


def check_work(stats: dict, numel: int, per: int, tile: Sequence[int], what: str) -> None:
    """The tile count; every word stored once; at most per - 1 words wasted at each end of a
    tile row; every warp store full (32 lanes) but the one per column at the far edge along m."""
    m, row = stats["m_extent"], stats["row_extent"]
    assert stats["tiles"] == -(-m // tile[0]) * -(-row // tile[1]) * (numel // (m * row)), what
    assert stats["words_used"] == numel, what
    assert numel <= stats["philox_blocks"] * per <= numel + 2 * (per - 1) * stats["tile_rows"], what
    full = stats["warp_stores"] - stats["partial_warp_stores"]
    assert 32 * full + stats["partial_warp_stores"] <= numel <= 32 * stats["warp_stores"], what
    assert stats["partial_warp_stores"] == (m % 32 != 0) * (numel // m), what


def check(kind: str, base: np.ndarray, view: np.ndarray, what: str, **launch: Any) -> dict:
    """Emulate on a view of a NaN buffer: reference bits, contract words, work, nothing else
    of the buffer written."""
    before = as_bits(base).copy()
    stats = emulate(kind, view, **launch)
    assert stats["usable"], f"{what}: the tile path should apply"
    gshape, goff = launch.get("global_shape"), launch.get("global_offset")
    assert_bits_equal(view, reference_bits(kind, view.dtype.name, DEFAULT_PARAMS[kind], SEED,
                                           view.shape, gshape, goff), what)
    per = 2 if view.dtype.itemsize == 8 else 4
    check_trace(stats, view, logical_indices(view.shape, gshape, goff), per, what)
    check_work(stats, view.size, per, launch.get("tile", (32, 32)), what)
    mask = np.ones(base.size, bool)
    start = (view.ctypes.data - base.ctypes.data) // base.itemsize
    mask[start + element_offsets(view).ravel()] = False
    assert np.array_equal(as_bits(base).ravel()[mask], before.ravel()[mask]), \
        f"{what}: wrote outside the view"
    return stats


# --- views the tile path takes -------------------------------------------------------------

VIEWS_2D = {
    "transposed": lambda a: a.T,
    "inner block, transposed": lambda a: a[3:40, 5:61].T,
    "odd start, transposed": lambda a: a[1:, 1:].T,
    "transposed, reversed along memory": lambda a: a.T[::-1],
    "reversed both, transposed": lambda a: a[::-1, ::-1].T,
    "every third row, transposed": lambda a: a[::3].T,
    "every other column of the transpose": lambda a: a.T[:, ::2],
}
VIEWS_BATCHED = {
    "batch of transposes": lambda x: x.transpose(0, 2, 1),
    "memory-fast dim outermost": lambda x: x.transpose(2, 0, 1),
    "short rows": lambda x: x.transpose(1, 2, 0),
    "sliced, reversed batch of transposes":
        lambda x: x[::-1, 2:33, 1:][:, ::2, ::-1].transpose(0, 2, 1),
}


@pytest.mark.parametrize("tile", TILES, ids=lambda t: f"{t[0]}x{t[1]}")
@pytest.mark.parametrize("name", list(VIEWS_2D))
def test_2d_views(name, tile):
    base = np.full((45, 70), np.nan, np.float32)
    check("normal", base, VIEWS_2D[name](base), f"{name}, tile {tile}", tile=tile)


@pytest.mark.parametrize("tile", TILES, ids=lambda t: f"{t[0]}x{t[1]}")
@pytest.mark.parametrize("name", list(VIEWS_BATCHED))
def test_batched_views(name, tile):
    base = np.full((3, 37, 50), np.nan, np.float32)
    check("uniform", base, VIEWS_BATCHED[name](base), f"{name}, tile {tile}", tile=tile)


def test_four_dims_and_tile_count():
    base = np.full((2, 3, 20, 40), np.nan, np.float32)
    check("trunc_normal", base, base.transpose(0, 1, 3, 2), "4-D batch of transposes")
    base4 = np.full((3, 4, 20, 40), np.nan, np.float32)  # two batch dims that do not merge
    stats = check("normal", base4, base4[:, 1:].transpose(0, 1, 3, 2), "two batch dims")
    assert (stats["mdim"], stats["ldim"]) == (2, 3)
    base2 = np.full((45, 70), np.nan, np.float32)
    stats = check("normal", base2, base2.T, "2-D", tile=(64, 16))
    # m: 70 = 64 + 6, the row: 45 = 16 + 16 + 13; partial: the last along either
    assert stats["tiles"] == 2 * 3 and stats["partial_tiles"] == 3 + 2 - 1


@pytest.mark.parametrize("dtype", ["float64", "float16"])
@pytest.mark.parametrize("kind", ["uniform", "normal", "trunc_normal", "constant"])
def test_numpy_dtypes(dtype, kind):
    base = np.full((41, 67), np.nan, dtype)
    check(kind, base, base.T, f"{kind} {dtype}", tile=(32, 7))
    base3 = np.full((2, 35, 33), np.nan, dtype)
    check(kind, base3, base3[:, ::-1].transpose(0, 2, 1), f"{kind} {dtype} batched", tile=(64, 8))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float8_e4m3fn", "float8_e5m2"])
def test_narrow_torch_dtypes(dtype):
    torch = pytest.importorskip("torch")
    full = torch.full((37, 129), float("nan"), dtype=torch.float32).to(getattr(torch, dtype))
    for name, view in (("transposed", full.T), ("columns, transposed", full[:, 5:].T)):
        stats = emulate("normal", view, tile=(32, 9))
        assert stats["usable"]
        assert_bits_equal(view, reference_bits("normal", dtype, DEFAULT_PARAMS["normal"], SEED,
                                               tuple(view.shape)), f"{dtype} {name}")
        check_trace(stats, view, logical_indices(tuple(view.shape)), 4, f"{dtype} {name}")


# --- shards, launches, the end of the stream ------------------------------------------------

@pytest.mark.parametrize("global_shape,global_offset,shape", [
    ([50, 60], [7, 11], (40, 30)),       # rows 60 apart: the same phase in every row
    ([50, 61], [7, 11], (40, 30)),       # rows 61 apart: four phases, blocks split across rows
    ([4, 9, 130], [1, 2, 3], (3, 5, 70)),
])
def test_shards_of_transposed_views(global_shape, global_offset, shape):
    base = np.full(shape[:-2] + shape[-2:][::-1], np.nan, np.float64)
    view = np.swapaxes(base, -1, -2)
    assert view.shape == shape
    for tile in ((32, 4), (32, 17)):
        check("normal", base, view, f"shard {shape} of {global_shape} at {global_offset}",
              tile=tile, global_shape=global_shape, global_offset=global_offset)
        base[...] = np.nan


@pytest.mark.parametrize("ctas,threads", [(1, 32), (3, 64), (7, 256), (200, 512)])
def test_launch_sizes_give_the_same_bits(ctas, threads):
    base = np.full((100, 77), np.nan, np.float32)
    check("normal", base, base.T, f"{ctas} CTAs of {threads}", tile=(64, 32), ctas=ctas,
          threads=threads)


def test_raw_bits_at_the_end_of_the_stream():
    """random_bits_ words up to logical index 2**64 - 1: block arithmetic must not wrap."""
    n = 31 * 45
    for offset in (0, 3, (1 << 64) - n, (1 << 64) - n - 2):
        base = np.zeros((31, 45), np.uint32)
        view = base.T
        stats = _core.tile_emulate(view, "random_bits_", _core.KIND_BITS, [], SEED, 7, [], [],
                                   index_offset=offset, tile_m=32, tile_l=6)
        logical = logical_indices(view.shape, offset=offset)
        expected = _reference.words(SEED, 7, logical.ravel()).reshape(view.shape)
        assert np.array_equal(view, expected), f"offset {offset}"
        check_trace(stats, view, logical, 4, f"offset {offset}")


def test_random_layouts():
    """A sweep of random shapes, permutations, slices (steps of +-1..3) and tile sizes: where
    the tile path applies, every check above holds."""
    rng = np.random.default_rng(27)
    taken = 0
    for case in range(150):
        ndim = int(rng.integers(2, 5))
        shape = tuple(int(n) for n in rng.integers(1, 40 if ndim == 2 else 12, ndim))
        base = np.full(shape, np.nan, np.float32)
        # steps of +-1 along the base's last (memory-fast) dim: the tile path needs one
        steps = [int(rng.choice([1, -1, 2, -2, 3])) for _ in shape[:-1]]
        steps.append(int(rng.choice([1, -1])))
        slices = tuple(slice(None, None, step) for step in steps)
        view = base[slices].transpose(rng.permutation(ndim))
        tile = (32 * int(rng.integers(1, 4)), int(rng.integers(1, 40)))
        what = f"case {case}: {base.shape}[{slices}] as {view.shape} {view.strides}, tile {tile}"
        if view.size == 0:
            continue
        stats = emulate("uniform", view, tile=tile, ctas=int(rng.integers(1, 9)))
        if not stats["usable"]:
            assert np.isnan(base).all(), f"{what}: written although not taken"
            continue
        taken += 1
        base[...] = np.nan
        check("uniform", base, view, what, tile=tile)
    assert taken >= 60  # the sweep must reach the tile path often


# --- views the tile path leaves to the row path, and the checks themselves -----------------

@pytest.mark.parametrize("name,make", [
    ("contiguous", lambda a: a),
    ("reversed rows", lambda a: a[:, ::-1]),
    ("no dim of stride 1", lambda a: a[:, ::2].T),
    ("one column", lambda a: a[:, :1]),
    ("one dim", lambda a: a[0]),
])
def test_views_the_tile_path_leaves(name, make):
    base = np.full((40, 66), np.nan, np.float32)
    stats = emulate("normal", make(base))
    assert not stats["usable"] and np.isnan(base).all(), name


@pytest.mark.parametrize("fault,message", [
    (1, "written twice"),
    (2, "never read"),
    (3, "not contiguous"),
])
def test_the_emulator_catches_a_broken_mapping(fault, message):
    base = np.full((100, 80), np.nan, np.float32)
    with pytest.raises(RuntimeError, match=message):
        emulate("uniform", base.T, tile=(64, 32), fault=fault)


def test_bad_launch_is_an_error():
    base = np.full((40, 40), np.nan, np.float32)
    for launch in ({"tile": (48, 8)}, {"tile": (32, 0)}, {"threads": 100}, {"ctas": 0}):
        with pytest.raises(ValueError, match="multiples of 32"):
            emulate("normal", base.T, **launch)

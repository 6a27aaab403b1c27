"""The Philox counter is 128 bits: a 64-bit block index (two words) and a 64-bit stream (two
words). Offsets past 2**34 elements (block index past 2**32) must carry into the second word,
not wrap; both stream words must reach the counter; and a word is a function of its logical
index only, also near the end of the 64-bit index space.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastinit
from fastinit._engine import _reference
from conftest import as_bits, assert_bits_equal, empty_target, reference_bits

SEED = 0x0DDB_A11_C0FFEE
U64 = 1 << 64


def bits(n, offset=0, stream=0, seed=SEED):
    out = np.zeros(n, np.uint32)
    fastinit.random_bits_(out, seed=seed, offset=offset, stream=stream)
    return out


def raw_block(block, stream=0, seed=SEED):
    """Block ``block`` of ``stream`` straight from the engine (counter built by hand)."""
    ctr = np.array([[block & 0xFFFFFFFF, block >> 32, stream & 0xFFFFFFFF, stream >> 32]],
                   np.uint32)
    key = np.array([[seed & 0xFFFFFFFF, seed >> 32]], np.uint32)
    return fastinit.philox4x32_10(ctr, key)[0]


# --- block index past 2**32 ----------------------------------------------------------------

@pytest.mark.parametrize("n", [16, 1500], ids=["n16", "n1500"])
def test_random_bits_across_block_2_32(n):
    offset = (1 << 34) - 5  # blocks 2**32 - 2 ... : the low counter word wraps inside the fill
    got = bits(n, offset)
    expected = _reference.words(SEED, 0, offset + np.arange(n, dtype=np.uint64))
    np.testing.assert_array_equal(got, expected)
    # block 2**32 is counter (0, 1, 0, 0), and it is not block 0
    np.testing.assert_array_equal(got[5:9], raw_block(1 << 32))
    assert not np.array_equal(got[5:9], bits(4, 0)), "block 2**32 wrapped onto block 0"
    np.testing.assert_array_equal(got[1:5], raw_block((1 << 32) - 1))


def test_float64_words_across_block_2_32():
    # float64 takes two words per element: block 2**32 starts at element 2**33
    n, offset, gshape = 11, (1 << 33) - 3, 1 << 35
    t = empty_target("numpy", "float64", (n,))
    fastinit.uniform_(t, seed=SEED, global_shape=[gshape], global_offset=[offset])
    assert_bits_equal(t, reference_bits("uniform", "float64", (0.0, 1.0), SEED, (n,), [gshape],
                                        [offset]), "float64 across block 2**32")
    first = empty_target("numpy", "float64", (4,))
    fastinit.uniform_(first, seed=SEED, global_shape=[gshape], global_offset=[0])
    assert not np.array_equal(t[3:7], first), "element 2**33 wrapped onto element 0"


@pytest.mark.parametrize("lib, dtype", [("numpy", "float32"), ("numpy", "float64"),
                                        ("numpy", "float16"), ("torch", "bfloat16")],
                         ids=["numpy-float32", "numpy-float64", "numpy-float16", "torch-bfloat16"])
def test_sharded_fill_past_2_34(lib, dtype):
    n, offset, gshape = 37, (1 << 34) - 7, 1 << 35
    t = empty_target(lib, dtype, (n,))
    fastinit.uniform_(t, -1.0, 1.0, seed=SEED, global_shape=[gshape], global_offset=[offset])
    assert_bits_equal(t, reference_bits("uniform", dtype, (-1.0, 1.0), SEED, (n,), [gshape],
                                        [offset]), f"{dtype} shard at 2**34 - 7")
    low = empty_target(lib, dtype, (n,))
    fastinit.uniform_(low, -1.0, 1.0, seed=SEED, global_shape=[gshape], global_offset=[0])
    assert not np.array_equal(as_bits(t[7:]), as_bits(low[:n - 7])), "wrapped at 2**34"


def test_2d_shard_crossing_index_2_34():
    # rows of 2**18: row 2**16 starts at logical index 2**34 (block 2**32)
    gshape, shape, offset = [1 << 18, 1 << 18], (3, 50), [(1 << 16) - 1, (1 << 18) - 50]
    t = empty_target("numpy", "float32", shape)
    fastinit.normal_(t, seed=SEED, global_shape=gshape, global_offset=offset)
    assert_bits_equal(t, reference_bits("normal", "float32", (0.0, 1.0), SEED, shape, gshape,
                                        offset), "2-D shard across 2**34")


# --- streams and keys ----------------------------------------------------------------------

STREAMS = [0, 1, 2, 1 << 32, (1 << 32) + 1, U64 - 1]


@pytest.mark.parametrize("stream", STREAMS, ids=[f"stream{s:#x}" for s in STREAMS])
def test_stream_words_reach_the_counter(stream):
    got = bits(12, offset=4, stream=stream)
    np.testing.assert_array_equal(got, _reference.words(SEED, stream,
                                                        4 + np.arange(12, dtype=np.uint64)))
    np.testing.assert_array_equal(got[:4], raw_block(1, stream))


def test_streams_are_distinct():
    words = {s: bits(64, stream=s).tobytes() for s in STREAMS}
    assert len(set(words.values())) == len(STREAMS), "two streams gave the same words"
    assert words[1] != words[0]
    assert words[1 << 32] != words[0], "stream high word ignored"


def test_key_high_word_is_used():
    assert not np.array_equal(bits(16, seed=1 << 32), bits(16, seed=0))
    np.testing.assert_array_equal(bits(16, seed=1 << 32),
                                  _reference.words(1 << 32, 0, np.arange(16, dtype=np.uint64)))


# --- the end of the 64-bit index space -----------------------------------------------------

def test_word_is_a_function_of_position_near_2_64():
    """random_bits_ accepts any offset < 2**64, so offset + n may pass 2**64. Whatever the
    library does there (raise, wrap, or continue into block 2**62), the word for a logical
    position must not depend on where the call started: two overlapping calls must agree."""
    n = 2000
    a_off, b_off = U64 - 3, U64 - 1
    a, b = np.zeros(n, np.uint32), np.zeros(n, np.uint32)
    try:
        fastinit.random_bits_(a, seed=SEED, offset=a_off)
        fastinit.random_bits_(b, seed=SEED, offset=b_off)
    except (ValueError, OverflowError):
        return  # rejecting offset + n > 2**64 is a valid contract
    shift = b_off - a_off
    bad = np.flatnonzero(a[shift:] != b[:n - shift])
    assert bad.size == 0, (
        f"{bad.size} words differ between random_bits_(offset=2**64-3) and (offset=2**64-1) for "
        f"the same positions; first at position 2**64-1+{int(bad[0])}")

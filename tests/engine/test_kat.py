"""Known answers for the engine: Random123's Philox4x32-10 vectors, the stream contract's word
layout (``random_bits_`` against ``_reference.words``) and the C++26 ``std::philox4x32`` anchor.

Both the compiled ``fastinit.philox4x32_10`` and the executable spec ``_reference.philox4x32_10``
are checked against the published vectors, so a shared mistake cannot hide.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import fastinit
from fastinit._engine import _reference

KAT_FILE = Path(__file__).resolve().parents[1] / "data" / "philox4x32_10_kat.txt"
U64 = 1 << 64


def load_kat(path: Path = KAT_FILE) -> list:
    """Rows ``(counter[4], key[2], expected[4])`` of the philox4x32 10-round vectors."""
    rows = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        name, rounds, *words = fields
        if (name, rounds) != ("philox4x32", "10"):
            continue
        assert len(words) == 10, f"malformed KAT line: {line!r}"
        w = [int(x, 16) for x in words]
        rows.append((w[0:4], w[4:6], w[6:10]))
    return rows


KAT = load_kat()


def test_kat_file_has_the_three_published_vectors():
    assert len(KAT) == 3
    assert KAT[0] == ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8])


@pytest.mark.parametrize("impl", [fastinit.philox4x32_10, _reference.philox4x32_10],
                         ids=["compiled", "reference"])
@pytest.mark.parametrize("ctr, key, expected", KAT, ids=["zeros", "ones", "pi"])
def test_philox_known_answer(impl, ctr, key, expected):
    out = impl(np.array([ctr], np.uint32), np.array([key], np.uint32))
    assert out.dtype == np.uint32 and out.shape == (1, 4)
    assert [f"{int(v):08x}" for v in out[0]] == [f"{v:08x}" for v in expected]


@pytest.mark.parametrize("impl", [fastinit.philox4x32_10, _reference.philox4x32_10],
                         ids=["compiled", "reference"])
def test_philox_known_answers_in_one_batch(impl):
    ctr = np.array([r[0] for r in KAT], np.uint32)
    key = np.array([r[1] for r in KAT], np.uint32)
    expected = np.array([r[2] for r in KAT], np.uint32)
    np.testing.assert_array_equal(impl(ctr, key), expected)


def test_compiled_philox_equals_reference_on_random_rows():
    rng = np.random.default_rng(20240611)
    ctr = rng.integers(0, 1 << 32, size=(1000, 4), dtype=np.uint64).astype(np.uint32)
    key = rng.integers(0, 1 << 32, size=(1000, 2), dtype=np.uint64).astype(np.uint32)
    np.testing.assert_array_equal(fastinit.philox4x32_10(ctr, key),
                                  _reference.philox4x32_10(ctr, key))


def _random_bits_cases() -> list:
    rng = np.random.default_rng(7)
    cases = [
        pytest.param(0, 0, 1, 0, id="seed0-off0-n1"),
        pytest.param(U64 - 1, 0, 4, 0, id="seedmax-off0-n4"),
        pytest.param(1, 1, 7, 0, id="off1-n7"),
        pytest.param(1, 3, 5, 0, id="off3-n5"),
        pytest.param(42, 510, 9, 0, id="off510-n9"),
        pytest.param(42, 2, 1029, 3, id="off2-n1029-stream3"),
    ]
    for j in range(8):
        seed = int(rng.integers(0, U64, dtype=np.uint64))
        offset = int(rng.integers(0, 1 << 40))
        n = int(rng.integers(1, 3000))
        stream = int(rng.integers(0, U64, dtype=np.uint64)) if j % 2 else 0
        cases.append(pytest.param(seed, offset, n, stream, id=f"random{j}-off{offset}-n{n}"))
    return cases


@pytest.mark.parametrize("seed, offset, n, stream", _random_bits_cases())
def test_random_bits_match_reference_words(seed, offset, n, stream):
    out = np.zeros(n, np.uint32)
    assert fastinit.random_bits_(out, seed=seed, offset=offset, stream=stream) is out
    expected = _reference.words(seed, stream, offset + np.arange(n, dtype=np.uint64))
    np.testing.assert_array_equal(out, expected)


def test_random_bits_are_lanes_of_philox_blocks():
    # Word i = lane i % 4 of block i // 4, counter (block lo, block hi, stream lo, stream hi),
    # key (seed lo, seed hi): checked against the raw engine, not the reference's words().
    seed, stream = 0x0123456789ABCDEF, 0xFEDCBA9876543210
    out = np.zeros(12, np.uint32)
    fastinit.random_bits_(out, seed=seed, offset=8, stream=stream)
    blocks = np.arange(2, 5, dtype=np.uint64)
    ctr = np.stack([blocks, np.zeros(3, np.uint64), np.full(3, stream & 0xFFFFFFFF, np.uint64),
                    np.full(3, stream >> 32, np.uint64)], axis=1).astype(np.uint32)
    key = np.tile(np.array([seed & 0xFFFFFFFF, seed >> 32], np.uint32), (3, 1))
    np.testing.assert_array_equal(out, fastinit.philox4x32_10(ctr, key).ravel())


# C++26 std::philox4x32 (P2075): the 10000th output of a default-constructed engine is
# 1955073260. Default seed 20111115 gives key (20111115, 0); the counter starts at 0 and the four
# words of each block are emitted in order, so output number 10000 is our word index 9999:
# lane 3 of block 2499 on stream 0 under seed 20111115.
STD_PHILOX_SEED = 20111115
STD_PHILOX_10000TH = 1955073260


def test_cxx26_anchor_via_reference():
    assert int(_reference.words(STD_PHILOX_SEED, 0, np.array([9999]))[0]) == STD_PHILOX_10000TH
    block = _reference.philox4x32_10(np.array([[2499, 0, 0, 0]]), np.array([[STD_PHILOX_SEED, 0]]))
    assert int(block[0, 3]) == STD_PHILOX_10000TH


def test_cxx26_anchor_via_random_bits():
    out = np.zeros(10000, np.uint32)
    fastinit.random_bits_(out, seed=STD_PHILOX_SEED)
    assert int(out[9999]) == STD_PHILOX_10000TH
    one = np.zeros(1, np.uint32)
    fastinit.random_bits_(one, seed=STD_PHILOX_SEED, offset=9999)
    assert int(one[0]) == STD_PHILOX_10000TH

"""The bits of stream contract v1 (fastinit.STREAM_VERSION, docs/stream.md section 5), pinned.

The executable spec (``_reference``) is what the compiled fills are tested against bit for bit
(test_reference.py); here its output for every distribution and dtype is pinned by digest, so
a change to the spec that moves any bit fails even when spec and compiled code change together.
Such a change is a new contract: raise STREAM_VERSION, say what changed in docs/stream.md
section 5, and pin the new digests under the new number.
"""

import hashlib

import numpy as np
import pytest

import fastinit
from conftest import DEFAULT_PARAMS, reference_bits
from fastinit._engine import _reference

DTYPES = ("float32", "float64", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2")
# sha256[:16] of the raw bits of 4099 elements, seed 12345, stream 7 (contract v1)
V1 = {
    ("uniform", "float32"): "46f3557459c014d5", ("uniform", "float64"): "27a3cc594765e868",
    ("uniform", "float16"): "fc7470ef77087c63", ("uniform", "bfloat16"): "3d6d28f4e969e60e",
    ("uniform", "float8_e4m3fn"): "8dd5d89ba6239c6a", ("uniform", "float8_e5m2"): "257f0253eef63a64",
    ("normal", "float32"): "1b908165a4d74aab", ("normal", "float64"): "e65a0058bf944531",
    ("normal", "float16"): "189083e3785b9728", ("normal", "bfloat16"): "a6ee610b0d6acd0a",
    ("normal", "float8_e4m3fn"): "047a8adeaa0bc3e1", ("normal", "float8_e5m2"): "da289cc56fcc6e13",
    ("trunc_normal", "float32"): "a3669122188365f4", ("trunc_normal", "float64"): "bb959b4da1cfc068",
    ("trunc_normal", "float16"): "a829b9ca1e416947", ("trunc_normal", "bfloat16"): "5c789b511837e45f",
    ("trunc_normal", "float8_e4m3fn"): "26d7a04b12f5c09a",
    ("trunc_normal", "float8_e5m2"): "9ebd4d85c4b79206",
}
NAME = "model.layers.0.mlp.up_proj.weight"


def digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def test_this_is_contract_v1():
    assert fastinit.STREAM_VERSION == 1, "a new contract: pin its digests in a new table"


@pytest.mark.parametrize("kind", ["uniform", "normal", "trunc_normal"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_distribution_and_dtype_keeps_its_bits(kind, dtype):
    got = digest(reference_bits(kind, dtype, DEFAULT_PARAMS[kind], 12345, (4099,), stream=7))
    assert got == V1[kind, dtype], (f"{kind} {dtype}: the bits of contract v1 changed; raise "
                                    f"fastinit.STREAM_VERSION and say why in docs/stream.md")


def test_name_streams_blocks_and_wide_counters_keep_their_bits():
    assert fastinit.stream_of(NAME) == 0x81130866B16528AF
    block = reference_bits("normal", "float32", (0.0, 0.02), 2**64 - 5, (2, 77), [3, 5000],
                           [1, 1234], stream=fastinit.stream_of(NAME))
    assert digest(block) == "c48b63162733afd9"
    index = np.arange(2**34 - 5, 2**34 + 11, dtype=np.uint64)  # across the counter's carry
    assert digest(_reference.words(99, 3, index)) == "c7cd37c21f2f71bc"
    assert digest(_reference.words(99, 3, index, 2)) == "fd8a2b11b126683a"

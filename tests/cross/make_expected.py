"""Writes the cross check's expected values, computed by python/fastinit/_engine/_reference.py.

The C++ program tests/cross/cross_check.cpp fills each case below through the compiled core
(no Python, no pybind11) and compares every checked element bit for bit, so the reference stays
the spec on any target the program runs on (aarch64 under qemu, x86 natively).

Usage: python make_expected.py OUT_FILE   (needs NumPy only; the compiled package is not used)

Format, whitespace-separated (read by cross_check.cpp):
    case NAME DTYPE KIND KEY STREAM INDEX_OFFSET P0 P1 P2 P3  (params as hex floats)
    view NDIM SHAPE... STRIDES... DATA_OFFSET BUFFER_ELEMENTS (in elements; strides may be < 0)
    global N GSHAPE... GOFFSET...                             (N = 0: the view is the tensor)
    expect EVERY COUNT                 (checked: logical i with i % EVERY == 0, and the last)
    COUNT hex words, the element's raw bits in logical (C) order
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

import numpy as np

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "python" / "fastinit" / "_engine"


def load_reference() -> types.ModuleType:
    """_reference.py without fastinit/__init__.py, which imports the compiled core (a stand-in
    package over python/fastinit/_engine/, where _reference.py and _normal_table.py live)."""
    package = types.ModuleType("fastinit_spec")
    package.__path__ = [str(PACKAGE_DIR)]
    sys.modules["fastinit_spec"] = package
    return importlib.import_module("fastinit_spec._reference")


FLOAT_DTYPES = ["float32", "float64", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"]
BITS_TYPE = {"float32": np.uint32, "float64": np.uint64, "float16": np.uint16,
             "bfloat16": np.uint16, "float8_e4m3fn": np.uint8, "float8_e5m2": np.uint8,
             "uint32": np.uint32}

# (name, kind, params): every distribution, and the truncated normal's separate code paths.
DISTRIBUTIONS = [
    ("uniform", "uniform", (-0.5, 2.0)),
    ("normal", "normal", (0.1, 1.5)),
    ("trunc", "trunc_normal", (0.0, 1.0, -2.0, 2.0)),
    # q below 2^-33: float32 leaves the table for PPND7 (log, sqrt, division)
    ("trunc_tail", "trunc_normal", (0.0, 1.0, 7.0, 8.0)),
    # mass ~1.8e-33, past float's 1e-30: narrow dtypes compute in double
    ("trunc_far_tail", "trunc_normal", (0.0, 1.0, 12.0, 13.0)),
    # 2^-14 wide (1024 float32 values): too few float bits, the double form from a 32-bit word
    ("trunc_thin", "trunc_normal", (0.25, 0.5, 0.625, 0.625 + 2.0 ** -14)),
    # 5e-11 wide: the density is flat, the local first-order form
    ("trunc_narrow", "trunc_normal", (0.25, 0.5, 0.625, 0.625 + 5e-11)),
    ("constant", "constant", (0.3,)),
]

# (name, shape, strides, data offset, buffer elements): past 512 (a Philox batch) with a tail,
# negative strides from the buffer's end, and a transposed view (rows of one element).
VIEWS = [
    ("flat", (1037,), (1,), 0, 1037),
    ("reversed", (9, 61), (-130, -2), 1160, 1161),
    ("transposed", (40, 33), (1, 40), 0, 1320),
]


class Writer:
    def __init__(self, ref: types.ModuleType):
        self.ref, self.lines, self.cases = ref, [], 0

    def case(self, name, dtype, kind, params, key, stream, shape, strides, offset, nbuf,
             gshape=None, goffset=None, index_offset=0, every=1):
        p = list(params) + [0.0] * (4 - len(params))
        self.lines.append(f"case {name} {dtype} {kind} {key} {stream} {index_offset} "
                          + " ".join(float(x).hex() for x in p))
        layout = (*shape, *strides, offset, nbuf)
        self.lines.append(f"view {len(shape)} " + " ".join(map(str, layout)))
        g = [] if gshape is None else [*gshape, *goffset]
        self.lines.append(f"global {0 if gshape is None else len(shape)} " + " ".join(map(str, g)))
        index = self.ref.logical_indices(shape, gshape, goffset)
        index = index[np.union1d(np.arange(0, index.size, every), [index.size - 1])]
        if kind == "bits":
            value = self.ref.words(key, stream, index_offset + index)
        else:
            value = self.ref.fill(kind, dtype, params, key, stream, index)
        bits = np.ascontiguousarray(value).view(BITS_TYPE[dtype])
        self.lines.append(f"expect {every} {bits.size}")
        for row in range(0, bits.size, 16):
            self.lines.append(" ".join(f"{int(b):x}" for b in bits[row:row + 16]))
        self.cases += 1


def write_all(w: Writer) -> None:
    key = 0x0123456789ABCDEF
    for dtype in FLOAT_DTYPES:
        for dist, kind, params in DISTRIBUTIONS:
            for view, shape, strides, offset, nbuf in VIEWS:
                key = (key * 6364136223846793005 + 1442695040888963407) % 2 ** 64
                stream = key >> 17 if view == "reversed" else 0
                w.case(f"{dtype}-{dist}-{view}", dtype, kind, params, key, stream, shape, strides,
                       offset, nbuf)
    # A block of a larger tensor (a shard): logical indices from the global shape.
    w.case("float32-normal-shard", "float32", "normal", (0.0, 1.0), 7, 3, (5, 77), (77, 1), 0, 385,
           gshape=(16, 300), goffset=(3, 201))
    w.case("bfloat16-trunc-shard", "bfloat16", "trunc_normal", (0.0, 1.0, -2.0, 2.0), 8, 0,
           (6, 50), (-1, 6), 5, 300, gshape=(30, 70), goffset=(11, 9))
    # Raw words past 2^32 blocks (the counter's high word) and across its low word's wrap.
    w.case("uint32-bits-high-counter", "uint32", "bits", (), 2 ** 64 - 1, 2 ** 40 + 5, (777,), (1,),
           0, 777, index_offset=2 ** 34 + 3)
    w.case("uint32-bits-counter-wrap", "uint32", "bits", (), 42, 0, (300,), (1,), 0, 300,
           index_offset=4 * 2 ** 32 - 150)
    # Large fills, sampled: many OpenMP tiles and, past 64 MiB of resident memory (the most
    # cpu/pages.cpp waits for), the streaming stores.
    w.case("float32-uniform-large", "float32", "uniform", (-1.0, 1.0), 99, 1, (17_000_001,), (1,),
           0, 17_000_001, every=1009)
    w.case("float64-normal-large", "float64", "normal", (0.0, 2.0), 100, 2, (150_001,), (1,), 0,
           150_001, every=31)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    w = Writer(load_reference())
    write_all(w)
    Path(sys.argv[1]).write_text("\n".join(w.lines) + "\n")
    print(f"make_expected: {w.cases} cases -> {sys.argv[1]}")


if __name__ == "__main__":
    main()

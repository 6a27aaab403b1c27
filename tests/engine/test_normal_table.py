"""The generated float32 normal table: C++ header and Python copy hold the same bits, and the
inverse CDF built on it is accurate over every q the float32 normal path can produce."""

import pathlib
import re

import numpy as np
import pytest

from fastinit._engine import _normal_table, _reference

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_header_and_python_table_agree():
    text = (ROOT / "csrc/core/normal_table.h").read_text()
    header = [float.fromhex(h) for h in re.findall(r"(-?0x[0-9a-f.]+p[+-]\d+)f", text)]
    python = [c for row in _normal_table.TABLE for c in row]
    assert len(python) == (_normal_table.DEGREE + 1) * 32
    assert header == python
    assert all(np.float32(c) == c for c in python)  # every coefficient is a float32


def test_table_inverse_cdf_accuracy():
    special = pytest.importorskip("scipy.special")
    r = np.arange(0, 2**31, 613, dtype=np.int64).astype(np.int32)
    q = (r.astype(np.float32) + np.float32(0.5)) * np.float32(2.0**-32)
    q = np.concatenate([q, np.float32(2.0**-33) * np.arange(1, 4000, dtype=np.float32)])
    z = _reference.ndtri_table_f32(q)
    exact = special.ndtri(q.astype(np.float64))
    nonzero = exact != 0
    rel = np.abs(z - exact)[nonzero] / np.abs(exact[nonzero])
    assert rel.max() < 2e-7
    assert np.all(z[~nonzero] == 0)
    assert np.all(np.diff(z[: len(r)]) >= -2e-7 * np.abs(z[1 : len(r)]))  # monotone to rounding

"""The NumPy reference writes csrc/core's constants as Python floats; this checks that it can.

* Every ``...f`` literal in csrc/core/*.h, parsed by Python then rounded to float32, has the bits
  g++ gives the literal (decimal -> double -> float could in principle round differently from
  decimal -> float). The bits come from a tiny C++ program compiled here.
* The coefficient tables of ``_reference.py`` (AS241 PPND16 in double, PPND7 and the log
  polynomial in float32) are the ones in csrc/core/fmath.h, in the same order.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fastinit._engine import _reference

CORE = Path(__file__).resolve().parents[2] / "csrc" / "core"
FMATH = CORE / "fmath.h"
# a decimal floating literal with an f/F suffix: 1.5f, .5f, 1.f, 1e-3f, 2.5e+3F
FLOAT_LITERAL = re.compile(r"(?<![\w.])((?:\d+\.\d*|\.\d+|\d+(?=[eE]))(?:[eE][+-]?\d+)?)[fF](?!\w)")


def float_literals() -> list:
    found = set()
    for header in sorted(CORE.glob("*.h")):
        found.update(FLOAT_LITERAL.findall(header.read_text()))
    return sorted(found, key=lambda t: (float(t), t))


LITERALS = float_literals()


def test_literals_were_found():
    assert len(LITERALS) >= 40, LITERALS  # fmath.h alone has ~40 distinct ones
    assert "59.109374720" in LITERALS and "1.40129846e-45" in LITERALS


@pytest.fixture(scope="module")
def compiled_bits(tmp_path_factory):
    """{literal text: float32 bits as g++ compiles ``text f``}."""
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ is not installed")
    root = tmp_path_factory.mktemp("literals")
    lines = ["#include <cstdint>", "#include <cstdio>", "#include <cstring>", "",
             "static void show(const char* text, float f) {",
             "  uint32_t u;", "  std::memcpy(&u, &f, 4);", '  std::printf("%s %08x\\n", text, u);',
             "}", "", "int main() {"]
    lines += [f'  show("{text}", {text}f);' for text in LITERALS]
    lines += ["  return 0;", "}"]
    src = root / "literals.cpp"
    src.write_text("\n".join(lines) + "\n")
    exe = root / "literals"
    subprocess.run([gxx, "-std=c++17", "-O0", "-o", str(exe), str(src)], check=True,
                   capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    table = dict(line.split() for line in out.splitlines())
    assert set(table) == set(LITERALS)
    return {text: int(h, 16) for text, h in table.items()}


@pytest.mark.parametrize("text", LITERALS)
def test_float_literal_rounds_like_the_compiler(text, compiled_bits):
    python_bits = int(np.float32(float(text)).view(np.uint32))
    assert f"{python_bits:08x}" == f"{compiled_bits[text]:08x}", (
        f"{text}f: g++ gives {compiled_bits[text]:08x}, numpy.float32(float(text)) {python_bits:08x}")


# --- coefficient tables --------------------------------------------------------------------

def function_body(name: str) -> str:
    text = FMATH.read_text()
    start = text.index(f" {name}(")
    end = text.index("\n}\n", start)
    return text[start:end]


NUM = r"([-+]?\d+\.\d*(?:[eE][-+]?\d+)?)"


def as241_tables_from_cpp() -> dict:
    """AS241_A..F as written in ppnd16_central / ppnd16_tail (the two regions of
    ndtri_lower_f64): highest degree first, 1.0 closing B, D, F."""
    body = function_body("ppnd16_central")
    a = re.findall(rf"D num = L::splat\({NUM}\);", body) + \
        re.findall(rf"num = num \* rc \+ {NUM};", body)
    b = re.findall(rf"D den = L::splat\({NUM}\);", body) + \
        re.findall(rf"den = den \* rc \+ {NUM};", body)
    body = function_body("ppnd16_tail")
    tn = re.findall(rf"D tn = pick_f64<L>\(far, {NUM}, {NUM}\);", body) + \
        re.findall(rf"tn = tn \* r \+ pick_f64<L>\(far, {NUM}, {NUM}\);", body)
    td = re.findall(rf"D td = pick_f64<L>\(far, {NUM}, {NUM}\);", body) + \
        re.findall(rf"td = td \* r \+ pick_f64<L>\(far, {NUM}, {NUM}\);", body)
    closing = re.findall(rf"td = td \* r \+ {NUM};", body)
    assert closing == ["1.0"], closing
    return {
        "AS241_A": a, "AS241_B": b,
        "AS241_C": [c for _, c in tn], "AS241_E": [e for e, _ in tn],
        "AS241_D": [d for _, d in td] + closing, "AS241_F": [f for f, _ in td] + closing,
    }


AS241_CPP = as241_tables_from_cpp()


@pytest.mark.parametrize("table", sorted(AS241_CPP))
def test_as241_table_matches_fmath(table):
    cpp = AS241_CPP[table]
    ref = getattr(_reference, table)
    assert len(cpp) == 8 and len(ref) == 8, (table, cpp)
    for k, (text, value) in enumerate(zip(cpp, ref)):
        assert float(text) == value, f"{table}[{k}]: fmath.h {text} vs _reference {value!r}"


def test_ppnd7_table_matches_fmath():
    body = function_body("ndtri_lower_f32")
    pick = rf"\(?central \? {NUM}f : \(far \? {NUM}f : {NUM}f\)\)?"
    num = re.findall(rf"num = (?:num \* x \+ )?{pick};", body)
    den_first = re.findall(rf"float den = central \? {NUM}f : {NUM}f;", body)
    den = re.findall(rf"den = den \* x \+ {pick};", body)
    den_last = re.findall(rf"den = den \* x \+ {NUM}f;", body)
    assert len(num) == 4 and len(den_first) == 1 and len(den) == 2 and den_last == ["1.0"]
    # the reference orders each row (central, tail r <= 5, far tail r > 5)
    cpp_num = [(c, t, f) for c, f, t in num]
    cpp_den = [(den_first[0][0], den_first[0][1], den_first[0][1])] + \
        [(c, t, f) for c, f, t in den] + [("1.0",) * 3]
    for name, cpp, ref in (("PPND7_NUM", cpp_num, _reference.PPND7_NUM),
                           ("PPND7_DEN", cpp_den, _reference.PPND7_DEN)):
        assert len(cpp) == len(ref) == 4
        for k, (crow, rrow) in enumerate(zip(cpp, ref)):
            got = [np.float32(float(x)) for x in crow]
            want = [np.float32(x) for x in rrow]
            assert got == want, f"{name}[{k}]: fmath.h {crow} vs _reference {rrow}"


def test_log_f32_polynomial_matches_fmath():
    body = function_body("log_f32")
    coeffs = re.findall(rf"float p = {NUM}f;", body) + \
        re.findall(r"p = p \* f \+ ([-+]?\d+\.\d*(?:[eE][-+]?\d+)?)f;", body)
    assert len(coeffs) == len(_reference.LOG_F32) == 9
    for k, (text, value) in enumerate(zip(coeffs, _reference.LOG_F32)):
        assert np.float32(float(text)) == np.float32(value), f"LOG_F32[{k}]: {text} vs {value}"

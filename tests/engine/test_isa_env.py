"""FASTINIT_ISA is checked: a build's name in any case is honoured, a value that names no build
fails the import with one line (it was ignored before, silently running another path), and a
build the processor lacks is a RuntimeWarning naming the one that runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fastinit import _core

WIDTH = {"base": 0, "avx2": 1, "avx512": 2}


def run(value, code: str = "import fastinit; print(fastinit.cpu_isa())"):
    env = {k: v for k, v in os.environ.items() if k != "FASTINIT_ISA"}
    if value is not None:
        env["FASTINIT_ISA"] = value
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**env, "PYTHONWARNINGS": "error"}, timeout=120)


BEST = run(None).stdout.strip()  # the widest build this processor runs


def test_unset_runs_the_best_build() -> None:
    assert BEST in WIDTH


@pytest.mark.parametrize("value", ["base", "BASE", " Base ", "avx2", "AVX2", "Avx512", ""])
def test_names_of_builds_are_taken_in_any_case(value: str) -> None:
    asked = value.strip().lower() or BEST
    r = run(value)
    if WIDTH[asked] > WIDTH[BEST]:
        assert r.returncode != 0 and "RuntimeWarning" in r.stderr
        return
    assert (r.returncode, r.stderr, r.stdout.strip()) == (0, "", asked)


@pytest.mark.parametrize("value", ["foo", "avx", "avx-512", "sse4", "native", "avx2,base"])
def test_a_value_naming_no_build_fails_the_import_in_one_line(value: str) -> None:
    r = run(value)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last == (f"ImportError: fastinit: FASTINIT_ISA='{value}' names no kernel build: use "
                    f"base, avx2 or avx512 (any case), or unset it for the best this processor "
                    f"has")


def test_a_wider_build_than_the_processor_has_warns_and_runs_the_widest() -> None:
    wider = [isa for isa, w in WIDTH.items() if w > WIDTH[BEST]]
    if not wider:
        pytest.skip(f"this processor runs {BEST}, the widest build: nothing wider to ask for")
    r = run(wider[-1].upper(), "import warnings; warnings.simplefilter('always')\n"
                               "import fastinit; print(fastinit.cpu_isa())")
    assert r.returncode == 0 and r.stdout.strip() == BEST
    assert f"asks for the {wider[-1]} build" in r.stderr and f"the {BEST} build runs" in r.stderr


def test_the_note_for_a_request_the_processor_cannot_honour() -> None:
    # the note itself, for processors this one is not
    assert _core.isa_request_note("AVX512", "avx2") == (
        "fastinit: FASTINIT_ISA='AVX512' asks for the avx512 build, which this processor (or "
        "this build of fastinit) lacks: the avx2 build runs (the values are the same)")
    assert "the base build runs" in _core.isa_request_note("avx2", "base")
    for value, running in [("avx2", "avx2"), (" BASE", "base"), ("", "avx512"), (None, "base")]:
        assert _core.isa_request_note(value, running) == ""
    with pytest.raises(ValueError, match="FASTINIT_ISA='AVX 2' names no kernel build"):
        _core.isa_request_note("AVX 2", "avx2")

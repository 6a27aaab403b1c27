"""The C++ core and CPU backend built for aarch64 give the reference's bits (issue 14, item 3).

tests/cross/run_cross_check.sh cross-compiles them with aarch64-linux-gnu-g++ (no Python, no
pybind11), runs tests/cross/cross_check.cpp under qemu-aarch64, and checks Random123's Philox
vectors and python/fastinit/_engine/_reference.py's values for every distribution and dtype,
strided and negative-stride views included. The same program built natively proves the check on the
host. Skipped, with the reason, where the tools are missing (Debian: g++-aarch64-linux-gnu,
qemu-user); .ci/run installs them.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "cross" / "run_cross_check.sh"
EM_AARCH64, EM_X86_64 = 183, 62  # ELF e_machine
# target: (tools it needs, how to get them, ELF machine of the program it builds)
TARGETS = {
    "aarch64": (("aarch64-linux-gnu-g++", "qemu-aarch64"),
                "Debian: apt-get install g++-aarch64-linux-gnu qemu-user", EM_AARCH64),
    "native": ((os.environ.get("CXX", "g++"),), "a C++17 compiler", EM_X86_64),
}


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF file"
    return int.from_bytes(header[18:20], "little")


@pytest.mark.parametrize("target", list(TARGETS))
def test_core_built_for_target_gives_reference_bits(target, tmp_path):
    tools, hint, machine = TARGETS[target]
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed ({hint})")
    if target == "native" and platform.machine() != "x86_64":
        pytest.skip("the native control run is written for an x86_64 host")
    env = {**os.environ, "PYTHON": sys.executable, "FI_CROSS_BUILD": str(tmp_path)}
    run = subprocess.run(["bash", str(SCRIPT), target], env=env, capture_output=True, text=True,
                         timeout=900)
    out = run.stdout
    assert run.returncode == 0, f"exit {run.returncode}\n{out[-6000:]}\n{run.stderr[-3000:]}"
    assert elf_machine(tmp_path / "cross_check") == machine
    # The portable kernels: no x86 instruction set exists on aarch64, and the script builds
    # only FI_ISA=base on the host too.
    assert "cpu kernel build: base" in out
    assert "philox4x32_10 known answers: 3/3" in out
    assert "0 cases failed" in out and "cross check passed" in out
    lines = (tmp_path / "expected.txt").read_text().splitlines()
    written = sum(line.startswith("case ") for line in lines)
    assert f"reference values: {written} cases" in out and written >= 150, out

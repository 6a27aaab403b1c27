"""Smoke test of an installed fastinit-weights (a wheel or an sdist, in a fresh environment).

Checks that the compiled core loads and fills equal the pure-NumPy reference bit for bit, that
the installed metadata is this package's, that the `fastinit` console script runs, and, when
torch is absent, that a torch-only function fails with its one-line error. Needs only NumPy.
Exits 1 with one line per failed check. cibuildwheel runs it on every wheel it builds:

    python tools/smoke_installed.py
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import sysconfig
from typing import List

import numpy as np

import fastinit
from fastinit._engine import _reference
from fastinit._engine._torch_required import DISTRIBUTION, TorchNotInstalledError

N = 100_003  # odd and longer than a SIMD block: the vector and scalar tails both run
FILLS = (("uniform", fastinit.uniform_, (-1.0, 2.0)),
         ("normal", fastinit.normal_, (0.0, 0.02)),
         ("trunc_normal", fastinit.trunc_normal_, (0.0, 1.0, -2.0, 2.0)))


def problems() -> List[str]:
    found = []
    version = importlib.metadata.version(DISTRIBUTION)
    if version != fastinit.__version__:
        found.append(f"{DISTRIBUTION} metadata says {version}, fastinit.__version__ "
                     f"{fastinit.__version__}")
    for kind, fill, params in FILLS:
        got = fill(np.empty(N, np.float32), *params, seed=7)
        want = _reference.fill_like(kind, "float32", params, 7, 0, [N])
        if not np.array_equal(got.view(np.uint32), want.view(np.uint32)):
            found.append(f"{kind}_ differs from the reference")
    script = os.path.join(sysconfig.get_path("scripts"), "fastinit")
    shown = subprocess.run([script, "--help"], capture_output=True, text=True)
    if shown.returncode != 0 or not shown.stdout.startswith("usage: fastinit"):
        found.append(f"'{script} --help' exited {shown.returncode}: {shown.stderr.strip()}")
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError:
        try:
            fastinit.init_module(None)
            found.append("fastinit.init_module ran without torch")
        except TorchNotInstalledError as e:
            if "\n" in str(e) or "fastinit.init_module" not in str(e):
                found.append(f"init_module's error without torch is not one line naming it: {e}")
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(f"smoke: {line}", file=sys.stderr)
    if found:
        return 1
    torch = "torch present" if "torch" in sys.modules else "no torch"
    print(f"smoke: {DISTRIBUTION} {fastinit.__version__} ok ({fastinit.cpu_isa()}, CUDA built "
          f"{bool(fastinit._core.built_with_cuda)}, {torch})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

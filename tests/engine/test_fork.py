"""Fills keep working in a process forked after the parent has filled (DataLoader workers,
multiprocessing with the fork start method): libgomp cannot start a thread team there, so the
child fills on one thread, with the same values. That holds for every forked child: with torch
imported first, fastinit shares torch's libgomp, whose pool torch's own parallel ops may have
started. Each case runs in a fresh interpreter under a timeout, because the failure mode is a
hang.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

FORK_THEN_FILL = r"""
import os, sys
import numpy as np
import fastinit

n = 1 << 22  # many tiles: a parallel fill in the parent
a = np.empty(n, np.float32)
fastinit.normal_(a, seed=3)
pid = os.fork()
if pid == 0:
    b = np.empty(n, np.float32)
    fastinit.normal_(b, seed=3)
    ok = np.array_equal(a, b) and fastinit.get_num_threads() == 1
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
c = np.empty(n, np.float32)
fastinit.normal_(c, seed=3)  # the parent keeps its threads
assert np.array_equal(a, c) and fastinit.get_num_threads() >= 1
sys.exit(os.waitstatus_to_exitcode(status))
"""

FORK_POOL = r"""
import multiprocessing as mp
import numpy as np
import fastinit

def worker(seed):
    out = np.empty(1 << 21, np.float32)
    fastinit.uniform_(out, -1.0, 1.0, seed=seed)
    return out.tobytes()

if __name__ == "__main__":
    want = []
    for s in range(4):
        a = np.empty(1 << 21, np.float32)
        fastinit.uniform_(a, -1.0, 1.0, seed=s)
        want.append(a.tobytes())
    with mp.get_context("fork").Pool(2) as pool:
        got = pool.map(worker, range(4))
    assert got == want
"""


FORK_AFTER_TORCH = r"""
import os, sys
import numpy as np
import torch  # imported first: fastinit then shares torch's libgomp
import fastinit

x = torch.randn(1 << 24)
(x * 2 + 1).sum()  # torch's parallel region starts the shared OpenMP pool; fastinit never ran
want = np.empty(1 << 22, np.float32)
fastinit.normal_(want[:1000], seed=3)  # too small for a thread team
pid = os.fork()
if pid == 0:
    b = np.empty(1 << 22, np.float32)
    fastinit.normal_(b, seed=3)
    os._exit(0 if np.array_equal(b[:1000], want[:1000]) else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.parametrize("script", [FORK_THEN_FILL, FORK_POOL, FORK_AFTER_TORCH],
                         ids=["os.fork", "fork-pool", "fork-after-torch"])
def test_fill_after_fork(script):
    if script is FORK_AFTER_TORCH:
        pytest.importorskip("torch")
    try:
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("a fill in a forked child hung (OpenMP thread team after fork)")
    assert proc.returncode == 0, proc.stdout + proc.stderr

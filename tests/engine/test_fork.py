"""Fills keep working in a process forked after the parent has filled (DataLoader workers,
multiprocessing with the fork start method), with the same values. The parent's pool threads
are not copied into the child: the child starts its own on its first parallel fill, also when
the fork came while another thread of the parent was in the middle of a fill (the pool's
state is reset in the child). Each case runs in a fresh interpreter under a timeout, because
the failure mode is a hang.
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
from fastinit import _core

fastinit.set_num_threads(2)
n = 1 << 22  # many tasks: a parallel fill in the parent
a = np.empty(n, np.float32)
fastinit.normal_(a, seed=3)
assert _core.pool_workers() == 1
pid = os.fork()
if pid == 0:
    copied = _core.pool_workers()
    b = np.empty(n, np.float32)
    fastinit.normal_(b, seed=3)
    ok = np.array_equal(a, b) and copied == 0 and _core.pool_workers() == 1
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
c = np.empty(n, np.float32)
fastinit.normal_(c, seed=3)  # the parent keeps its threads
assert np.array_equal(a, c) and _core.pool_workers() == 1
sys.exit(os.waitstatus_to_exitcode(status))
"""

FORK_DURING_FILL = r"""
import os, sys, threading
import numpy as np
import fastinit

fastinit.set_num_threads(2)
n = 1 << 22
want = np.empty(n, np.float32)
fastinit.uniform_(want, seed=5)
stop = threading.Event()

def keep_filling():  # the pool is busy, or its lock held, at any moment of the forks
    out = np.empty(n, np.float32)
    while not stop.is_set():
        fastinit.uniform_(out, seed=5)

worker = threading.Thread(target=keep_filling)
worker.start()
codes = []
for _ in range(8):
    pid = os.fork()
    if pid == 0:
        b = np.empty(n, np.float32)
        fastinit.uniform_(b, seed=5)
        os._exit(0 if np.array_equal(b, want) else 3)
    codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
stop.set()
worker.join()
sys.exit(max(codes))
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
import torch  # imported first: its OpenMP pool exists before fastinit's own threads
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


@pytest.mark.parametrize("omp", [None, "1", "4"], ids=["default-rule", "OMP1", "OMP4"])
@pytest.mark.parametrize("script", [FORK_THEN_FILL, FORK_DURING_FILL, FORK_POOL, FORK_AFTER_TORCH],
                         ids=["os.fork", "fork-during-fill", "fork-pool", "fork-after-torch"])
def test_fill_after_fork(script, omp):
    """Under each thread rule: the default, and OMP_NUM_THREADS below and above the CPUs
    (scripts that call set_num_threads override it, as users' code does)."""
    if script is FORK_AFTER_TORCH:
        pytest.importorskip("torch")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if omp is not None:
        env["OMP_NUM_THREADS"] = omp
    try:
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=120, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("a fill in a forked child hung (OpenMP thread team after fork)")
    assert proc.returncode == 0, proc.stdout + proc.stderr

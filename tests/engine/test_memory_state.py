"""Values do not depend on the state of the memory a large fill writes. A fill larger than its
cache share streams its stores only when sampled pages are already resident, and one of 4 MiB
or more asks for huge pages on a dense buffer under FASTINIT_HUGEPAGES=1 (csrc/cpu/pages.cpp); fresh, resident, half-resident
and strided buffers, with and without huge pages, must all give the contract's bits.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from fastinit._engine import _reference
from conftest import DEFAULT_PARAMS, KINDS, assert_bits_equal, fill

SEED = 0x0DDB_A11
# Above glibc's largest mmap threshold (32 MiB), so np.empty maps pages nobody has touched, and
# above the largest streaming threshold (64 MiB), so resident buffers take the streaming path.
N = (72 << 20) // 4 + 5


def _sampled_reference(kind, n):
    rng = np.random.default_rng(11)
    idx = np.unique(np.concatenate([np.arange(5), np.arange(n - 5, n), rng.integers(0, n, 2000)]))
    want = _reference.fill(kind, "float32", DEFAULT_PARAMS[kind], SEED, 0, idx.astype(np.uint64))
    return idx, want


@pytest.mark.parametrize("kind", KINDS)
def test_fresh_resident_and_half_resident_buffers_agree(kind):
    fresh = np.empty(N, np.float32)  # not yet mapped: plain stores
    resident = np.ones(N, np.float32)  # mapped: streaming stores
    half = np.empty(N, np.float32)
    half[: N // 2] = 1.0  # mixed: whichever the samples say
    for buf in (fresh, resident, half):
        fill(kind, buf, DEFAULT_PARAMS[kind], seed=SEED)
    assert_bits_equal(fresh, resident, f"{kind}: fresh vs resident buffer")
    assert_bits_equal(half, resident, f"{kind}: half-resident vs resident buffer")
    idx, want = _sampled_reference(kind, N)
    assert_bits_equal(fresh[idx], want, f"{kind}: fresh buffer vs reference")


@pytest.mark.parametrize("kind", ["uniform", "normal"])
def test_large_strided_view_is_filled_and_its_gaps_kept(kind):
    base = np.full(2 * N, 7.0, np.float32)
    view = base[::2]  # 72 MiB of elements over a 144 MiB span: not dense, no page advice
    fill(kind, view, DEFAULT_PARAMS[kind], seed=SEED)
    assert np.all(base[1::2] == 7.0), "the gaps between strided elements were written"
    idx, want = _sampled_reference(kind, N)
    assert_bits_equal(view[idx], want, f"{kind}: strided view vs reference")


def test_hugepages_setting_gives_the_same_bits():
    code = (  # an mmap of its own, so that FASTINIT_HUGEPAGES=1 is what advises it
        "import mmap, numpy as np, fastinit, hashlib, sys\n"
        f"a = np.frombuffer(mmap.mmap(-1, 4 * {N}), np.float32)\n"
        f"fastinit.normal_(a, 0.0, 1.0, seed={SEED})\n"
        "sys.stdout.write(hashlib.sha256(a.tobytes()).hexdigest())\n"
    )
    digests = {}
    for setting in ("0", "1"):
        env = dict(os.environ, FASTINIT_HUGEPAGES=setting)
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        digests[setting] = proc.stdout
    assert digests["0"] == digests["1"], "huge pages changed the values"
    here = np.ones(N, np.float32)
    fill("normal", here, (0.0, 1.0), seed=SEED)
    assert digests["0"] == hashlib.sha256(here.tobytes()).hexdigest()


_ADVICE_PROBE = r"""
import mmap, sys
import numpy as np
import fastinit

def vma_flags(address):
    with open("/proc/self/smaps") as f:
        inside = False
        for line in f:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo <= address < hi
            elif inside and head == "VmFlags:":
                return line.split()[1:]

def advised(n):
    # an anonymous mapping of its own: numpy's allocator would advise its arrays itself
    region = mmap.mmap(-1, 4 * n)
    a = np.frombuffer(region, np.float32)
    middle = a.ctypes.data + a.nbytes // 2
    assert "hg" not in vma_flags(middle)
    fastinit.uniform_(a, 0.0, 1.0, seed=1)
    return "hg" in vma_flags(middle)

print(advised(int(sys.argv[1])), advised((1 << 20) - 1))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs Linux /proc")
@pytest.mark.skipif(not os.path.exists("/sys/kernel/mm/transparent_hugepage/enabled"),
                    reason="kernel without transparent huge pages")
@pytest.mark.parametrize("setting, expected", [(None, "False False"), ("0", "False False"),
                                               ("1", "True False")])
def test_huge_page_advice_only_when_asked_and_large(setting, expected):
    env = dict(os.environ)
    env.pop("FASTINIT_HUGEPAGES", None)
    if setting is not None:
        env["FASTINIT_HUGEPAGES"] = setting
    proc = subprocess.run([sys.executable, "-c", _ADVICE_PROBE, str(N)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # (72 MiB dense fill advised?, just-under-4 MiB fill advised?)
    assert proc.stdout.split() == expected.split(), f"FASTINIT_HUGEPAGES={setting}"

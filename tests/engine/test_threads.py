"""fastinit's CPU threads: the default count (OMP_NUM_THREADS, torch's count, the CPU affinity,
the cgroup CPU quota), set_num_threads over it, torch's own settings left alone, threads only for
fills large enough, and the same bits however the work is shared out (many threads, tiny tasks,
several callers at once). Cases that need a process of their own run in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import fastinit
from fastinit import _core
from fastinit._engine import _reference, _threads
from conftest import DEFAULT_PARAMS, RANDOM_KINDS, assert_bits_equal, fill

SEED = 0x7EAD5


def run_python(code: str, env: dict = None, prefix: list = ()) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.pop("OMP_NUM_THREADS", None)
    full_env.update(env or {})
    proc = subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True,
                          env=full_env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture
def default_rule():
    """Each test starts from the default rule and leaves it so, with the grain restored."""
    limit, scale = _core.thread_limit(), _core.grain_scale()
    _threads.use_default_threads()
    yield
    _core.set_thread_limit(limit)
    _core.set_grain_scale(scale)
    _threads.use_default_threads()


# --- OMP_NUM_THREADS and the cgroup quota, read from injected paths ----------------------------

@pytest.mark.parametrize("value, expected", [
    ("4", 4), ("4,2", 4), (" 3 ", 3), ("1", 1), ("", None), ("0", None), ("-2", None),
    ("abc", None), ("2.5", None)])
def test_omp_num_threads_first_entry(value, expected):
    assert _threads.omp_num_threads({"OMP_NUM_THREADS": value}) == expected
    assert _threads.omp_num_threads({}) is None


def cgroup_tree(tmp_path: Path, self_lines: str, files: dict) -> tuple:
    root = tmp_path / "cgroup"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    root.mkdir(exist_ok=True)
    self_cgroup = tmp_path / "self_cgroup"
    self_cgroup.write_text(self_lines)
    return str(root), str(self_cgroup)


@pytest.mark.parametrize("files, expected", [
    pytest.param({"app/job/cpu.max": "max 100000\n"}, None, id="unlimited"),
    pytest.param({"app/job/cpu.max": "150000 100000\n"}, 1.5, id="own-quota"),
    pytest.param({"app/job/cpu.max": "400000 100000", "app/cpu.max": "200000 100000"}, 2.0,
                 id="parent-stricter"),
    pytest.param({"app/job/cpu.max": "50000 100000", "app/cpu.max": "200000 100000"}, 0.5,
                 id="child-stricter"),
    pytest.param({"app/job/cpu.max": "garbage"}, None, id="unreadable"),
    pytest.param({}, None, id="no-files"),
])
def test_cgroup_v2_quota(tmp_path, files, expected):
    root, self_cgroup = cgroup_tree(tmp_path, "0::/app/job\n", files)
    assert _threads.cgroup_cpu_limit(root, self_cgroup) == expected


def test_cgroup_v2_inside_a_namespace_reads_the_mount_root(tmp_path):
    """In a container /proc/self/cgroup may name a path the mounted tree does not have."""
    root, self_cgroup = cgroup_tree(tmp_path, "0::/docker/abc\n", {"cpu.max": "300000 100000"})
    assert _threads.cgroup_cpu_limit(root, self_cgroup) == 3.0


@pytest.mark.parametrize("quota, expected", [("-1", None), ("250000", 2.5)])
def test_cgroup_v1_quota(tmp_path, quota, expected):
    root, self_cgroup = cgroup_tree(
        tmp_path, "4:memory:/x\n2:cpu,cpuacct:/batch\n0::/\n",
        {"cpu,cpuacct/batch/cpu.cfs_quota_us": quota,
         "cpu,cpuacct/batch/cpu.cfs_period_us": "100000"})
    assert _threads.cgroup_cpu_limit(root, self_cgroup) == expected


@pytest.mark.parametrize("omp, quota, expected", [
    (None, None, None), ("3", None, 3), (None, "150000 100000", 2), (None, "50000 100000", 1),
    ("1", "400000 100000", 1), ("8", "300000 100000", 3)])
def test_process_limit_is_the_least_rounded_up(tmp_path, omp, quota, expected):
    files = {"job/cpu.max": quota} if quota else {}
    root, self_cgroup = cgroup_tree(tmp_path, "0::/job\n", files)
    environ = {"OMP_NUM_THREADS": omp} if omp else {}
    assert _threads.process_limit(environ, root, self_cgroup) == expected


def test_quota_limits_the_default_and_set_num_threads_overrides(tmp_path, default_rule):
    root, self_cgroup = cgroup_tree(tmp_path, "0::/job\n", {"job/cpu.max": "100000 100000"})
    _threads.apply_process_limit(_threads.process_limit({}, root, self_cgroup))
    assert fastinit.get_num_threads() == 1
    fastinit.set_num_threads(3)
    assert fastinit.get_num_threads() == 3
    _threads.use_default_threads()
    assert fastinit.get_num_threads() == 1


# --- the rule end to end, each in a fresh process -----------------------------------------------

WORKERS_AFTER_BIG_FILL = r"""
import numpy as np, fastinit
from fastinit import _core
a = np.empty(1 << 22, np.float32)
fastinit.normal_(a, seed=1)
print(fastinit.get_num_threads(), _core.pool_workers())
"""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_default_uses_the_cpus_of_the_affinity():
    cpus = len(os.sched_getaffinity(0))
    limit = _threads.process_limit()  # this machine's own quota, if any
    want = min(cpus, limit or cpus)
    assert run_python(WORKERS_AFTER_BIG_FILL).stdout.split() == [str(want), str(want - 1)]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_affinity_of_one_cpu_means_one_thread():
    one = min(os.sched_getaffinity(0))
    code = f"import os; os.sched_setaffinity(0, {{{one}}})\n" + WORKERS_AFTER_BIG_FILL
    assert run_python(code).stdout.split() == ["1", "0"]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_taskset_of_one_cpu_means_one_thread():
    taskset = "/usr/bin/taskset"
    if not os.path.exists(taskset):
        pytest.skip("taskset not installed")
    one = str(min(os.sched_getaffinity(0)))
    assert run_python(WORKERS_AFTER_BIG_FILL, prefix=[taskset, "-c", one]).stdout.split() == [
        "1", "0"]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_omp_num_threads_caps_and_set_num_threads_overrides():
    assert run_python(WORKERS_AFTER_BIG_FILL, {"OMP_NUM_THREADS": "1"}).stdout.split() == [
        "1", "0"]
    code = "import fastinit; fastinit.set_num_threads(2)\n" + WORKERS_AFTER_BIG_FILL
    assert run_python(code, {"OMP_NUM_THREADS": "1"}).stdout.split() == ["2", "1"]


def test_torch_thread_count_caps_the_default(default_rule):
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert fastinit.get_num_threads() == 1
        fastinit.set_num_threads(2)  # an explicit count wins
        assert fastinit.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_blocked_torch_import_counts_as_no_torch():
    """sys.modules["torch"] = None (how programs keep torch out) or a stand-in without
    get_num_threads: large fills still work, on the other rules' count."""
    for stand_in in ("None", "type(sys)('torch')"):
        code = f"import sys\nsys.modules['torch'] = {stand_in}\n" + WORKERS_AFTER_BIG_FILL
        threads, workers = run_python(code).stdout.split()
        assert int(threads) >= 1 and int(workers) == int(threads) - 1


def test_set_num_threads_leaves_torch_alone():
    """torch first: fastinit used to share its libgomp, and set_num_threads called
    omp_set_num_threads, which changed torch's own count."""
    pytest.importorskip("torch")
    code = ("import torch, fastinit\nbefore = torch.get_num_threads()\n"
            "fastinit.set_num_threads(1)\nimport numpy as np\n"
            "fastinit.normal_(np.empty(1 << 22, np.float32), seed=1)\n"
            "assert torch.get_num_threads() == before, (before, torch.get_num_threads())")
    run_python(code)


def test_fastinit_loads_no_openmp_runtime():
    maps = run_python("import fastinit, numpy as np\n"
                      "fastinit.normal_(np.empty(1 << 22, np.float32), seed=1)\n"
                      "print(open('/proc/self/maps').read())").stdout
    assert "libgomp" not in maps and "libiomp" not in maps


def test_small_fills_stay_on_the_calling_thread():
    code = ("import numpy as np, fastinit\nfrom fastinit import _core\n"
            "fastinit.set_num_threads(4)\n"
            "for n in (1, 1000, 1 << 14):\n"
            "    fastinit.normal_(np.empty(n, np.float32), seed=1)\n"
            "print(_core.pool_workers())\n"
            "fastinit.normal_(np.empty(1 << 22, np.float32), seed=1)\n"
            "print(_core.pool_workers())")
    assert run_python(code).stdout.split() == ["0", "3"]


# --- the same bits however the work is shared out ---------------------------------------------

LAYOUTS = {
    "contiguous": lambda a: a,
    "transposed": lambda a: a.T,
    "strided": lambda a: a[::3, 1::2],
    "negative": lambda a: a[::-1, ::-2],
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", RANDOM_KINDS + ("constant",))
def test_bits_do_not_depend_on_threads_or_tasks(kind, dtype, layout, default_rule):
    """grain 0: every fill split into 512-element tasks over up to 7 threads, which take them in
    whatever order they run; the bits must be the single thread's, and the reference's."""
    base = np.full((301, 517), np.nan, dtype)
    fastinit.set_num_threads(1)
    one = LAYOUTS[layout](base.copy())
    fill(kind, one, DEFAULT_PARAMS[kind], seed=SEED)
    _core.set_grain_scale(0)
    for threads in (2, 3, 7):
        fastinit.set_num_threads(threads)
        many = LAYOUTS[layout](base.copy())
        fill(kind, many, DEFAULT_PARAMS[kind], seed=SEED)
        assert_bits_equal(many, one, f"{kind} {dtype} {layout}: {threads} threads vs 1")
    logical = np.arange(one.size, dtype=np.uint64)[::997]
    expected = _reference.fill(kind, dtype, DEFAULT_PARAMS[kind], SEED, 0, logical)
    assert_bits_equal(one.reshape(-1)[::997], expected, f"{kind} {dtype} {layout} vs reference")


def test_callers_in_many_python_threads_share_the_pool(default_rule):
    """Four Python threads fill at once, over and over, with the pool split to the finest tasks:
    one caller gets the workers, the others fill alone; every result is exact."""
    _core.set_grain_scale(0)
    fastinit.set_num_threads(3)
    n = 50_000
    want = {s: fill("normal", np.empty(n, np.float32), DEFAULT_PARAMS["normal"], seed=s)
            for s in range(4)}
    errors = []

    def caller(seed: int) -> None:
        out = np.empty(n, np.float32)
        for _ in range(200):
            fill("normal", out, DEFAULT_PARAMS["normal"], seed=seed)
            if not np.array_equal(out.view(np.uint32), want[seed].view(np.uint32)):
                errors.append(seed)
                return

    threads = [threading.Thread(target=caller, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_many_fills_in_a_row_with_late_workers(default_rule):
    """Thousands of tiny parallel fills back to back: workers woken for one fill often arrive
    after it is over, and must neither run a task of the next fill twice nor skip one."""
    _core.set_grain_scale(0)
    fastinit.set_num_threads(4)
    rng = np.random.default_rng(0)
    for i in range(3000):
        n = int(rng.integers(1, 6000))
        out = np.full(n, np.nan, np.float32)
        fastinit.uniform_(out, seed=i)
        ref = np.empty(n, np.float32)
        fastinit.set_num_threads(1)
        fastinit.uniform_(ref, seed=i)
        fastinit.set_num_threads(4)
        assert np.array_equal(out.view(np.uint32), ref.view(np.uint32)), (i, n)


def test_a_late_worker_does_not_hold_the_fill_up(default_rule):
    """Fault injection: workers that come 1 s after they are woken (as a thread whose core
    another process holds). The caller takes every task itself and returns at once; a fill
    whose threads each own a fixed share (OpenMP's static schedule) would wait the 1 s."""
    import time  # noqa: PLC0415

    fastinit.set_num_threads(2)
    a = np.empty(1 << 22, np.float32)
    fastinit.normal_(a, seed=1)  # the worker exists and sleeps
    want = a.copy()
    _core.set_worker_delay_us(1_000_000)
    try:
        start = time.perf_counter()
        for _ in range(3):
            fastinit.normal_(a, seed=1)
        elapsed = time.perf_counter() - start
    finally:
        _core.set_worker_delay_us(0)
    assert_bits_equal(a, want, "with a late worker")
    assert elapsed < 0.8, f"3 fills took {elapsed:.2f} s: they waited for the late worker"


def test_a_worker_off_its_core_mid_task_makes_fills_back_off(default_rule):
    """Fault injection: a worker that stops for 0.3 s holding a task (as one the scheduler took
    off its core). That fill must wait for it (the task writes the target), and comes out
    exact; then the pool takes the cores for busy and runs the next fills on the caller alone,
    without waiting again."""
    import time  # noqa: PLC0415

    fastinit.set_num_threads(2)
    a = np.empty(1 << 22, np.float32)
    fastinit.normal_(a, seed=2)
    want = a.copy()
    _core.set_worker_delay_us(300_000, holding_task=True)
    try:
        # The worker may still be asleep in an earlier test's delay, or (on a loaded machine)
        # come after the caller is done: try for a few seconds.
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            while _core.pool_backing_off() and time.monotonic() < deadline:  # an earlier stall
                time.sleep(0.05)
            a[:] = 0
            start = time.perf_counter()
            fastinit.normal_(a, seed=2)
            stalled = time.perf_counter() - start
            backing_off = _core.pool_backing_off()
            if stalled >= 0.3:
                break
            time.sleep(0.1)
        start = time.perf_counter()
        fastinit.normal_(a, seed=2)
        after = time.perf_counter() - start
    finally:
        _core.set_worker_delay_us(0)
    assert_bits_equal(a, want, "with a worker stopped in a task")
    assert stalled >= 0.3 and backing_off
    assert after < 0.25, f"the fill after a stall took {after:.2f} s: it used the stopped worker"


def test_grain_scale_rejects_negative():
    with pytest.raises(ValueError):
        _core.set_grain_scale(-1.0)

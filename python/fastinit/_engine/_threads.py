"""How many threads CPU fills use.

By default, the least of:

* ``OMP_NUM_THREADS`` (its first entry), where set;
* ``torch.get_num_threads()`` in the calling thread, where torch is loaded;
* the CPUs the process may run on (``os.sched_getaffinity``: taskset, a container's cpuset);
* the cgroup's CPU quota (``cpu.max``, or ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` on
  cgroup v1), rounded up, the least over the cgroup and its parents.

``set_num_threads(n)`` replaces the rule with n. The environment and the quota are read once,
at import; the affinity and torch's count at each fill large enough to be split. A fill runs on
fewer threads when it is too small for more to pay (each thread must get about 20 us of work;
smaller fills run on the calling thread alone). fastinit's threads are its own, not OpenMP's:
nothing here changes torch's thread settings.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Mapping, Optional

from .. import _core

CGROUP_ROOT = "/sys/fs/cgroup"
SELF_CGROUP = "/proc/self/cgroup"


def omp_num_threads(environ: Mapping[str, str]) -> Optional[int]:
    """The first entry of OMP_NUM_THREADS ("4" or "4,2"); None where unset or not a count."""
    first = environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(first) if first.isdigit() and int(first) > 0 else None


def _read(path: Path) -> Optional[str]:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _quota_v2(directory: Path) -> Optional[float]:
    fields = (_read(directory / "cpu.max") or "").split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _quota_v1(directory: Path) -> Optional[float]:
    try:
        quota = int(_read(directory / "cpu.cfs_quota_us") or "")
        period = int(_read(directory / "cpu.cfs_period_us") or "")
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _least_on_path(top: Path, relative: str,
                   quota: Callable[[Path], Optional[float]]) -> Optional[float]:
    """The least quota from the process's cgroup up to ``top``. Inside a container the path
    /proc/self/cgroup names may not exist under the mount (it shows the container's own
    cgroup as the root): then ``top`` alone is read."""
    directory = top / relative.strip("/")
    if not directory.is_dir():
        directory = top
    least: Optional[float] = None
    while True:
        q = quota(directory)
        if q is not None:
            least = q if least is None else min(least, q)
        if directory == top or top not in directory.parents:
            return least
        directory = directory.parent


def cgroup_cpu_limit(root: str = CGROUP_ROOT, self_cgroup: str = SELF_CGROUP) -> Optional[float]:
    """CPUs the process's cgroup may use (quota / period, e.g. 1.5), or None when unlimited
    or unknown. ``root`` is where the cgroup file system is mounted; ``self_cgroup`` lists the
    process's cgroups (/proc/self/cgroup: "0::/path" on v2, "N:cpu,cpuacct:/path" on v1)."""
    lines = (_read(Path(self_cgroup)) or "").splitlines()
    top = Path(root)
    for line in lines:  # v2: one unified hierarchy
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            found = _least_on_path(top, path, _quota_v2)
            if found is not None:
                return found
    for line in lines:  # v1: the cpu controller's own hierarchy
        _, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if "cpu" in controllers.split(","):
            for mount in (controllers, "cpu,cpuacct", "cpu"):
                if (top / mount).is_dir():
                    return _least_on_path(top / mount, path, _quota_v1)
    return None


def process_limit(environ: Mapping[str, str] = os.environ, root: str = CGROUP_ROOT,
                  self_cgroup: str = SELF_CGROUP) -> Optional[int]:
    """The least of OMP_NUM_THREADS and the cgroup quota rounded up; None when neither is set."""
    counts = []
    omp = omp_num_threads(environ)
    if omp is not None:
        counts.append(omp)
    quota = cgroup_cpu_limit(root, self_cgroup)
    if quota is not None:
        counts.append(max(1, math.ceil(quota)))
    return min(counts) if counts else None


def apply_process_limit(limit: Optional[int]) -> None:
    """Hand the limit to the compiled core (0: none)."""
    _core.set_thread_limit(min(limit or 0, _core.max_threads()))


def set_num_threads(n: int) -> None:
    """Set the number of threads CPU fills may use, replacing the default rule (values do not
    depend on it): an int from 1 to max(64, 16 per processor). Process-wide: fills from every
    Python thread follow it. A fill too small for n threads to pay uses fewer."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"fastinit.set_num_threads: n must be an int >= 1, got {n!r}")
    if n > _core.max_threads():
        raise ValueError(f"fastinit.set_num_threads: n must be an int in "
                         f"[1, {_core.max_threads()}], got {n}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """The threads a CPU fill large enough to be split uses now: ``set_num_threads``' n, or
    the default rule (this module's docstring)."""
    return int(_core.get_num_threads())


def use_default_threads() -> None:
    """Forget ``set_num_threads``: back to the default rule."""
    _core.clear_num_threads()


apply_process_limit(process_limit())

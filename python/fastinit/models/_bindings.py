"""Where module globals bind a function: a cache over ``sys.modules``.

Patch mode and the init tracer replace functions such as ``torch.nn.init.xavier_uniform_``
also in the modules that copied them (``from torch.nn.init import xavier_uniform_``). Finding
those copies means looking through every loaded module (about 3,000 with transformers and
timm): too slow to do on each ``with fastinit.patch():``. :class:`BindingSites` scans each
module once, remembers where a watched function is bound, and later scans only modules loaded
(or replaced in ``sys.modules``) since.

A module still being imported when scanned is scanned again next time. One that binds a
watched name after its import finished (a ``global`` assignment at run time) is not seen;
patch mode's routed functions check at call time whether patch mode is on, so such a copy
still behaves as torch's.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Dict, Iterable, List, Set, Tuple


class BindingSites:
    """Module-global bindings of a set of watched (name, function) pairs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scanned: Dict[str, int] = {}  # module name -> id(module) when scanned
        self._names: Set[str] = set()
        self._watched: Set[int] = set()  # ids of watched functions (kept alive by _keep)
        self._keep: List[Any] = []
        self._sites: Dict[Tuple[int, str], dict] = {}  # (id(module dict), name) -> dict

    def watch(self, pairs: Iterable[Tuple[str, Any]]) -> None:
        """Watch these (global name, function) pairs; a new pair rescans every module once."""
        with self._lock:
            new = [(n, f) for n, f in pairs if id(f) not in self._watched or n not in self._names]
            if not new:
                return
            for name, fn in new:
                self._names.add(name)
                if id(fn) not in self._watched:
                    self._watched.add(id(fn))
                    self._keep.append(fn)
            self._scanned.clear()

    def _refresh(self) -> None:
        modules = sys.modules
        if len(self._scanned) == len(modules) and all(
                self._scanned.get(k) == id(m) for k, m in list(modules.items())[-8:]):
            return  # nothing imported since (the cheap check: count and the latest imports)
        names = tuple(self._names)
        for mod_name, module in list(modules.items()):
            if self._scanned.get(mod_name) == id(module):
                continue
            if not getattr(getattr(module, "__spec__", None), "_initializing", False):
                self._scanned[mod_name] = id(module)  # one still importing: look again later
            if module is None or mod_name == "fastinit" or mod_name.startswith("fastinit."):
                continue
            try:
                d = vars(module)
            except TypeError:
                continue
            if not isinstance(d, dict):
                continue
            for name in names:
                v = d.get(name)
                if v is not None and id(v) in self._watched:
                    self._sites[(id(d), name)] = d

    def replace(self, swaps: Dict[int, Any]) -> int:
        """Rebind every known binding whose value is a key's function (by id) to its value;
        returns how many bindings changed."""
        with self._lock:
            self._refresh()
            changed = 0
            for (_, name), d in list(self._sites.items()):
                new = swaps.get(id(d.get(name)))
                if new is not None:
                    d[name] = new
                    changed += 1
            return changed

    def bound(self, fn: Any) -> List[Tuple[dict, str]]:
        """Where ``fn`` (a watched function) is bound now: (module dict, name) pairs."""
        with self._lock:
            self._refresh()
            return [(d, name) for (_, name), d in self._sites.items() if d.get(name) is fn]


#: the one cache patch mode and the init tracer share
SITES = BindingSites()

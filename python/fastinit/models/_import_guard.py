"""Modules first imported while a model is built on meta run outside the recording.

A build that imports its model class lazily (``import transformers`` inside ``build()``, or
transformers' lazy module attributes) runs that module's top-level code inside the meta
device context, patch mode, the tracer and the op log: its module-level tensors would be made
on meta (for the rest of the process) and its captured references to ``torch.nn.init`` would be
the tracer's. :func:`imports_outside` runs the code of every module imported in the block with
torch-function modes (the meta device context among them) and dispatch modes off, so the
module is the one an eager import gives, and the record holds only the build.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import sys
import threading
from typing import Any, Callable, Iterator, Optional

_state = threading.local()
# loaders that are made per module (their exec_module may be replaced on the instance)
_PER_MODULE = (importlib.machinery.SourceFileLoader, importlib.machinery.SourcelessFileLoader)


class _Guard(importlib.abc.MetaPathFinder):
    def __init__(self, suspend: Callable[[], Any]) -> None:
        self.suspend = suspend

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Optional[Any]:
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is None:
                continue
            loader = spec.loader
            if isinstance(loader, _PER_MODULE) and "exec_module" not in vars(loader):
                run = loader.exec_module

                def exec_module(module: Any, _run: Any = run) -> None:
                    if getattr(_state, "outside", False):  # an import inside an import
                        return _run(module)
                    _state.outside = True
                    try:
                        with outside_the_build(), self.suspend():
                            _run(module)
                    finally:
                        _state.outside = False

                loader.exec_module = exec_module
            return spec
        return None


@contextlib.contextmanager
def outside_the_build() -> Iterator[None]:
    """torch as an eager import sees it: no torch-function or dispatch mode."""
    import torch  # noqa: PLC0415
    from torch.utils._python_dispatch import _disable_current_modes  # noqa: PLC0415

    with torch._C.DisableTorchFunction(), _disable_current_modes():
        yield


@contextlib.contextmanager
def imports_outside(suspend: Callable[[], Any]) -> Iterator[None]:
    """Modules first imported in the block execute outside it (see the module docstring),
    and inside ``suspend()`` (a context that undoes the build's other patches)."""
    with outside_the_build():  # what entering it imports, imported before the guard
        pass
    guard = _Guard(suspend)
    sys.meta_path.insert(0, guard)
    try:
        yield
    finally:
        sys.meta_path.remove(guard)

"""Legacy tensor constructors made to respect a meta build.

``torch.Tensor(n)``, ``torch.Tensor([data])`` and ``torch.FloatTensor(...)`` & co. ignore the
``torch.device("meta")`` context: inside a meta build they make CPU tensors, whose fills draw
from torch's global generator (transformers' Wav2Vec2 makes ``masked_spec_embed`` with
``torch.Tensor(n).uniform_()``). While :class:`LegacyConstructorsOnMeta` is entered they make
meta tensors instead, as ``torch.empty`` / ``torch.tensor`` would, so the recorder sees them.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

_LEGACY_TYPES = {"FloatTensor": "float32", "DoubleTensor": "float64", "HalfTensor": "float16",
                 "BFloat16Tensor": "bfloat16", "LongTensor": "int64", "IntTensor": "int32",
                 "ShortTensor": "int16", "CharTensor": "int8", "ByteTensor": "uint8",
                 "BoolTensor": "bool"}


class LegacyConstructorsOnMeta:
    """``torch.Tensor(sizes or data)`` and ``torch.FloatTensor(...)`` & co. ignore the device
    context (they make CPU tensors, whose fills draw from torch's generator): while entered,
    they make meta tensors, as ``torch.empty`` / ``torch.tensor`` would. ``suspended()`` puts
    torch's own back for a while (a module imported meanwhile sees them)."""

    def __init__(self) -> None:
        import torch  # noqa: PLC0415

        self.saved = {n: getattr(torch, n) for n in _LEGACY_TYPES}
        self.original_new = torch.Tensor.__new__
        self.typed = {n: self._typed(n, original) for n, original in self.saved.items()}

    @staticmethod
    def _make(dtype: Any, args: tuple, kwargs: dict) -> Any:
        import torch  # noqa: PLC0415

        if kwargs.get("device") is not None or any(isinstance(a, torch.Tensor) for a in args):
            return None
        if len(args) == 1 and not isinstance(args[0], (int, torch.Size)):
            return torch.tensor(args[0], dtype=dtype, device="meta")  # data: a literal
        sizes = tuple(args[0]) if len(args) == 1 and isinstance(args[0], torch.Size) else args
        if not all(isinstance(n, int) for n in sizes):
            return None
        return torch.empty(sizes, dtype=dtype, device="meta")

    def _typed(self, name: str, original: Any) -> Any:
        import torch  # noqa: PLC0415

        make = self._make

        class _Legacy(type):  # a class, so `torch.FloatTensor | None` and isinstance work
            def __instancecheck__(cls, obj: Any) -> bool:
                return isinstance(obj, original)

            def __call__(cls, *args: Any, **kwargs: Any) -> Any:
                out = make(getattr(torch, _LEGACY_TYPES[name]), args, kwargs)
                return out if out is not None else original(*args, **kwargs)

        return _Legacy(name, (), {})

    def _install(self) -> None:
        import torch  # noqa: PLC0415

        original_new, make = self.original_new, self._make

        def tensor_new(cls: Any, *args: Any, **kwargs: Any) -> Any:
            out = make(torch.get_default_dtype(), args, kwargs) if cls is torch.Tensor else None
            return out if out is not None else original_new(cls, *args, **kwargs)

        torch.Tensor.__new__ = tensor_new
        for name, cls in self.typed.items():
            setattr(torch, name, cls)

    def _uninstall(self) -> None:
        import torch  # noqa: PLC0415

        del torch.Tensor.__new__
        for name, original in self.saved.items():
            setattr(torch, name, original)

    def __enter__(self) -> "LegacyConstructorsOnMeta":
        self._install()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._uninstall()

    @contextlib.contextmanager
    def suspended(self) -> Iterator[None]:
        self._uninstall()
        try:
            yield
        finally:
            self._install()

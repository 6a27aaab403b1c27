"""One clear, one-line error from the entry points that need torch when torch is missing.

``import fastinit`` and the NumPy fills need no torch; patch mode, whole models, checkpoints
and diagnostics do. Each of those calls :func:`require_torch` with its own public name, so a
user without torch reads which function needs it and the command that installs it.
"""

from __future__ import annotations

from typing import Any

#: The name on the package index (``fastinit`` there is an unrelated project); the import
#: name stays ``fastinit``. pyproject.toml's [project] name must match (a test checks).
DISTRIBUTION = "fastinit-weights"


class TorchNotInstalledError(ModuleNotFoundError):
    """A fastinit function that needs torch was called where torch is not installed."""


# torch itself, not the package's [torch] extra: on Linux PyPI's torch is the CUDA build (GBs),
# so the CPU build's index is named too, as the README's install does.
CPU_TORCH = "pip install torch --index-url https://download.pytorch.org/whl/cpu"


def torch_missing_message(who: str) -> str:
    return (f"{who} needs torch, which is not installed: pip install torch "
            f"(the CPU build: {CPU_TORCH})")


def require_torch(who: str) -> Any:
    """The torch module, or TorchNotInstalledError naming ``who`` (e.g. "fastinit.patch")."""
    try:
        import torch  # noqa: PLC0415 - optional dependency, imported on first use
    except ModuleNotFoundError as e:
        if e.name != "torch":  # torch is there but something it imports is not: show that
            raise
        raise TorchNotInstalledError(torch_missing_message(who), name="torch") from None
    return torch

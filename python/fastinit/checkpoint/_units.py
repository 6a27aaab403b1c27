"""Byte counts for people: three significant figures in a unit that fits."""

from __future__ import annotations


def human_bytes(n: float) -> str:
    """1.23 GB, 45.6 MB, 7.8 kB, 512 B."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


__all__ = ["human_bytes"]

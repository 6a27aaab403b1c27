"""Orthogonal matrices: orthogonal_ (torch.nn.init's name) and the Q of delta_orthogonal_.

The Gaussian sample is fastinit's (``generator=`` / ``seed=`` decide it; bit-exact everywhere,
docs/stream.md). The factorization is a library QR, never our own, and one routine for every
target, NumPy arrays and torch tensors on any device alike, so in one process they all get
the same bits: ``torch.linalg.qr`` on the CPU wherever torch is installed (the LAPACK torch
ships; NumPy's OpenBLAS was 3-10x slower for the sizes of model weights and fought torch's
threads), ``numpy.linalg.qr`` where it is not. Either is LAPACK's ``geqrf`` + ``orgqr``; a
hand-written QR would be slower and less robust, and cuSOLVER gives other bits again. Q still
depends on that LAPACK build (its version and the kernels it picks for the processor): equal
to about 1e-7 in float32 across machines, not bit for bit. It is computed in float32 (float64 for float64 targets)
and rounded into the target, so bfloat16, float16 and float8 work (torch's raise).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import numbers
import sys
from typing import Any, Optional, Tuple, TypeVar

import numpy as np

from .. import _core
from ._fans import shape_of
from .._engine._fills import _fill, is_complex_number
from .._engine._targets import _dtype_error, dtype_name, is_float_target, is_torch_tensor
from ._torch_compat import _LIMITS, is_meta, torch_normal_
from .._engine._torch_ops import traceable

T = TypeVar("T")


def _sample(tensor: Any, k: int, m: int, generator: Any, seed: Optional[int]) -> np.ndarray:
    """A (m, k) column-major N(0, 1) matrix (the transpose of a (k, m) fill): LAPACK's layout,
    so the QR copies it without transposing. Its key is taken as a fill of ``tensor`` takes
    it (torch's default generator for a torch tensor without ``generator=`` / ``seed=``)."""
    wide = dtype_name(tensor) == "float64"
    buf = np.empty((k, m), dtype=np.float64 if wide else np.float32)
    _fill("orthogonal_", buf, _core.KIND_NORMAL, [0.0, 1.0], generator, seed, None, None,
          torch_keys=is_torch_tensor(tensor))
    return buf.T


def qr(a: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(Q, R) of ``a`` by the process's one QR routine (see the module docstring)."""
    torch = _torch_for_qr()
    if torch is None:
        return np.linalg.qr(a)
    with torch.no_grad():
        q, r = torch.linalg.qr(torch.from_numpy(a))
    return q.numpy(), r.numpy()


@functools.lru_cache(maxsize=None)
def _torch_for_qr() -> Any:
    """torch when it is installed (imported on first use), else None: decided once."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch  # noqa: PLC0415

    return torch


def orthogonal_matrix(fn: str, tensor: Any, rows: int, cols: int, gain: float,
                      generator: Any, seed: Optional[int]) -> np.ndarray:
    """``gain * Q`` as a (rows, cols) NumPy matrix (orthogonal_'s docstring), in float32 or
    float64 as ``tensor``'s dtype asks; a ``gain`` that puts values past that dtype's largest
    finite value is a ValueError (checked before the sample is drawn, and on the result,
    since a Q entry can exceed 1 by an ulp)."""
    name = dtype_name(tensor)
    limit = _LIMITS[name][2]
    if abs(gain) > limit:
        raise ValueError(f"fastinit.{fn}: gain={gain:g} puts values past {name}'s largest "
                         f"finite value ({limit:g})")
    big, small = max(rows, cols), min(rows, cols)
    q, r = qr(_sample(tensor, small, big, generator, seed))
    with np.errstate(over="ignore"):  # an overflow is reported below
        q *= np.where(np.diagonal(r) < 0, -1.0, 1.0).astype(q.dtype) * gain  # scales columns
    if not np.abs(q).max() <= limit:
        raise ValueError(f"fastinit.{fn}: gain={gain:g} puts values past {name}'s largest "
                         f"finite value ({limit:g})")
    return q.T if rows < cols else q


def _gain(gain: Any) -> float:
    """orthogonal_'s gain: what ``tensor.mul_(gain)`` refuses keeps torch's TypeError; a
    complex gain torch's RuntimeError type (NumPy's complex64 would lose its imaginary part
    with only a warning), and a non-finite one is a ValueError (torch stores NaN / inf)."""
    if is_complex_number(gain):
        raise RuntimeError(f"fastinit.orthogonal_: gain must be a real number, got {gain!r}")
    torch = sys.modules.get("torch")
    if not isinstance(gain, numbers.Real) and not (torch is not None
                                                   and isinstance(gain, torch.Tensor)):
        raise TypeError(f"mul_(): argument 'other' (position 1) must be Tensor, not "
                        f"{type(gain).__name__}")
    value = float(gain)
    if not math.isfinite(value):
        raise ValueError(f"fastinit.orthogonal_: gain must be finite, got {value}")
    return value


def _orthogonal_torch_dtype(tensor: Any, rows: int, cols: int, gain: Any, generator: Any) -> Any:
    """torch's own algorithm, for torch dtypes the engine does not fill: torch's results and
    errors ('"normal_kernel_cpu" not implemented for \\'Long\\'', complex: torch.sign's)."""
    torch = sys.modules["torch"]
    with torch.no_grad():
        flattened = torch_normal_(tensor.new_empty((rows, cols)), 0, 1, generator)
        if rows < cols:
            flattened.t_()
        q, r = torch.linalg.qr(flattened)
        q *= torch.diag(r, 0).sign()
        if rows < cols:
            q.t_()
        tensor.view_as(q).copy_(q)
        tensor.mul_(gain)
    return tensor


def as_target(w: np.ndarray, tensor: Any) -> Any:
    """``w`` rounded to ``tensor``'s dtype, in its library (and on its device): torch rounds
    on the CPU, so a CUDA tensor gets the CPU's bits."""
    if is_torch_tensor(tensor):
        torch = sys.modules["torch"]
        return torch.from_numpy(w).to(dtype=tensor.dtype).to(tensor.device)
    return w.astype(tensor.dtype)


@traceable
def orthogonal_(tensor: T, gain: float = 1, generator: Any = None, *,
                seed: Optional[int] = None) -> T:
    r"""Fill ``tensor`` with a (semi-)orthogonal matrix times ``gain`` (Saxe et al. 2013).

    ``rows = shape[0]``, ``cols = numel / rows`` (trailing dims flattened, as torch). With
    ``A`` an ``max(rows, cols) x min(rows, cols)`` matrix of fastinit N(0, 1) values and
    ``A = QR`` its reduced QR, ``W = gain * Q * diag(sign(diag R))`` (Mezzadri 2007: this makes
    Q Haar-distributed; a zero diagonal counts as +1), transposed when rows < cols. Then
    ``WᵀW = gain² I`` (rows >= cols) or ``WWᵀ = gain² I``. Computed in float32 (float64 for
    float64) and rounded into the target, so every float dtype works, bfloat16 / float16 /
    float8 included; non-contiguous targets are written in place. ``numel() == 0`` and meta
    tensors are a no-op. Fewer than 2 dims: ValueError, as torch. A non-finite gain, or one
    that puts values past the dtype's largest finite value: ValueError (torch stores NaN /
    inf). One QR routine for every target (module docstring): a NumPy array and a torch
    tensor get the same bits.
    """
    fn = "orthogonal_"
    shape = shape_of(fn, tensor)
    if len(shape) < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    numel = math.prod(shape)
    if numel == 0 or is_meta(tensor):
        return tensor
    rows = shape[0]
    cols = numel // rows
    if is_torch_tensor(tensor) and not is_float_target(tensor) and seed is None:
        return _orthogonal_torch_dtype(tensor, rows, cols, gain, generator)
    if not is_float_target(tensor):
        raise _dtype_error(fn, getattr(tensor, "dtype", type(tensor).__name__))
    w = as_target(orthogonal_matrix(fn, tensor, rows, cols, _gain(gain), generator, seed),
                  tensor)
    if not is_torch_tensor(tensor):
        np.copyto(tensor, w.reshape(shape))
        return tensor
    with sys.modules["torch"].no_grad():
        t = tensor.detach()
        try:
            t.view(rows, cols).copy_(w)
        except RuntimeError:  # not viewable as a matrix (e.g. a permuted 3-D view)
            t.copy_(w.reshape(shape))
    return tensor

"""The structured initializers of torch.nn.init: eye_, dirac_, orthogonal_, sparse_.

Torch tensors and NumPy arrays; torch's errors (types and texts), meta tensors are no-ops.

orthogonal_ factorizes with a library QR, never our own: ``torch.linalg.qr`` for torch tensors
(on the tensor's device: LAPACK on the CPU, cuSOLVER/MAGMA on CUDA) and ``numpy.linalg.qr``
for NumPy arrays (LAPACK ``geqrf`` + ``orgqr``). Both are LAPACK-backed, well kept and as
accurate as a Householder QR gets; a hand-written QR would be slower and less robust. The
Gaussian sample is fastinit's (so ``generator=`` / ``seed=`` decide it), the factorization is
done in float32 (float64 for float64 targets) and the result copied into the target with
round-to-nearest, which makes bfloat16, float16 and float8 work (torch's raise).
The sample is bit-exact everywhere (fastinit's contract); the factorization is not: different
LAPACK builds, thread counts, devices, or NumPy vs torch can change Q in the last bits
(about 1e-7 in float32), so orthogonal_ is reproducible on one machine and library, and equal
to ~1 ulp elsewhere.

sparse_ draws its zero pattern from fastinit's Philox words (``random_bits_``), not from
``torch.randperm``: unlike torch's, the mask honours ``generator=`` and ``seed=``.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Optional, Tuple, TypeVar

import numpy as np

from ._fans import shape_of
from .._engine._fills import normal_ as _engine_normal_
from .._engine._fills import random_bits_
from .._engine._seeds import key_and_stream
from .._engine._targets import _dtype_error, dtype_name, is_float_target, is_torch_tensor
from ._torch_compat import is_meta, normal_impl, torch_normal_

T = TypeVar("T")

#: sparse_'s mask uses this stream offset from the stream of its (key, stream) pair.
MASK_STREAM_OFFSET = 1 << 63
_MASK_CHUNK = 1 << 22  # mask words generated per block of columns


def eye_(tensor: T) -> T:
    """Fill the 2-D ``tensor`` with the identity matrix: 1 where i == j, else 0.

    As ``torch.eye(*shape, out=tensor)``: any dtype, non-square and non-contiguous included;
    keeps ``requires_grad``. Other ranks: ValueError("Only tensors with 2 dimensions are
    supported").
    """
    shape = shape_of("eye_", tensor)
    if len(shape) != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    if is_torch_tensor(tensor):
        torch = sys.modules["torch"]
        with torch.no_grad():
            torch.eye(*shape, out=tensor, requires_grad=tensor.requires_grad)
        return tensor
    tensor[...] = 0  # type: ignore[index]
    diag = np.arange(min(shape))
    tensor[diag, diag] = 1  # type: ignore[index]
    return tensor


def _dirac_indices(shape: Tuple[int, ...], groups: int) -> Tuple[list, list]:
    """torch's loop order and its errors, before the tensor is touched."""
    out_chans_per_grp = shape[0] // groups
    min_dim = min(out_chans_per_grp, shape[1])
    rows, cols = [], []
    for g in range(groups):
        for d in range(min_dim):
            rows.append(g * out_chans_per_grp + d)
            cols.append(d)
    if rows:
        for dim, size in enumerate(shape[2:], start=2):
            if size == 0:
                raise IndexError(f"index 0 is out of bounds for dimension {dim} with size 0")
    return rows, cols


def dirac_(tensor: T, groups: int = 1) -> T:
    """Fill the 3-, 4- or 5-D ``tensor`` with the Dirac delta: a convolution identity.

    ``out = shape[0] / groups``; for each group ``g`` and ``d < min(out, shape[1])``:
    ``tensor[g * out + d, d, k0 // 2, ...] = 1``, zeros elsewhere, so a convolution with it
    (``groups`` groups) returns its input's first channels. Errors as torch: "Only tensors with
    3, 4, or 5 dimensions are supported", "dim 0 must be divisible by groups" (ValueError).
    """
    shape = shape_of("dirac_", tensor)
    if len(shape) not in [3, 4, 5]:
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    if shape[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    if is_meta(tensor):
        return tensor
    rows, cols = _dirac_indices(shape, groups)
    centre = tuple(s // 2 for s in shape[2:])
    if is_torch_tensor(tensor):
        torch = sys.modules["torch"]
        with torch.no_grad():
            t = tensor.detach()
            t.zero_()
            if rows:
                index = torch.tensor(rows, device=t.device), torch.tensor(cols, device=t.device)
                t[index + centre] = 1
        return tensor
    tensor[...] = 0  # type: ignore[index]
    if rows:
        tensor[(np.array(rows), np.array(cols)) + centre] = 1  # type: ignore[index]
    return tensor


def _sample(tensor: Any, k: int, m: int, generator: Any, seed: Optional[int]) -> Any:
    """A (m, k) column-major N(0, 1) matrix (the transpose of a (k, m) fill): LAPACK's layout,
    so the QR copies it without transposing."""
    wide = dtype_name(tensor) == "float64"
    if is_torch_tensor(tensor):
        torch = sys.modules["torch"]
        buf = torch.empty((k, m), dtype=torch.float64 if wide else torch.float32,
                          device=tensor.device)
    else:
        buf = np.empty((k, m), dtype=np.float64 if wide else np.float32)
    _engine_normal_(buf, 0.0, 1.0, generator, seed=seed, _fn="orthogonal_")
    return buf.T


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
    tensors are a no-op. Fewer than 2 dims: ValueError, as torch. See the module docstring for
    the QR used.
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
    big, small = max(rows, cols), min(rows, cols)
    if is_torch_tensor(tensor):
        torch = sys.modules["torch"]
        with torch.no_grad():
            q, r = torch.linalg.qr(_sample(tensor, small, big, generator, seed))
            d = torch.diagonal(r)
            ph = torch.where(d < 0, -1.0, 1.0).to(q.dtype)
            ph.mul_(gain)
            q.mul_(ph)  # scales the columns
            if rows < cols:
                q = q.t()
            t = tensor.detach()
            try:
                t.view(rows, cols).copy_(q)
            except RuntimeError:  # not viewable as a matrix (e.g. a permuted 3-D view)
                t.copy_(q.reshape(shape))
        return tensor
    q, r = np.linalg.qr(_sample(tensor, small, big, generator, seed))
    q *= np.where(np.diagonal(r) < 0, -1.0, 1.0).astype(q.dtype) * gain
    if rows < cols:
        q = q.T
    np.copyto(tensor, q.reshape(shape), casting="unsafe")
    return tensor


def _mask_rows(key: int, stream: int, rows: int, c0: int, c1: int, k: int) -> np.ndarray:
    """(k, c1 - c0) row indices: per column c, the rows of the k smallest mask words
    ``word(c * rows + r)``, ties broken by the row (so every k-subset is equally likely)."""
    words = np.empty((c1 - c0, rows), dtype=np.uint32)
    random_bits_(words, seed=key, offset=c0 * rows, stream=stream)
    keys = (words.astype(np.uint64) << np.uint64(32)) | np.arange(rows, dtype=np.uint64)
    if k < rows:
        keys = np.partition(keys, k - 1, axis=1)[:, :k]
    return (keys & np.uint64(0xFFFFFFFF)).astype(np.int64).T


def sparse_(tensor: T, sparsity: float, std: float = 0.01, generator: Any = None, *,
            seed: Optional[int] = None) -> T:
    r"""Fill the 2-D ``tensor`` as a sparse matrix (Martens 2010): N(0, std²) values, then
    ``ceil(sparsity * rows)`` zeros in every column (a uniformly random set of rows).

    The values are those of ``normal_(tensor, 0, std)``. The zero pattern comes from a second
    (key, stream) taken like any fill's (``seed=``: the same key; ``generator=``: a second
    draw from it; neither: a second draw from torch's default generator, or the next stream of
    fastinit's global one for NumPy), on stream ``stream + 2**63``: in column ``c`` the rows
    holding the ``ceil(sparsity * rows)`` smallest Philox words ``c * rows + r`` (ties by row)
    are zeroed, a uniformly random subset. So unlike torch's (``torch.randperm`` on the global
    generator), the mask honours ``generator=`` and ``seed=``. Not 2-D: ValueError, as torch.
    """
    fn = "sparse_"
    shape = shape_of(fn, tensor)
    if len(shape) != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    if is_meta(tensor):
        return tensor
    rows, cols = shape
    num_zeros = math.ceil(sparsity * rows)
    normal_impl(tensor, 0, std, generator, seed, None, None, "sparse_")
    key, stream = key_and_stream(fn, seed, generator, is_torch_tensor(tensor), tensor)
    stream = (stream + MASK_STREAM_OFFSET) % (1 << 64)
    k = len(range(rows)[:num_zeros])  # torch slices a permutation: the same count
    if k == 0 or cols == 0:
        return tensor
    step = max(1, _MASK_CHUNK // rows)
    torch = sys.modules.get("torch") if is_torch_tensor(tensor) else None
    for c0 in range(0, cols, step):
        c1 = min(cols, c0 + step)
        sel = _mask_rows(key, stream, rows, c0, c1, k)
        if torch is None:
            tensor[sel, np.arange(c0, c1)] = 0  # type: ignore[index]
            continue
        with torch.no_grad():
            t = tensor.detach()
            t[torch.from_numpy(sel).to(t.device), torch.arange(c0, c1, device=t.device)] = 0
    return tensor

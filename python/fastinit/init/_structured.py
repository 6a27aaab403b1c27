"""The structured initializers of torch.nn.init: eye_, dirac_, sparse_ (orthogonal_ has its
own module, :mod:`fastinit.init._orthogonal`).

Torch tensors and NumPy arrays; torch's errors (types and texts), meta tensors are no-ops.
eye_ and dirac_ write any dtype torch's ``fill_`` (or NumPy's assignment) can fill, or raise
before writing anything.

sparse_ draws its zero pattern from fastinit's Philox words (``random_bits_``), not from
``torch.randperm``: unlike torch's, the mask honours ``generator=`` and ``seed=``.
"""

from __future__ import annotations

import math
import numbers
import sys
from typing import Any, Optional, Tuple, TypeVar

import numpy as np

from ._fans import shape_of
from ._orthogonal import orthogonal_  # noqa: F401 - diagnostics.lsuv imports it from here
from .._engine._fills import is_complex_number, random_bits_
from .._engine._seeds import key_and_stream
from .._engine._targets import is_torch_tensor
from ._torch_compat import is_meta, normal_impl
from .._engine._torch_ops import traceable

T = TypeVar("T")

#: sparse_'s mask uses this stream offset from the stream of its (key, stream) pair.
MASK_STREAM_OFFSET = 1 << 63
_MASK_CHUNK = 1 << 22  # mask words generated per block of columns


@traceable
def eye_(tensor: T) -> T:
    """Fill the 2-D ``tensor`` with the identity matrix: 1 where i == j, else 0.

    As ``torch.eye(*shape, out=tensor)``: any dtype, non-square and non-contiguous included
    (also the unsigned ones torch.eye cannot fill); keeps ``requires_grad``. Other ranks:
    ValueError("Only tensors with 2 dimensions are supported"). A dtype torch cannot fill
    raises before anything is written.
    """
    shape = shape_of("eye_", tensor, torch_ops_only=True)  # torch.func handles its ops
    if len(shape) != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    if is_torch_tensor(tensor):
        with sys.modules["torch"].no_grad():
            t = tensor.detach()
            # both writes are fill_, one kernel: where the first can fill the dtype, so can
            # the second, so the target is never left half-written (zero_ is another kernel,
            # and it writes bits8, where fill_ then raises)
            t.fill_(0)
            t.diagonal().fill_(1)
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


@traceable
def dirac_(tensor: T, groups: int = 1) -> T:
    """Fill the 3-, 4- or 5-D ``tensor`` with the Dirac delta: a convolution identity.

    ``out = shape[0] / groups``; for each group ``g`` and ``d < min(out, shape[1])``:
    ``tensor[g * out + d, d, k0 // 2, ...] = 1``, zeros elsewhere, so a convolution with it
    (``groups`` groups) returns its input's first channels. Errors as torch: "Only tensors with
    3, 4, or 5 dimensions are supported", "dim 0 must be divisible by groups" (ValueError);
    groups = 0 keeps torch's ZeroDivisionError and groups < 0 (torch: all zeros) is a
    ValueError, both with "groups must be >= 1". Any dtype torch's ``fill_`` fills (the
    unsigned ones included); any other raises before anything is written.
    """
    shape = shape_of("dirac_", tensor, torch_ops_only=True)  # torch.func handles its ops
    if len(shape) not in [3, 4, 5]:
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    if isinstance(groups, numbers.Real) and groups <= 0:  # torch: % 0, or zeros for groups < 0
        error = ZeroDivisionError if groups == 0 else ValueError
        raise error(f"fastinit.dirac_: groups must be >= 1, got {groups}")
    if shape[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    if is_meta(tensor):
        return tensor
    rows, cols = _dirac_indices(shape, groups)
    centre = tuple(s // 2 for s in shape[2:])
    if is_torch_tensor(tensor):
        # as in eye_: one kernel for both writes (index_put fills fewer dtypes); the tensor
        # itself, no detach(), so the view below is one step from its base, as
        # torch.func.functionalize needs
        with sys.modules["torch"].no_grad():
            tensor.fill_(0)
            if rows:  # the ones, (g * out + d, d, *centre), as one strided view: g, then d
                out, st = shape[0] // groups, tensor.stride()
                offset = tensor.storage_offset() + sum(c * s for c, s in zip(centre, st[2:]))
                tensor.as_strided((groups, len(rows) // groups),
                                  (out * st[0], st[0] + st[1]), offset).fill_(1)
        return tensor
    tensor[...] = 0  # type: ignore[index]
    if rows:
        tensor[(np.array(rows), np.array(cols)) + centre] = 1  # type: ignore[index]
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


@traceable
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
    if is_complex_number(sparsity):  # NumPy's would lose the imaginary part with a warning
        raise TypeError(f"fastinit.sparse_: sparsity must be a real number, got {sparsity!r}")
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

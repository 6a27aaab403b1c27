"""Everything a loader relies on in a sharded safetensors checkpoint, checked before values.

A loader trusts the index to list every tensor once, in the file that holds it; each header's
offsets (integers, as safetensors reads them) to tile the data exactly up to the end of the
file; each dtype and shape; the metadata to map strings to strings. ``audit`` checks all of that,
that every file's fastinit metadata (seed, dtype, stream, contract version) agrees with the
others and with the seed asked for, and that no other weight file beside the checkpoint would be
read instead of it. Unreadable input (no index, a header that cannot be parsed) raises
ValueError naming the file, and so does a checkpoint of another stream contract than this
fastinit's (its values cannot be recomputed here); anything else found is a problem line.
"""

from __future__ import annotations

import math
import os
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from ._fs_at import open_regular, read_small
from ._out_dir import INDEX, competing
from ._safetensors_out import DTYPE_CODES
from ._safetensors_read import parse_json, read_header
from .._engine._version import STREAM_VERSION, __version__

_ITEMSIZE = {code: size for code, size in DTYPE_CODES.values()}
_AGREED = ("fastinit_seed", "fastinit_dtype", "fastinit_stream", "fastinit_stream_version")


class Stored(NamedTuple):
    """One tensor as a file holds it."""

    file: str
    path: str
    offset: int  # of its first byte in the file
    dtype: str  # safetensors code
    shape: Tuple[int, ...]


class Audit(NamedTuple):
    tensors: Dict[str, Stored]
    problems: List[str]
    metadata: Dict[str, Optional[str]]  # the first file's value of each of _AGREED
    seed: Optional[int]  # the one asked for, else the files' (None: no valid one there)


def _load_index(out: str) -> Dict[str, str]:
    try:
        fd = open_regular(os.path.join(out, INDEX), follow=True)  # links: as loaders read
    except OSError as e:
        raise ValueError(f"{INDEX}: cannot be read ({e.strerror or e})") from None
    try:
        index = parse_json(read_small(fd, 100 << 20), f"{INDEX}: not JSON")
    finally:
        os.close(fd)
    wmap = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(wmap, dict) or not all(isinstance(v, str) and os.path.basename(v) == v
                                             for v in wmap.values()):
        raise ValueError(f"{INDEX}: has no weight_map of tensor names to file names")
    return index


def _tile(fname: str, head: Dict[str, Any], start: int, size: int,
          problems: List[str]) -> Dict[str, Tuple[str, Tuple[int, ...], int]]:
    """The header's tensors whose entry is sound; the offsets must tile the data exactly."""
    good, spans = {}, []
    for name, e in head.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (b, end) = e["dtype"], tuple(e["shape"]), e["data_offsets"]
            ok = (isinstance(e["shape"], list) and dtype in _ITEMSIZE
                  and all(type(d) is int and d >= 0 for d in shape)
                  and type(b) is int and type(end) is int and 0 <= b
                  and end - b == math.prod(shape) * _ITEMSIZE[dtype])
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            problems.append(f"{fname}: {name}: header entry is not a consistent dtype, shape "
                            f"and data_offsets ({e!r:.100})")
            continue
        spans.append((b, end, name))
        good[name] = (dtype, shape, start + b)
    pos = 0
    for b, end, name in sorted(spans):
        if b != pos:
            problems.append(f"{fname}: {name} starts at data byte {b}, the data before it ends "
                            f"at {pos} (a gap or an overlap)")
        pos = max(pos, end)
    if start + pos != size:
        problems.append(f"{fname}: {size} bytes, its header ends the data at {start + pos}")
    return good


def _metadata(fname: str, meta: Any, problems: List[str]) -> Dict[str, Any]:
    """The header's ``__metadata__``: absent, null, or an object of strings (safetensors
    refuses the file otherwise)."""
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        problems.append(f"{fname}: __metadata__ is a JSON {type(meta).__name__}, not an object "
                        f"of strings (safetensors refuses the file)")
        return {}
    for key, value in meta.items():
        if not isinstance(value, str):
            problems.append(f"{fname}: __metadata__ {key!r} is a JSON {type(value).__name__}, "
                            f"not a string (safetensors refuses the file)")
    return meta


def _same_contract(meta: Dict[str, Any], fname: str) -> None:
    """Refuse files written under another stream contract: their values are not this code's."""
    stored = meta.get("fastinit_stream_version")
    if stored is not None and stored != str(STREAM_VERSION):
        written = meta.get("fastinit_version")
        by = f" (fastinit {written})" if isinstance(written, str) else ""
        raise ValueError(f"{fname}: written with stream contract v{stored}{by}, this is "
                         f"v{STREAM_VERSION} (fastinit {__version__}); its values can only be "
                         f"recomputed by a fastinit of contract v{stored}")


def contract_note(checked: "Audit", problems: List[str]) -> List[str]:
    """``problems``, and when there are some and the files record no contract version, why
    that may be (they were written before fastinit numbered its stream contract)."""
    if problems and checked.metadata.get("fastinit_stream_version") is None:
        return problems + [f"(the files record no stream contract version: written before "
                           f"fastinit {__version__} numbered its contract v1; a development "
                           f"version before it may have given other values)"]
    return problems


def audit(out: str, seed: Optional[int] = None) -> Audit:
    """Check ``out``'s index, headers, sizes and metadata; see the module docstring."""
    from .._engine._seeds import check_seed  # noqa: PLC0415

    index = _load_index(out)
    wmap: Dict[str, str] = index["weight_map"]
    problems: List[str] = []
    tensors: Dict[str, Stored] = {}
    first: Dict[str, Any] = {}
    for fname in sorted(set(wmap.values())):
        path = os.path.join(out, fname)
        if not os.path.isfile(path):
            raise ValueError(f"{fname}: named by {INDEX}, missing")
        head, start = read_header(path)
        meta = _metadata(fname, head.get("__metadata__"), problems)
        _same_contract(meta, fname)
        for key in _AGREED:
            first.setdefault(key, (meta.get(key), fname))
            if meta.get(key) != first[key][0]:
                problems.append(f"{fname}: {key} {meta.get(key)!r}, {first[key][1]} says "
                                f"{first[key][0]!r}")
        for name, (dtype, shape, offset) in _tile(fname, head, start, os.path.getsize(path),
                                                  problems).items():
            if name in tensors:
                problems.append(f"{fname}: {name} is also in {tensors[name].file}")
            elif wmap.get(name) != fname:
                problems.append(f"{fname}: holds {name}, which {INDEX} maps to "
                                f"{wmap.get(name)}")
            else:
                tensors[name] = Stored(fname, path, offset, dtype, shape)
    for name, fname in wmap.items():
        if name not in tensors and not any(p.startswith(f"{fname}: {name}") for p in problems):
            problems.append(f"{INDEX}: maps {name} to {fname}, which does not hold it")
    total = sum(math.prod(t.shape) * _ITEMSIZE[t.dtype] for t in tensors.values())
    stated = index.get("metadata", {}).get("total_size") if isinstance(
        index.get("metadata"), dict) else None
    if stated != total:
        problems.append(f"{INDEX}: total_size {stated!r}, the tensors hold {total} bytes")
    for rival in competing(os.listdir(out)):
        problems.append(f"{rival}: a loader reads it instead of (or beside) {INDEX}, so what "
                        f"loads is not what was verified; move it away")
    stored_seed = first.get("fastinit_seed", (None, ""))[0]
    try:
        parsed = int(stored_seed)
        if not 0 <= parsed < 1 << 64:
            raise ValueError
    except (TypeError, ValueError):
        problems.append(f"{first.get('fastinit_seed', (None, INDEX))[1]}: fastinit_seed "
                        f"{stored_seed!r} is not a seed in [0, 2**64)")
        parsed = None
    if seed is not None:
        seed = check_seed(seed, "verify")
        if parsed is not None and parsed != seed:
            problems.append(f"{first['fastinit_seed'][1]}: fastinit_seed {parsed}, the seed "
                            f"asked for is {seed}")
    return Audit(tensors, problems, {k: v[0] for k, v in first.items()},
                 parsed if seed is None else seed)


def expected_problems(tensors: Dict[str, Stored],
                      want: Dict[str, Tuple[str, Tuple[int, ...]]]) -> List[str]:
    """What differs between the stored tensors and the model's (name -> (code, shape))."""
    out = [f"{t.file}: {k} is not in the model" for k, t in tensors.items() if k not in want]
    for k, (code, shape) in want.items():
        t = tensors.get(k)
        if t is None:
            out.append(f"{k}: missing")
        elif (t.dtype, tuple(t.shape)) != (code, tuple(shape)):
            out.append(f"{t.file}: {k} is {t.dtype} {list(t.shape)}, the model has {code} "
                       f"{list(shape)}")
    return out


__all__ = ["audit", "expected_problems", "contract_note", "Audit", "Stored"]

"""Checkpoints of any model built on the meta device: ``checkpoint_module``, ``verify_module``.

The values are the ones :func:`fastinit.init_module` gives the eagerly built model (its
``reset_parameters`` / transformers ``_init_weights``, name-keyed), bit for bit, but the
model never exists in memory as a whole: :mod:`fastinit.models._module_groups` makes it real a group
of modules at a time (about two groups of ``group_bytes`` in memory), and each group's
tensors are written (or, to verify, compared with the files) while the next group is made.

Written: the ``state_dict`` entries (persistent buffers included), a tied parameter once,
under its first name (as ``save_pretrained`` does). A tensor no init reached would hold
garbage: that is an error, and no file is left behind.
"""

from __future__ import annotations

import copy
import json
import os
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Tuple, Union

from ._checkpoint_audit import audit, expected_problems
from ._transformers_model import transformers_model
from ._safetensors_out import (DTYPE_CODES, Entry, Progress, ShardedWriter, check_count,
                               check_sample, parse_size, plan_shards, raw_bytes)
from ..models._module_groups import run_groups
from .._engine._targets import torch_floating_dtype
from .._engine._torch_required import require_torch
from ..models.module_init import named_tensors


def _dtype_name(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


def checkpoint_module(model: Any, out_dir: Union[str, os.PathLike], dtype: Any = None,
                      seed: int = 0, max_shard_size: Union[int, str] = "5GB", *,
                      group_bytes: int = 256 << 20, workers: int = 2,
                      progress: Optional[bool] = None, overwrite: bool = False
                      ) -> Dict[str, Any]:
    """Write ``model`` (built under ``torch.device("meta")``; left untouched) as sharded
    safetensors in ``out_dir``, its floating tensors in ``dtype`` (default: as they are), with
    the values ``init_module(eager model, seed)`` gives. Returns the index dict. With a
    transformers ``model.config``, ``config.json`` is written too."""
    from .._engine._seeds import check_seed  # noqa: PLC0415

    require_torch("fastinit.checkpoint_module")
    seed = check_seed(seed, "checkpoint")
    check_count(group_bytes, "group_bytes", "fastinit.checkpoint")
    check_count(workers, "workers", "fastinit.checkpoint")
    work = _meta_copy(model, dtype, "fastinit.checkpoint")
    named, keep = _kept(work)
    entries = [Entry(k, tuple(named[k].shape), _dtype_name(named[k].dtype)) for k in keep]
    meta = {"format": "pt", "fastinit_seed": str(seed), "fastinit_source": type(model).__name__}
    with ShardedWriter(os.fspath(out_dir), plan_shards(entries, parse_size(max_shard_size)),
                       meta, _config_text(model, dtype), overwrite=overwrite) as writer, \
            ThreadPoolExecutor(max_workers=workers) as pool:
        bar = Progress(writer.total, sys.stderr.isatty() if progress is None else progress,
                       "fastinit ")
        run_groups(work, named, keep, seed, group_bytes, pool,
                   lambda k, t: _write(writer, bar, k, t), "fastinit.checkpoint")
        index = writer.commit()
        bar.close()
        return index


def verify_module(model: Any, out_dir: Union[str, os.PathLike], seed: Optional[int] = None,
                  sample: Optional[int] = None, *, group_bytes: int = 256 << 20,
                  workers: int = 2) -> List[str]:
    """Recompute every tensor of a checkpoint that :func:`checkpoint_module` wrote from
    ``model`` (the same meta model) and compare bytes; ``sample=N`` compares N tensors picked
    at random (the whole model is still generated: its init code runs in order).
    ``seed=None``: the seed stored in the files. Returns the problems (``name: differs`` /
    ``missing`` / ``unexpected`` / shape or dtype), empty when the checkpoint is exactly what
    the model and seed give."""
    fn = "fastinit.verify_module"
    require_torch(fn)
    check_sample(sample, fn)
    check_count(group_bytes, "group_bytes", fn)
    check_count(workers, "workers", fn)
    checked = audit(os.fspath(out_dir), seed)
    bad = list(checked.problems)
    stored = checked.tensors
    seed = checked.seed
    if seed is None:
        raise ValueError(f"{fn}: the files hold no valid fastinit_seed; pass seed=")
    codes = {t.dtype for t in stored.values()} & {"F64", "F32", "BF16", "F16"}
    by_code = {v[0]: k for k, v in DTYPE_CODES.items()}
    dtype = by_code[codes.pop()] if len(codes) == 1 else None
    work = _meta_copy(model, dtype, fn)
    named, keep = _kept(work)
    shape_bad = expected_problems(stored, {k: (DTYPE_CODES[_dtype_name(named[k].dtype)][0],
                                               tuple(named[k].shape)) for k in keep})
    bad += shape_bad
    check = [k for k in keep if k in stored and not any(f" {k} is " in b for b in shape_bad)]
    if sample is not None and sample < len(check):
        chosen = set(random.Random(0).sample(check, sample))
        check = [k for k in check if k in chosen]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        run_groups(work, named, check, seed, group_bytes, pool,
                   lambda k, t: _compare(stored[k].path, stored[k].offset, k, t, bad), fn)
    return sorted(bad)  # the writer threads finish in any order


def verify_transformers(out_dir: Union[str, os.PathLike], config: Dict[str, Any],
                        seed: Optional[int] = None, sample: Optional[int] = None) -> List[str]:
    """:func:`verify_module` for a transformers model's checkpoint, the meta model rebuilt from
    the directory's ``config.json`` (``config``, as :func:`fastinit.verify` loaded it; its
    ``architectures[0]`` is a class transformers exports) as ``from_pretrained`` builds it."""
    out = os.fspath(out_dir)
    names = config.get("architectures") or []
    arch = names[0] if len(names) == 1 and isinstance(names[0], str) else repr(names)
    model = transformers_model(config, arch, "fastinit.verify",
                               f"; {out} holds a model only transformers can rebuild from its "
                               f"config.json (or call fastinit.verify_module(meta_model, out))")
    return verify_module(model, out, seed=seed, sample=sample)


def _kept(work: Any) -> Tuple[Dict[str, Any], List[str]]:
    """Every tensor by name (a tied one once), and the state_dict names among them."""
    named = named_tensors(work)
    return named, [k for k in work.state_dict(keep_vars=True) if k in named]


def _compare(path: str, offset: int, name: str, t: Any, bad: List[str]) -> None:
    want = raw_bytes(t)
    with open(path, "rb") as f:
        f.seek(offset)
        got = f.read(want.nbytes)
    if got != want.tobytes():
        bad.append(f"{name}: differs")


def _meta_copy(model: Any, dtype: Any, fn: str) -> Any:
    """A deep copy of the meta model, floating tensors in ``dtype``; errors for bad input."""
    import torch  # noqa: PLC0415

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{fn}: expected a torch.nn.Module, got {type(model).__name__}")
    for n, t in named_tensors(model).items():
        if t.device.type != "meta":
            raise ValueError(f"{fn}: the model must be built on the meta device (under "
                             f"torch.device('meta')); {n} is on {t.device}")
        if _dtype_name(t.dtype) not in DTYPE_CODES:
            raise ValueError(f"{fn}: {n} has dtype {t.dtype}; safetensors files hold "
                             f"{', '.join(DTYPE_CODES)}")
    dtype = torch_floating_dtype(dtype, fn)
    if dtype is not None and _dtype_name(dtype) not in DTYPE_CODES:
        raise ValueError(f"{fn}: dtype must be a floating dtype safetensors holds, got {dtype!r}")
    work = copy.deepcopy(model)
    return work.to(dtype=dtype) if dtype is not None else work


def _write(writer: ShardedWriter, bar: Progress, name: str, t: Any) -> None:
    data = raw_bytes(t)
    writer.write(name, data)
    bar.add(data.nbytes)


def _config_text(model: Any, dtype: Any) -> Optional[str]:
    """transformers models: their config as save_pretrained writes it (dtype set)."""
    config = getattr(model, "config", None)
    if config is None or not callable(getattr(config, "to_dict", None)):
        return None
    d = config.to_dict()
    if not d.get("architectures"):
        d["architectures"] = [type(model).__name__]
    if dtype is not None:
        d["torch_dtype"] = _dtype_name(dtype)
        if "dtype" in d:
            d["dtype"] = _dtype_name(dtype)
    return json.dumps(d, indent=2, sort_keys=True, default=str) + "\n"


__all__ = ["checkpoint_module", "verify_module", "verify_transformers"]

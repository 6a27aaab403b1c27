"""Checkpoints of any model: ``checkpoint_module``, ``verify_module``.

The values are the ones :func:`fastinit.materialize` gives: the model's construction, recorded
on the meta device and replayed with name-keyed streams (:mod:`fastinit.models._construction`),
bit for bit; but the model never exists in memory as a whole:
:mod:`fastinit.models._module_groups` makes it real a group of modules at a time (about two
groups of ``group_bytes`` in memory), and each group's tensors are written (or, to verify,
compared with the files) while the next group is made. The construction comes from a build
function, or, for a transformers model built on meta, from its class and config; a model of
torch.nn modules only runs its init code (which is its construction); other meta models are
refused, since their ``__init__`` may set values nothing else can give again.

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
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Tuple, Union

from ._checkpoint_audit import audit, expected_problems
from ._transformers_model import transformers_model
from ._safetensors_out import (DTYPE_CODES, Entry, Progress, ShardedWriter, check_count,
                               check_sample, parse_size, plan_shards, raw_bytes)
from ..models._construction import construction_of
from ..models._module_groups import run_groups
from .._engine._targets import torch_floating_dtype
from .._engine._torch_required import require_torch
from ..models._init_code import named_tensors


def _dtype_name(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


def checkpoint_module(model: Any, out_dir: Union[str, os.PathLike], dtype: Any = None,
                      seed: int = 0, max_shard_size: Union[int, str] = "5GB", *,
                      group_bytes: int = 256 << 20, workers: int = 2,
                      progress: Optional[bool] = None, overwrite: bool = False
                      ) -> Dict[str, Any]:
    """Write a model as sharded safetensors in ``out_dir``, its floating tensors in ``dtype``
    (default: as they are), with the values ``materialize(build, seed=seed)`` gives. ``model``:
    the function that builds it (``lambda: MyModel(cfg)``; its construction is recorded on
    meta and replayed), or a model built on meta (a transformers model: rebuilt from its
    config; a model of torch.nn modules only: its init code; others are refused). Returns the
    index dict. With a transformers ``config``, ``config.json`` is written too."""
    from .._engine._seeds import check_seed  # noqa: PLC0415

    fn = "fastinit.checkpoint"
    require_torch("fastinit.checkpoint_module")
    seed = check_seed(seed, "checkpoint")
    check_count(group_bytes, "group_bytes", fn)
    check_count(workers, "workers", fn)
    con, work = _source(model, dtype, fn)
    named, keep = _kept(work)
    entries = [Entry(k, tuple(named[k].shape), _dtype_name(named[k].dtype)) for k in keep]
    meta = {"format": "pt", "fastinit_seed": str(seed), "fastinit_source": type(work).__name__}
    with ShardedWriter(os.fspath(out_dir), plan_shards(entries, parse_size(max_shard_size)),
                       meta, _config_text(work, dtype), overwrite=overwrite) as writer, \
            ThreadPoolExecutor(max_workers=workers) as pool:
        bar = Progress(writer.total, sys.stderr.isatty() if progress is None else progress,
                       "fastinit ")
        fell_back = run_groups(work, named, keep, seed, group_bytes, pool,
                               lambda k, t: _write(writer, bar, k, t), fn, con)
        index = writer.commit()
        bar.close()
    if fell_back:
        warnings.warn(f"{fn}: {', '.join(fell_back[:8])}{' ...' if len(fell_back) > 8 else ''} "
                      f"got their values from their modules' init code (reset_parameters), not "
                      f"from replaying their construction", stacklevel=2)
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
    con, work = _source(model, dtype, fn)
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
                   lambda k, t: _compare(stored[k].path, stored[k].offset, k, t, bad), fn, con)
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


def _on_meta(model: Any, fn: str) -> bool:
    for n, t in named_tensors(model).items():
        if t.device.type != "meta":
            raise ValueError(f"{fn}: the model must be built on the meta device (under "
                             f"torch.device('meta')), or passed as the function that builds "
                             f"it; {n} is on {t.device}")
    return True


def _source(model: Any, dtype: Any, fn: str) -> Tuple[Any, Any]:
    """(construction or None, the meta model to make real group by group, its floating
    tensors in ``dtype``); errors for bad input."""
    import torch  # noqa: PLC0415

    given = [model] if isinstance(model, torch.nn.Module) else []
    con = construction_of(model, fn) if not given or _on_meta(model, fn) else None
    work = con.model if con is not None else model
    for n, t in named_tensors(work).items():
        if t.device.type != "meta":
            raise ValueError(f"{fn}: the model must be built on the meta device (under "
                             f"torch.device('meta')); {n} is on {t.device}")
        if _dtype_name(t.dtype) not in DTYPE_CODES:
            raise ValueError(f"{fn}: {n} has dtype {t.dtype}; safetensors files hold "
                             f"{', '.join(DTYPE_CODES)}")
    dtype = torch_floating_dtype(dtype, fn)
    if dtype is not None and _dtype_name(dtype) not in DTYPE_CODES:
        raise ValueError(f"{fn}: dtype must be a floating dtype safetensors holds, got {dtype!r}")
    if con is None:
        work = copy.deepcopy(model)  # the caller's model stays as it is
    return con, work.to(dtype=dtype) if dtype is not None else work


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

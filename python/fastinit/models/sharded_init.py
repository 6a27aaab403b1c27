"""``init_sharded``: a sharded model gets, on every rank, its blocks of the unsharded values.

The user's model was built on meta, sharded (FSDP2 ``fully_shard``, tensor parallel
``parallelize_module``, both) and given memory (``to_empty``). Each rank records the model's
construction on meta (:mod:`fastinit.models._construction`) and makes it real a group of
modules at a time (:func:`fastinit.models._module_groups.run_groups`): every tensor, whole, with
the bits ``materialize(build, seed)`` gives it. Of each whole tensor the rank copies exactly
the blocks its shard holds (:func:`fastinit.models._dtensor.local_blocks`; a plain tensor, a
buffer such as RoPE's ``inv_freq``: the whole), and the group goes back to meta. No
communication: every rank computes every tensor, so gathered, the model equals the unsharded
one bit for bit whatever the mesh, and the model's own init law (padding rows, tied weights,
scaled embeddings, transformers' ``_init_weights``) comes from the replay, never from running
the model's init code on DTensors.
"""

from __future__ import annotations

import copy
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Tuple

from ._construction import Construction, record, take_dtypes
from ._dtensor import _is_dtensor, local_blocks
from ._init_code import _is_pretrained, named_tensors
from ._module_groups import run_groups
from .._engine._seeds import check_seed
from .._engine._torch_required import require_torch

_FN = "fastinit.init_sharded"
#: wrappers that add a component to parameter names (activation checkpointing, torch.compile);
#: torch's distributed state_dict leaves them out of names the same way
_WRAPPER_NAMES = ("_checkpoint_wrapped_module", "_orig_mod")

Block = Tuple[Any, Tuple[int, ...]]  # (view of a rank's local tensor, its global offset)


class _Target:
    """One tensor object of the sharded model: its names, global shape, dtype and blocks."""

    def __init__(self, name: str, t: Any) -> None:
        self.names = [name]
        self.tensor = t
        self.shape = tuple(t.shape)  # a DTensor's is the global shape
        self.dtype = t.dtype
        if t.device.type == "meta":
            raise ValueError(f"{_FN}: {name} is on the meta device; give the sharded model "
                             f"memory first (model.to_empty(device=...))")
        if _is_dtensor(t):
            self.blocks: List[Block] = local_blocks(t)[2]
        else:
            self.blocks = [(t, (0,) * t.dim())]

    def write(self, full: Any) -> None:
        for view, offset in self.blocks:
            view.copy_(full[tuple(slice(o, o + n) for o, n in zip(offset, view.shape))])


def init_sharded(model: Any, build: Optional[Callable[[], Any]] = None, seed: int = 0, *,
                 group_bytes: int = 256 << 20, workers: int = 2, warn: bool = True
                 ) -> List[str]:
    """Give every tensor of the sharded ``model`` exactly its rank's block(s) of the values
    ``fastinit.materialize(build, seed=seed)`` gives the unsharded model (each floating tensor
    in the dtype ``model`` holds it in), bit for bit, with no communication.

    ``model``: built on meta from ``build``, then sharded (FSDP2 ``fully_shard``, tensor
    parallel ``parallelize_module``, or both; Shard, Replicate and FSDP2-over-TP placements)
    and given memory (``to_empty``); its parameters are DTensors or plain tensors, its buffers
    plain (filled whole). ``build``: the function that builds the unsharded model (``lambda:
    LlamaForCausalLM(config)``); its construction, recorded on meta, is the source of every
    value: the model's own init law, padding rows zeroed, tied weights holding the tie
    source's values, computed buffers (RoPE ``inv_freq``), transformers' ``_init_weights``.
    ``None``: a transformers model's class rebuilt from ``model.config``. The model's names
    (wrappers' ``_checkpoint_wrapped_module.`` / ``_orig_mod.`` left out) and global shapes
    must be the construction's, else a ValueError naming the differences; a tie the
    construction has may be kept or broken (each copy gets the values), one it lacks is an
    error.

    Every rank computes every tensor whole, a group of modules at a time (at most
    ``group_bytes`` each; two groups in flight, ``workers`` threads copying blocks out), so a
    rank's time is about one unsharded init on the CPU and its memory about two groups above
    its shards. Returns the tensors whose construction could not be replayed and that got their
    values from their modules' own init code instead (warned about when ``warn``).
    """
    torch = require_torch(_FN)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{_FN}: model must be a torch.nn.Module, got {type(model).__name__}")
    if build is not None and (not callable(build) or isinstance(build, torch.nn.Module)):
        raise TypeError(f"{_FN}: build must be the function that builds the unsharded model "
                        f"(lambda: MyModel(cfg)), got {type(build).__name__}")
    seed = check_seed(seed, "init_sharded")
    for value, what in ((group_bytes, "group_bytes"), (workers, "workers")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{_FN}: {what} must be an int >= 1, got {value!r}")
    targets = _targets(model)
    con = record(build if build is not None else _rebuild(model), _FN)
    owners = _match(con, targets)
    work = con.model
    take_dtypes(work, {name: t.dtype for t in targets for name in t.names})
    named = named_tensors(work)

    def job(name: str, full: Any) -> None:
        with torch.no_grad():
            for target in owners[name]:
                target.write(full)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        fell_back = run_groups(work, named, list(named), seed, group_bytes, pool, job, _FN, con)
    if fell_back and warn:
        warnings.warn(f"{_FN}: {', '.join(fell_back[:8])}{' ...' if len(fell_back) > 8 else ''}"
                      f" got their values from their modules' init code (reset_parameters), "
                      f"not from replaying their construction", stacklevel=2)
    return fell_back


def _canonical(name: str) -> str:
    return ".".join(p for p in name.split(".") if p not in _WRAPPER_NAMES)


def _targets(model: Any) -> List[_Target]:
    """The sharded model's tensor objects (a tied one once, with all its names)."""
    by_id: Dict[int, _Target] = {}
    for name, t in list(model.named_parameters(remove_duplicate=False)) + \
            list(model.named_buffers(remove_duplicate=False)):
        name = _canonical(name)
        if id(t) in by_id:
            by_id[id(t)].names.append(name)
        else:
            by_id[id(t)] = _Target(name, t)
    return list(by_id.values())


def _rebuild(model: Any) -> Callable[[], Any]:
    """build=None: a transformers model's own class (not FSDP2's subclass of it), from its
    config."""
    try:
        from torch.distributed.fsdp import FSDPModule  # noqa: PLC0415
    except ImportError:  # torch without distributed: no FSDP2 subclass to look through
        cls = type(model)
    else:
        cls = next(c for c in type(model).__mro__ if not issubclass(c, FSDPModule))
    config = getattr(model, "config", None)
    if not (_is_pretrained(model) and config is not None):
        raise ValueError(f"{_FN}: pass the function that builds the unsharded model (build=lambda:"
                         f" {cls.__name__}(...)); only a transformers model can be rebuilt from "
                         f"its config")
    config = copy.deepcopy(config)
    return lambda: cls(config)


def _match(con: Construction, targets: List[_Target]) -> Dict[str, List[_Target]]:
    """Construction name (a tied tensor's first) -> the sharded model's tensors that take its
    values; a ValueError naming every difference of names, global shapes or ties."""
    model = con.model
    first: Dict[str, str] = {}  # every name of the construction -> its tensor's first name
    shapes: Dict[str, Tuple[int, ...]] = {}
    for named in (model.named_parameters(remove_duplicate=False),
                  model.named_buffers(remove_duplicate=False)):
        seen: Dict[int, str] = {}
        for name, t in named:
            first[name] = seen.setdefault(id(t), name)
            shapes[name] = tuple(t.shape)
    given = {name: t for t in targets for name in t.names}
    problems = [f"{n} is not in the model built by build()" for n in given if n not in first]
    problems += [f"{n} is missing" for n in first if n not in given]
    problems += [f"{n} has global shape {list(given[n].shape)}, build() gives {list(shapes[n])}"
                 for n in given if n in shapes and given[n].shape != shapes[n]]
    problems += [f"{' and '.join(t.names)} share one tensor, build() gives them two"
                 for t in targets if len({first.get(n) for n in t.names}) > 1]
    if problems:
        raise ValueError(f"{_FN}: the sharded model does not hold the tensors of the model "
                         f"build() makes: {'; '.join(problems[:8])}"
                         f"{f' (and {len(problems) - 8} more)' if len(problems) > 8 else ''}")
    owners: Dict[str, List[_Target]] = {}
    for t in targets:
        owners.setdefault(first[t.names[0]], []).append(t)
    return owners


__all__ = ["init_sharded"]

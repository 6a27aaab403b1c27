"""``materialize``: build a model on the meta device, allocate it, replay its construction.

1. ``build()`` runs on the meta device and its construction is recorded
   (:mod:`fastinit.models._construction`): every init call on a meta tensor, every deep copy
   of one, every other aten op on meta tensors, the data of tensors made from literals.
2. ``model.to_empty(device=device)`` (and ``.to(dtype)`` for floating tensors when ``dtype``
   is given) allocates uninitialized memory.
3. :func:`fastinit.models._replay.make_real` replays the construction on the real memory with
   name-keyed streams: a tensor whose history holds only init calls gets them again, in
   order (the values ``init_module(eager_model, seed)`` gives it where the model's init code
   is its construction, bit for bit); one whose value was computed (``1e-6 * torch.ones(n)``,
   a RoPE ``inv_freq``, an in-place rescale after an init) has its history run again on the
   device; transformers models then run ``_init_weights``.

What cannot be replayed (a random op with no keyed fastinit version, a tensor nothing wrote)
gets its module's own init code when ``fallback_init`` (the default), with a warning; whatever
that leaves is a ValueError: never ``to_empty`` memory.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

from ._construction import record
from ._init_code import _retie, _ties, named_tensors
from ._replay import make_real
from .._engine._targets import torch_floating_dtype
from .._engine._torch_required import require_torch
from .._engine.streams import NameKeys


def materialize(build: Callable[[], Any], device: Any = "cpu", dtype: Any = None,
                seed: int = 0, *, warn: bool = True, fallback_init: bool = True,
                return_untouched: bool = False) -> Any:
    """Build ``build()`` on the meta device, allocate it on ``device`` (in ``dtype`` for its
    floating tensors when given) and replay its recorded inits with name-keyed streams.

    Returns the model (and, with ``return_untouched=True``, ``(model, names)``: the tensors
    that got their values from ``fallback_init`` rather than from the replay). Tensors set by
    init calls equal, bit for bit, what ``init_module(eagerly built model, seed)`` gives;
    tensors computed by ops during the build get those ops again (exact where no randomness is
    involved). Raises ValueError for a tensor neither the replay nor (``fallback_init``) its
    module's init code can give values.
    """
    torch = require_torch("fastinit.materialize")

    fn = "fastinit.materialize"
    if not callable(build) or isinstance(build, torch.nn.Module):
        raise TypeError(f"{fn}: build must be a function that builds the model "
                        f"(lambda: MyModel()), got {type(build).__name__}")
    dtype = torch_floating_dtype(dtype, fn)
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as e:
        raise ValueError(f"{fn}: device {device!r} is not a torch device ({e})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{fn}: device {device} asked for, but torch has no usable CUDA "
                           f"device")
    con = record(build, fn)
    model = con.model
    ties = _ties(model)
    if dtype is not None:  # on meta: costs nothing; Module.to casts floating tensors only
        model.to(dtype=dtype)
    model.to_empty(device=device)
    _retie(model, ties)
    named = named_tensors(model)
    untouched = make_real(con, named, NameKeys(seed, named), device, None, fallback_init, fn)
    if untouched and warn:
        warnings.warn(f"{fn}: {', '.join(untouched[:8])}{' ...' if len(untouched) > 8 else ''}"
                      f" got their values from their modules' init code (reset_parameters), "
                      f"not from replaying their construction", stacklevel=2)
    return (model, untouched) if return_untouched else model


__all__ = ["materialize"]

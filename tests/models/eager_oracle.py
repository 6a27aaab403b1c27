"""The outside oracle for whole models: the model's own eager construction by plain torch.

fastinit's whole-model paths must give every parameter and buffer what constructing the model
eagerly gives, in distribution (its values are keyed by name, so they differ bit for bit):
constants equal exactly (zero biases, unit norms, zeroed padding rows, rotary buffers), random
tensors with the std within 20% (or sampling noise on small tensors) and the mean within a few
standard errors, nothing non-finite, and nothing left unreached. The paths: init_module (built,
then re-initialized), materialize (built on meta, replayed) and checkpoint_module (written from
the build's construction, read back from the files). And the same seed gives the same bits
whatever torch's global generator holds. Comparing fastinit with itself could not catch a
wrong order of inits; eager construction can.

This rule is written here again, apart from fastinit's own law check (models/_law.py), so a
mistake in one does not hide in the other.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Dict, Iterable

import pytest

torch = pytest.importorskip("torch")
import fastinit  # noqa: E402

PATHS = ["init_module", "materialize", "checkpoint"]
OTHER_GLOBAL_SEED = 12345


def _checkpointed(build: Callable[[], Any], seed: int, out_dir: Any) -> Dict[str, Any]:
    """build()'s construction, written by checkpoint_module, read back from the files, and
    verified by verify_module."""
    safetensors_torch = pytest.importorskip("safetensors.torch")
    fastinit.checkpoint_module(build, out_dir, seed=seed, progress=False)
    got: Dict[str, Any] = {}
    for f in sorted(out_dir.glob("*.safetensors")):
        got.update(safetensors_torch.load_file(str(f)))
    assert fastinit.verify_module(build, out_dir) == []
    return got


def _tensors(model: Any) -> Dict[str, Any]:
    return {k: v.detach() for k, v in (dict(model.named_parameters())
                                      | dict(model.named_buffers())).items()}


def ours(build: Callable[[], Any], how: str, seed: int, global_seed: int, out_dir: Any,
         left: Iterable[str] = (), refused: bool = False) -> Dict[str, Any]:
    """What ``how`` gives, with torch's global generator at ``global_seed`` before the build.
    init_module: ``left`` is what it must return; ``refused``: it must refuse to change the
    law of the constructed values (ValueError, nothing written), and then keep them when told
    (``keep_constructed``)."""
    torch.manual_seed(global_seed)
    if how == "init_module":
        model = build()
        if refused:
            before = {k: v.clone() for k, v in _tensors(model).items()}
            with pytest.raises(ValueError, match=r"would change the law of \d+ parameter"):
                fastinit.init_module(model, seed=seed)
            assert all(torch.equal(v, before[k]) for k, v in _tensors(model).items()), \
                "a refused init_module wrote something"
            kept = fastinit.init_module(model, seed=seed, keep_constructed=True, warn=False)
            assert kept and set(left) <= set(kept)
            return {k: v for k, v in _tensors(model).items() if k not in kept}
        assert sorted(fastinit.init_module(model, seed=seed, warn=False)) == sorted(left)
        return {k: v for k, v in _tensors(model).items() if k not in set(left)}
    if how == "materialize":
        model, fell_back = fastinit.materialize(build, seed=seed, return_untouched=True)
        assert fell_back == []
        return _tensors(model)
    out = out_dir / f"g{global_seed}"
    return _checkpointed(build, seed, out)


def assert_like_eager(build: Callable[[], Any], seed: int = 3, how: str = "init_module",
                      out_dir: Any = None, left: Iterable[str] = (),
                      refused: bool = False) -> None:
    """Build plainly (the oracle), and again by fastinit's ``how``, twice under different
    global seeds: the two equal bit for bit, and each equal to eager in distribution."""
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eager = _tensors(build())
        got = ours(build, how, seed + 1, seed, out_dir, left, refused)
        again = ours(build, how, seed + 1, OTHER_GLOBAL_SEED, out_dir, left, refused)
    if refused:  # what keep_constructed keeps can differ near the law check's tolerance
        got = {k: v for k, v in got.items() if k in again}
    assert got.keys() <= again.keys()
    moved = [k for k in got if not torch.equal(got[k], again[k])]
    assert moved == [], f"the global generator moved {moved[:5]}"
    if how == "checkpoint" or refused:
        assert got and set(got) <= set(eager)
    else:
        assert set(got) == set(eager) - (set(left) if how == "init_module" else set())
    for name, g in got.items():
        assert_like(name, eager[name], g)


def assert_like(name: str, e: Any, g: Any) -> None:
    """One tensor: ``g`` follows the law of ``e`` (see the module docstring)."""
    if not e.is_floating_point():
        assert torch.equal(g, e), name
        return
    assert torch.isfinite(g).all(), f"{name}: non-finite values"
    e64, g64 = e.double().flatten(), g.double().flatten()
    if e64.numel() == 0:
        return
    if torch.all(e64 == e64[0]):  # a constant: ours must be the same constant
        assert torch.equal(g.to(e.dtype), e), f"{name}: expected the constant {e64[0].item()}"
        return
    if e.dim() == 2:  # rows the model zeroes (padding rows) stay zero
        zero_rows = (e == 0).all(dim=1)
        assert torch.equal((g == 0).all(dim=1), zero_rows), f"{name}: zero rows differ"
    n = e64.numel()
    se, sg = e64.std().item(), g64.std().item()
    tol = max(0.2, 4.0 / math.sqrt(n))  # two samples: the ratio of stds has SE ~ 1/sqrt(n)
    assert abs(sg / se - 1) <= tol, f"{name}: std {sg:.4g}, eager {se:.4g}"
    assert abs(g64.mean().item() - e64.mean().item()) <= 6 * se / math.sqrt(n) + 1e-12, \
        f"{name}: mean {g64.mean().item():.4g}, eager {e64.mean().item():.4g}"

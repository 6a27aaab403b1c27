"""materialize replays what construction computes, or refuses: never uninitialized memory.

The meta build is logged at the dispatch level; a parameter or buffer whose value comes from
ops (not only from init calls) is computed again from the log on the real device. The oracle
is the same module built eagerly by plain torch.
"""

from __future__ import annotations

import math
import warnings

import pytest

torch = pytest.importorskip("torch")
import fastinit  # noqa: E402

nn = torch.nn


class Computed(nn.Module):
    """Values made in __init__ by ops, as real models do (timm's layer scale, RoPE tables,
    a hand-written truncated normal)."""

    def __init__(self) -> None:
        super().__init__()
        self.gamma = nn.Parameter(1e-6 * torch.ones(64))
        inv = 1.0 / (10000 ** (torch.arange(0, 32, 2, dtype=torch.float32) / 32))
        self.register_buffer("inv_freq", inv, persistent=False)
        self.register_buffer("positions", torch.arange(16).expand(1, -1))
        w = torch.empty(256, 128)
        w.uniform_(-0.9, 0.9)  # timm's trunc_normal_: uniform, then erfinv, scale, clamp
        w.erfinv_().mul_(0.02 * math.sqrt(2.0)).clamp_(-0.04, 0.04)
        self.w = nn.Parameter(w)
        self.noise = nn.Parameter(torch.randn(128, 64) * 0.05)
        self.lin = nn.Linear(64, 32)
        with torch.no_grad():
            self.lin.weight.mul_(0.5)  # an in-place rescale after the module's own init


def _eager_and_ours(build, **kw):
    torch.manual_seed(0)
    eager = build()
    ours = fastinit.materialize(build, seed=1, **kw)
    return dict(eager.named_parameters()) | dict(eager.named_buffers()), \
        dict(ours.named_parameters()) | dict(ours.named_buffers())


def test_values_computed_in_init_are_replayed():
    want, got = _eager_and_ours(Computed)
    assert set(want) == set(got)
    for name in ("gamma", "inv_freq", "positions"):  # no randomness: exactly eager's values
        assert torch.equal(got[name], want[name]), name
    w = got["w"].detach()
    assert torch.isfinite(w).all() and w.abs().max() <= 0.04
    assert w.std().item() == pytest.approx(want["w"].std().item(), rel=0.05)
    assert got["noise"].std().item() == pytest.approx(0.05, rel=0.05)
    bound = 0.5 / math.sqrt(64)  # kaiming_uniform(a=sqrt 5) halved
    assert got["lin.weight"].abs().max().item() <= bound
    assert got["lin.weight"].std().item() == pytest.approx(
        want["lin.weight"].std().item(), rel=0.1)


def test_replay_is_keyed_by_name():
    a = fastinit.materialize(Computed, seed=4)
    b = fastinit.materialize(Computed, seed=4)
    c = fastinit.materialize(Computed, seed=5)
    for name in ("w", "noise", "lin.weight"):
        x, y, z = (m.get_parameter(name) for m in (a, b, c))
        assert torch.equal(x, y), name
        assert not torch.equal(x, z), name


def test_replay_in_bfloat16_rounds_the_computed_values():
    m = fastinit.materialize(Computed, seed=0, dtype=torch.bfloat16)
    assert m.gamma.dtype == torch.bfloat16
    assert torch.equal(m.gamma, torch.full((64,), 1e-6).to(torch.bfloat16))
    assert torch.isfinite(m.w).all() and m.w.float().abs().max() <= 0.04


class Multinomial(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mask = nn.Parameter(torch.multinomial(torch.ones(32), 8).float())


class Literal(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.tensor([1.0, 2.0, 3.0]))  # no op carries the data
        self.register_buffer("scale", torch.as_tensor(2.5) * torch.ones(2))


def test_data_made_into_tensors_on_meta_is_kept():
    """torch.tensor(data) on the meta device passes through no aten op (CLIP's logit_scale is
    nn.Parameter(torch.tensor(2.6592))): the call is seen and its data replayed."""
    m = fastinit.materialize(Literal, dtype=torch.bfloat16)
    assert torch.equal(m.table, torch.tensor([1.0, 2.0, 3.0], dtype=torch.bfloat16))
    assert torch.equal(m.scale, torch.full((2,), 2.5, dtype=torch.bfloat16))


class Unwritten(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.empty(3))  # nothing ever gives it values


class LiteralOverwritten(Literal):
    def __init__(self) -> None:
        super().__init__()
        with torch.no_grad():
            self.table.copy_(torch.arange(3.0) + 0.5)  # the literal is dead: nothing to refuse


def test_an_overwritten_unreplayable_value_is_not_needed():
    m = fastinit.materialize(LiteralOverwritten)
    assert torch.equal(m.table, torch.tensor([0.5, 1.5, 2.5]))


class UnwrittenWithReset(Unwritten):
    def reset_parameters(self) -> None:
        nn.init.ones_(self.table)


@pytest.mark.parametrize("build, why", [
    (Multinomial, "mask: aten.multinomial draws from torch's generator and has no keyed "
                  "version"),
    (Unwritten, "table: no init call or op gave it values while it was built"),
])
def test_what_cannot_be_replayed_is_refused(build, why):
    with pytest.raises(ValueError, match=why.replace("(", r"\(").replace(")", r"\)")):
        fastinit.materialize(build)


def test_fallback_runs_the_owners_init_code_and_says_so():
    with pytest.warns(UserWarning, match="table got their values from their modules' init"):
        m, fell_back = fastinit.materialize(UnwrittenWithReset, return_untouched=True)
    assert fell_back == ["table"] and torch.equal(m.table, torch.ones(3))
    with pytest.raises(ValueError, match="table"):
        fastinit.materialize(UnwrittenWithReset, fallback_init=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fastinit.materialize(UnwrittenWithReset, warn=False)
